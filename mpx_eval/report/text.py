"""Numbers as text, and the report's plain-language sentences (optimism, verdicts).

Sentences are built from numbers only; the templates escape every string they print.
"""

from __future__ import annotations

import math

from ..assessment.headline import ALPHA, PRIMARY_TEST, usable

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
    """``0.901–0.970``, or an empty string when there is no interval.

    A zero-width interval (a bootstrap whose every resample gave the same value) is no
    interval at all: it is left out rather than shown as ``1.000–1.000``.
    """
    if not usable(ci):
        return ""
    return f"{ci['low']:.{digits}f}–{ci['high']:.{digits}f}"


def method_name(method: str | None) -> str:
    """A short name of how an interval was computed, for captions and cell notes."""
    text = str(method or "")
    if "Wilson" in text:
        return "Wilson, clustered" if "design effect" in text else "Wilson"
    if "exact" in text:
        return "exact binomial"
    if "DeLong" in text:
        return "DeLong"
    if "group" in text:
        return "cluster bootstrap"
    if "percentile" in text or "BCa" in text or "bootstrap" in text:
        return "bootstrap"
    return text or "n/a"


def pvalue(p, *, alpha: float = ALPHA) -> str:
    if not _finite(p):
        return "n/a"
    if p < 0.001:
        return "p < 0.001"
    text = f"{p:.3f}"
    # Three decimals would print 0.0496 and 0.0504 alike; near the threshold show four.
    return f"p = {p:.4f}" if text == f"{alpha:.3f}" else f"p = {text}"


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


def seed_sentence(seed: dict, cv: dict | None, split_seed, epochs, *, honest=None) -> str:
    """The blog-style number beside the honest one, described by its procedure, and what
    this run shows when the two are put side by side (including when it came out lower).

    ``honest`` is the cross-validated pooled accuracy with its interval (``estimate``,
    ``low``, ``high``), as the headline shows it.
    """
    best_val = seed.get("best_val_accuracy")
    if not _finite(best_val):
        return ""
    over = f" over {epochs} epochs" if epochs else ""
    which = f"the single seed-{split_seed} split" if split_seed is not None else "the seed split"
    text = (
        f"Reported the blog's way — the best validation accuracy{over} on {which} "
        f"({seed.get('n_val')} images) — this model scores {best_val:.3f}. The same images "
        f"chose the checkpoint and then graded it, so nothing keeps that procedure from "
        f"overstating."
    )
    estimate = (honest or {}).get("estimate")
    if cv is None or not _finite(estimate):
        return text + " This run has no cross-validation, so no honest estimate is available."
    ci = interval(honest)
    text += (
        f" Cross-validated, where the test images never influence any choice, the pooled "
        f"accuracy over {cv['k']} test folds ({cv['n']} images) is {estimate:.3f}"
        + (f" (95 % CI {ci})." if ci else ".")
    )
    gap = best_val - estimate
    if gap >= 0.0005:
        text += f" In this run the blog-style figure is {gap:.3f} higher."
    elif gap <= -0.0005:
        text += (
            f" In this run the blog-style figure came out {-gap:.3f} lower: on "
            f"{seed.get('n_val')} images one split's figure can land anywhere in a wide "
            "range, and a lower number does not make the procedure sound."
        )
    else:
        text += " In this run the two figures agree."
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


def declared_test(metrics: dict) -> tuple[str, float]:
    """The primary test and its level as the run recorded them (metrics.json's
    ``primary_test``): a run rendered again is judged by the rule it was assessed by, not by
    today's. A metrics.json written before the declaration was recorded keeps the rule."""
    declared = metrics.get("primary_test") or {}
    test = declared.get("test")
    alpha = declared.get("alpha")
    return (
        test if isinstance(test, str) else PRIMARY_TEST,
        float(alpha) if _finite(alpha) else ALPHA,
    )


def comparison_tests(
    comparison: dict, *, primary: str = PRIMARY_TEST, alpha: float = ALPHA
) -> list[dict]:
    """The paired tests of one pair, each with its statistic, p-value, what it compares, and
    its role: the primary test (declared in advance) decides the verdict, the others do not."""
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
        test["p_text"] = pvalue(test["p"], alpha=alpha)
        test["significant"] = _finite(test["p"]) and test["p"] < alpha
        test["role"] = "primary" if test["key"] == primary else "secondary"
    return tests


def _primary_name(comparison: dict) -> str:
    """ "corrected t over 5 folds", or its repeated-CV form when the folds were repeated."""
    k = comparison.get("k")
    repeats = int(comparison.get("repeats") or 1)
    if repeats > 1:
        return f"corrected repeated k-fold t over {k} folds, {repeats} repeats"
    return f"corrected t over {k} folds"


def verdict(
    comparison: dict, tests: list[dict], *, n_images, alarms=None, alpha: float = ALPHA
) -> str:
    """A plain verdict decided by the primary test alone (the corrected t over folds).

    A model with an alarm (one class predicted, constant scores, not above the baseline)
    makes the comparison say so instead of "no evidence of a difference": comparing with a
    model that learnt nothing says nothing about the designs. ``alarms`` maps a model name
    to its alarm messages.
    """
    a, b = comparison["a"], comparison["b"]
    alarmed = [(name, (alarms or {}).get(name) or []) for name in (a, b)]
    alarmed = [(name, found) for name, found in alarmed if found]
    if alarmed:
        parts = "; ".join(f"{name} {found[0]}" for name, found in alarmed)
        return (
            f"Not a comparison of designs: {parts}. A model that did not learn to tell the "
            f"classes apart cannot show whether {a} or {b} is the better architecture; "
            "train longer or check the data before reading the tests below."
        )
    primary = next((t for t in tests if t["role"] == "primary"), None)
    secondary = [t for t in tests if t["role"] == "secondary"]
    reason = (comparison.get("corrected_t") or {}).get("undefined_reason")
    if reason == "no_variance":
        return (
            f"No evidence either way from the primary test: the accuracy difference between {a} "
            f"and {b} is the same in every fold, so the corrected t-test is undefined (zero "
            "variance is not certainty). The secondary tests below are shown for information "
            "and decide nothing."
        )
    if primary is None or not _finite(primary["p"]):
        return (
            "No verdict: the primary test (the corrected t-test over folds) needs at least two "
            "folds that both models finished. The secondary tests below are shown for "
            "information and decide nothing."
        )
    if primary["significant"]:
        favoured = _direction(comparison, "corrected_t")
        if favoured is None:
            return (
                f"The primary test gives {primary['p_text']} but the mean accuracies are equal; "
                "treat the comparison as inconclusive."
            )
        loser = b if favoured == a else a
        text = (
            f"Evidence that {favoured} is more accurate than {loser}: the primary test "
            f"({_primary_name(comparison)}) gives {primary['p_text']}."
        )
        against = [t["name"] for t in secondary if not t["significant"]]
        if against:
            text += f" Not confirmed by the secondary {', '.join(against)} (p ≥ {alpha})."
        return text
    diff = comparison.get("mean_difference")
    text = (
        f"No evidence of a difference in accuracy between {a} and {b} at this sample size: "
        f"the primary test ({_primary_name(comparison)}) gives {primary['p_text']}."
    )
    if _finite(diff) and abs(diff) >= 0.0005:
        higher, lower = (a, b) if diff > 0 else (b, a)
        text += (
            f" {higher}'s mean accuracy is {abs(diff):.3f} higher than {lower}'s, a gap "
            f"that chance alone could produce with {n_images} test images."
        )
    leads = [f"{t['name']} ({t['p_text']})" for t in secondary if t["significant"]]
    if leads:
        text += (
            f" A secondary test reaches p < {alpha} ({', '.join(leads)}); it was not declared "
            "in advance and treats the images as independent, so it is a lead to check with "
            "more data, not evidence."
        )
    return text + " This does not show that the models are equally good."


def short_verdict(comparison: dict, tests: list[dict], *, alarms=None) -> str:
    """One clause of the architecture verdict for the first screen: the primary test's
    outcome, or why there is no comparison of designs."""
    a, b = comparison["a"], comparison["b"]
    warned = [f"{name} {(alarms or {})[name][0]}" for name in (a, b) if (alarms or {}).get(name)]
    if warned:
        return f"{a} vs {b}: not a comparison of designs, since {' and '.join(warned)}."
    primary = next((t for t in tests if t["role"] == "primary"), None)
    if primary is None or not _finite(primary["p"]):
        return f"{a} vs {b}: no verdict (the primary test needs at least two common folds)."
    where = f"primary test, {_primary_name(comparison)}, {primary['p_text']}"
    favoured = _direction(comparison, "corrected_t") if primary["significant"] else None
    if favoured is not None:
        loser = b if favoured == a else a
        return f"Evidence that {favoured} is more accurate than {loser} ({where})."
    return f"No evidence that {a} and {b} differ in accuracy ({where})."
