"""Numbers as text, and the report's plain-language sentences (optimism, verdicts).

Sentences are built from numbers only; the templates escape every string they print.
"""

from __future__ import annotations

import math

#: Significance level of the verdicts.
ALPHA = 0.05

_LABELS = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "f1": "F1",
    "f1_macro": "F1 (macro average)",
    "mcc": "Matthews correlation",
    "kappa": "Cohen's kappa",
    "roc_auc": "AUC (ROC)",
    "average_precision": "Average precision",
    "brier": "Brier score (lower is better)",
    "ece": "Calibration error, ECE (lower is better)",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "ppv": "Positive predictive value",
    "npv": "Negative predictive value",
}


def metric_label(name: str, positive: str | None) -> str:
    """A reader's name for a metric; the positive class is named where it matters."""
    label = _LABELS.get(name, name.replace("_", " "))
    if positive is not None and name in ("f1", "sensitivity", "ppv"):
        return f"{label} ({positive})"
    if positive is None and name == "f1":
        return "F1 (macro average)"
    if positive is None and name == "roc_auc":
        return "AUC (one-vs-rest, macro)"
    return label


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def num(value, digits: int = 3) -> str:
    """``0.942``; ``n/a`` for a value that is undefined on these images."""
    # Adding 0.0 turns the -0.0 of a value that rounds to zero into 0.0.
    return f"{round(value, digits) + 0.0:.{digits}f}" if _finite(value) else "n/a"


def pm(mean, std, digits: int = 3) -> str:
    """``0.942 ± 0.030`` (the spread over folds), or the mean alone without a spread."""
    if not _finite(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if _finite(std) else f"{mean:.{digits}f}"


def interval(ci: dict | None, digits: int = 3) -> str:
    """``0.901–0.970``, or an empty string when there is no interval."""
    if not ci or not (_finite(ci.get("low")) and _finite(ci.get("high"))):
        return ""
    return f"{ci['low']:.{digits}f}–{ci['high']:.{digits}f}"


def pvalue(p) -> str:
    if not _finite(p):
        return "n/a"
    if p < 0.001:
        return "p < 0.001"
    text = f"{p:.3f}"
    # Three decimals would print 0.0496 and 0.0504 alike; near the threshold show four.
    return f"p = {p:.4f}" if text == f"{ALPHA:.3f}" else f"p = {text}"


def seconds(value) -> str:
    """``0.37 s``, ``13.1 s``, ``2 min 05 s``, ``1 h 02 min``."""
    if not _finite(value):
        return "n/a"
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def integer(value) -> str:
    return f"{int(value):,}" if _finite(value) else "n/a"


def fraction(value) -> str:
    """``12.5 %`` for 0.125."""
    return f"{100 * value:g} %" if _finite(value) else "n/a"


# --------------------------------------------------------------------------- sentences


def optimism_sentence(optimism: dict) -> str:
    """What choosing the epoch on the test images would have claimed, in plain words."""
    best, chosen, last = (
        optimism.get("best_epoch_on_test"),
        optimism.get("chosen"),
        optimism.get("last"),
    )
    if not (_finite(best) and _finite(chosen)):
        return ""
    gap = best - chosen
    text = (
        f"Picking the best epoch by looking at the test images would have reported an "
        f"accuracy of {best:.3f}; choosing it honestly on held-out training images gives "
        f"{chosen:.3f}"
    )
    if gap >= 0.0005:
        text += f" — the difference of {gap:.3f} is optimism, not skill."
    else:
        text += " — here the honest choice happened to find the best epoch as well."
    if _finite(last):
        text += f" Simply keeping the last epoch gives {last:.3f}."
    return text


def seed_sentence(seed: dict, cv: dict | None, split_seed, epochs) -> str:
    """The blog-style number beside the honest one, labelled for what it is."""
    best_val = seed.get("best_val_accuracy")
    if not _finite(best_val):
        return ""
    over = f" over {epochs} epochs" if epochs else ""
    which = f"the single seed-{split_seed} split" if split_seed is not None else "the seed split"
    text = (
        f"Reported the blog's way — the best validation accuracy{over} on {which} "
        f"({seed.get('n_val')} images) — this model scores {best_val:.3f}. That number is "
        f"optimistic: the same images chose the epoch and then graded it."
    )
    if cv is not None and _finite(cv["mean"].get("accuracy")):
        ci = interval(cv["ci"].get("accuracy"))
        text += (
            f" Cross-validated, where the test images never influence any choice, the "
            f"accuracy is {pm(cv['mean']['accuracy'], cv['std'].get('accuracy'))} over "
            f"{cv['k']} folds"
        )
        text += f" (95 % CI of the pooled predictions {ci})." if ci else "."
    else:
        text += " This run has no cross-validation, so no honest estimate is available."
    return text


def _direction(comparison: dict, test: str) -> str | None:
    """The model a significant test favours, or None when it points nowhere."""
    if test == "corrected_t":
        score_a, score_b = comparison.get("mean_difference"), 0.0
    elif test == "mcnemar":
        score_a, score_b = (
            comparison["mcnemar"].get("n_a_only"),
            comparison["mcnemar"].get("n_b_only"),
        )
    else:
        score_a, score_b = comparison["delong"].get("auc_a"), comparison["delong"].get("auc_b")
    if not (_finite(score_a) and _finite(score_b)) or score_a == score_b:
        return None
    return comparison["a"] if score_a > score_b else comparison["b"]


def comparison_tests(comparison: dict) -> list[dict]:
    """The paired tests of one pair, each with its statistic, p-value and what it compares."""
    a, b = comparison["a"], comparison["b"]
    tests = []
    t = comparison.get("corrected_t")
    if t:
        statistic = f"t = {num(t.get('t'), 2)}, df = {t.get('df')}"
        if t.get("undefined_reason") == "no_variance":
            statistic = (
                "not computed: the accuracy difference is the same in every fold, so the "
                "test has no variance to judge it by (this is not certainty)"
            )
        repeated = (comparison.get("repeats") or 1) > 1
        tests.append(
            {
                "key": "corrected_t",
                "name": "Corrected repeated k-fold t-test (Bouckaert–Frank)"
                if repeated
                else "Corrected resampled t-test (Nadeau–Bengio)",
                "what": f"per-fold accuracy over {comparison.get('k')} folds: "
                f"{a} {num(comparison.get('mean_a'))} vs {b} {num(comparison.get('mean_b'))}",
                "statistic": statistic,
                "p": t.get("p"),
            }
        )
    m = comparison["mcnemar"]
    clustered = str(m.get("method", "exact")).startswith("clustered")
    tests.append(
        {
            "key": "mcnemar",
            "name": "McNemar's test for grouped images (Durkalski et al.)"
            if clustered
            else "McNemar's exact test",
            "what": f"images only {a} got right: {m.get('n_a_only')}; only {b}: "
            f"{m.get('n_b_only')} (of {comparison.get('n_paired')} paired test images)",
            "statistic": f"discordant pairs {m.get('n_a_only')} / {m.get('n_b_only')}",
            "p": m.get("p"),
        }
    )
    d = comparison.get("delong")
    if d:
        tests.append(
            {
                "key": "delong",
                "name": "DeLong's test",
                "what": f"pooled AUC: {a} {num(d.get('auc_a'))} vs {b} {num(d.get('auc_b'))}",
                "statistic": f"z = {num(d.get('z'), 2)}",
                "p": d.get("p"),
            }
        )
    for test in tests:
        test["p_text"] = pvalue(test["p"])
        test["significant"] = _finite(test["p"]) and test["p"] < ALPHA
    return tests


def verdict(comparison: dict, tests: list[dict], *, n_images) -> str:
    """A plain verdict that claims a difference only where a test gives p < 0.05."""
    a, b = comparison["a"], comparison["b"]
    significant = [t for t in tests if t["significant"]]
    if not significant:
        diff = comparison.get("mean_difference")
        text = (
            f"No evidence of a difference between {a} and {b} at this sample size: every "
            f"paired test gives p ≥ {ALPHA}."
        )
        if _finite(diff) and abs(diff) >= 0.0005:
            higher, lower = (a, b) if diff > 0 else (b, a)
            text += (
                f" {higher}'s mean accuracy is {abs(diff):.3f} higher than {lower}'s, a gap "
                f"that chance alone could produce with {n_images} test images."
            )
        return text + " This does not show that the models are equally good."
    favoured = {_direction(comparison, t["key"]) for t in significant}
    names = ", ".join(f"{t['name']} ({t['p_text']})" for t in significant)
    if len(favoured) == 1 and None not in favoured:
        winner = favoured.pop()
        loser = b if winner == a else a
        others = [t["name"] for t in tests if not t["significant"]]
        text = f"Evidence that {winner} performs better than {loser}: {names}."
        if others:
            text += f" Not confirmed by: {', '.join(others)} (p ≥ {ALPHA})."
        return text
    return (
        f"The tests disagree ({names} reach p < {ALPHA} but point to different models); "
        "treat the comparison as inconclusive."
    )
