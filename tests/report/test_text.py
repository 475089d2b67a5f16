"""Plain-language sentences, number formats, layer alignment and figure names."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mpx_eval.assessment.intervals import Bounds
from mpx_eval.assessment.layout import Alarm, Estimate
from mpx_eval.assessment.verdicts import decide
from mpx_eval.report import text as T
from mpx_eval.report.sections.comparison import align_layers
from mpx_eval.report.sections.model import slugify
from mpx_eval.summary._from_json import from_json
from mpx_eval.summary.layout import Comparison, Optimism, RuleOutcome, SeedSplit


def _comparison(p_t, p_mcnemar, p_delong, *, diff=0.03, only_a=4, only_b=1, auc=(0.9, 0.8)):
    return {
        "a": "t3",
        "b": "t4",
        "metric": "accuracy",
        "k": 5,
        "folds": [1, 2, 3, 4, 5],
        "mean_a": 0.80 + diff,
        "mean_b": 0.80,
        "mean_difference": diff,
        "n_paired": 120,
        "corrected_t": {"t": 1.1, "p": p_t, "df": 4},
        "mcnemar": {"statistic": 1, "p": p_mcnemar, "n_a_only": only_a, "n_b_only": only_b},
        "delong": {"z": 0.5, "p": p_delong, "auc_a": auc[0], "auc_b": auc[1]},
    }


def _typed(comparison: dict) -> Comparison:
    return from_json(Comparison, comparison)


def _alarms(alarms: dict[str, list[str]] | None) -> dict[str, list[Alarm]]:
    return {
        name: [Alarm(kind="one_class", short=m, message=m) for m in messages]
        for name, messages in (alarms or {}).items()
    }


def _verdict(comparison, alarms=None):
    typed = _typed(comparison)
    return T.verdict(decide(typed, alarms=_alarms(alarms)), T.comparison_tests(typed))


def _short(comparison, alarms=None):
    return T.short_verdict(decide(_typed(comparison), alarms=_alarms(alarms)))


def test_no_difference_is_claimed_when_the_primary_p_is_at_least_alpha():
    text = _verdict(_comparison(0.41, 0.125, 0.05))
    assert text.startswith("No evidence of a difference in accuracy between t3 and t4")
    assert "the primary test (corrected t over 5 folds) gives p = 0.410" in text
    assert "better" not in text and "Evidence" not in text
    assert "t3's mean accuracy is 0.030 higher than t4's" in text


def test_a_significant_primary_test_names_the_favoured_model_and_the_unconfirmed_tests():
    text = _verdict(_comparison(0.01, 0.2, 0.3))
    assert text.startswith("Evidence that t3 is more accurate than t4")
    assert "primary test (corrected t over 5 folds) gives p = 0.010" in text
    assert "Not confirmed by the secondary McNemar's exact test, DeLong's test" in text


def test_a_significant_secondary_test_alone_is_no_evidence():
    """Issue 15, point 7: no "evidence" headline unless the primary test shows it."""
    text = _verdict(_comparison(0.5, 0.01, 0.6, only_a=1, only_b=12))
    assert text.startswith("No evidence of a difference in accuracy")
    assert "A secondary test reaches p < 0.05 (McNemar's exact test (p = 0.010))" in text
    assert "not evidence" in text


def test_the_primary_test_decides_even_when_a_secondary_test_points_the_other_way():
    text = _verdict(_comparison(0.01, 0.02, 0.5, diff=0.05, only_a=1, only_b=9))
    assert text.startswith("Evidence that t3 is more accurate than t4")


def test_every_test_has_its_role():
    roles = {t["key"]: t["role"] for t in T.comparison_tests(_typed(_comparison(0.3, 0.4, 0.5)))}
    assert roles == {"corrected_t": "primary", "mcnemar": "secondary", "delong": "secondary"}


def test_a_comparison_without_the_primary_test_gives_no_verdict():
    comparison = _comparison(0.3, 0.01, 0.5)
    comparison["delong"], comparison["corrected_t"] = None, None
    tests = T.comparison_tests(_typed(comparison))
    assert [t["key"] for t in tests] == ["mcnemar"]
    text = _verdict(comparison)
    assert text.startswith("No verdict") and "Evidence" not in text


def test_a_model_with_an_alarm_makes_the_comparison_say_so():
    """Issue 15, point 2: not "no evidence of a difference" when one model learnt nothing."""
    alarms = {"t4": ["predicts every image as Others (228 of 228)"]}
    text = _verdict(_comparison(0.41, 0.125, 0.05), alarms)
    assert text.startswith("Not a comparison of designs: t4 predicts every image as Others")
    assert "No evidence" not in text
    short = _short(_comparison(0.41, 0.1, 0.1), alarms)
    assert short == (
        "t3 vs t4: not a comparison of designs, since t4 predicts every image as Others "
        "(228 of 228)."
    )


def test_the_one_sentence_verdict_follows_the_primary_test():
    comparison = _comparison(0.01, 0.5, 0.5)
    assert _short(comparison) == (
        "Evidence that t3 is more accurate than t4 (primary test, corrected t over 5 folds, "
        "p = 0.010)."
    )
    comparison = _comparison(0.2, 0.01, 0.01)
    assert _short(comparison).startswith("No evidence that t3 and t4 differ in accuracy")


def test_a_zero_width_interval_is_never_printed():
    """Issue 15, point 3: "1.000, 95 % CI 1.000–1.000" is no interval."""
    assert T.interval(Bounds(1.0, 1.0, "bootstrap")) == ""
    assert T.interval(Bounds(0.858, 1.0, "bootstrap")) == "0.858–1.000"


@pytest.mark.parametrize(
    ("best_val", "words"),
    [
        (0.917, "came out 0.058 lower"),
        (1.0, "the seed-split figure is 0.025 higher"),
        (0.975, "the two figures agree"),
    ],
)
def test_the_seed_sentence_says_what_this_run_shows(best_val, words):
    """Issue 15, point 6: the procedure is described, and a lower number is called lower."""
    seed = SeedSplit(
        n_val=24,
        best_epoch=None,
        best_val_accuracy=best_val,
        last_val_accuracy=None,
        val_accuracy_source="history",
        ci={},
    )
    cv = SimpleNamespace(k=5, n=120)  # the sentence reads the fold count and the images
    honest = Estimate(
        estimate=0.975, estimator="pooled", low=0.93, high=0.99, method="Wilson", n=120
    )
    text = T.seed_sentence(seed, cv, 123, 50, honest=honest)
    assert words in text
    assert "the same images chose the checkpoint and then graded it" in text.lower()
    assert "pooled accuracy over 5 test folds (120 images) is 0.975 (95 % CI 0.930–0.990)" in text
    if best_val < 0.975:
        assert "optimistic" not in text


@pytest.mark.parametrize("n_classes", [2, 4])
def test_the_seed_split_gap_is_read_as_selection_not_as_the_blogs_error(n_classes):
    """On 24 images the seed split's lead over cross-validation is mostly selection and the
    luck of one split; with four classes the blog (two classes) is not being checked."""
    seed = SeedSplit(
        n_val=24, best_epoch=None, best_val_accuracy=0.95, last_val_accuracy=None,
        val_accuracy_source="history", ci={},
    )  # fmt: skip
    honest = Estimate(estimate=0.8, estimator="pooled", low=0.7, high=0.9, method="x", n=120)
    text = T.seed_sentence(
        seed, SimpleNamespace(k=5, n=120), 123, 50, honest=honest, n_classes=n_classes
    )
    assert "the seed-split figure is 0.150 higher" in text
    assert "mostly selection" in text and "the luck of one small split" in text
    assert "overstat" not in text and "optimis" not in text
    assert ("The blog reported two classes; here its procedure is applied to 4" in text) == (
        n_classes == 4
    )


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0004, "p < 0.001"),
        (0.0123, "p = 0.012"),
        (0.0496, "p = 0.0496"),
        (0.0504, "p = 0.0504"),
        (0.41, "p = 0.410"),
        (None, "n/a"),
    ],
)
def test_p_values_near_the_threshold_keep_enough_digits(p, text):
    assert T.pvalue(p) == text


def _rules(**means):
    return [
        RuleOutcome(rule=name, honest=True, pooled=False, mean=mean, std=None, epochs=[])
        for name, mean in means.items()
    ]


def test_the_checkpoint_sentence_names_the_rule_and_reads_a_small_spread_as_noise():
    optimism = Optimism(
        best_epoch_on_test=0.86, chosen=0.79, last=0.77, gap=0.07, per_fold=[],
        rule="val-loss", rules=_rules(**{"val-loss": 0.79, "last": 0.77, "mean-val-loss": 0.81}),
    )  # fmt: skip
    headline = Estimate(estimate=0.8, estimator="pooled", low=0.7, high=0.9, method="x", n=100)
    text = T.checkpoint_sentence(optimism, headline)
    assert "rule fixed before the run, val-loss (per fold, the epoch of the lowest" in text
    assert "test folds score 0.790 on average" in text
    assert "between 0.770 (last) and 0.810 (mean-val-loss)" in text
    assert (
        "A spread of 0.040, within the headline's 95 % interval (±0.100), is selection noise"
        in text
    )
    assert "would have claimed 0.860" in text
    # no figure of a fixed number of epochs is called optimistic or said to overstate
    assert "optimism, not skill" not in text and "overstate" not in text


def test_the_checkpoint_sentence_says_when_the_rules_differ_more_than_the_interval():
    optimism = Optimism(
        best_epoch_on_test=0.8, chosen=0.6, last=0.8, gap=0.2, per_fold=[],
        rule="val-accuracy", rules=_rules(**{"val-accuracy": 0.6, "last": 0.8}),
    )  # fmt: skip
    headline = Estimate(estimate=0.6, estimator="pooled", low=0.55, high=0.65, method="x", n=9)
    text = T.checkpoint_sentence(optimism, headline)
    assert "A spread of 0.200 is wider than the headline's 95 % interval (±0.050)" in text
    assert "selection noise" not in text
    same = T.checkpoint_sentence(
        Optimism(best_epoch_on_test=0.8, chosen=0.8, last=None, gap=0.0, per_fold=[])
    )
    assert "would have claimed" not in same and "0.800 on average" in same


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.37, "0.37 s"),
        (13.14, "13.1 s"),
        (125.4, "2 min 05 s"),
        (3725, "1 h 02 min"),
        (None, "n/a"),
    ],
)
def test_durations(value, text):
    assert T.seconds(value) == text


def test_numbers_never_print_a_negative_zero():
    assert T.num(-0.0001) == "0.000"
    assert T.pm(0.5, None) == "0.500" and T.pm(None, 0.1) == "n/a"


def _layer(kind, shape="(8, 8, 4)", params="0"):
    return {"name": kind.lower(), "type": kind, "shape": shape, "params": params}


def test_layers_are_lined_up_by_type_with_gaps_for_extra_layers():
    t3 = [_layer("Conv2D", params="448"), _layer("Flatten"), _layer("Dense", "(2)", "258")]
    t4 = [
        _layer("Conv2D", params="448"),
        _layer("Dropout"),
        _layer("Flatten"),
        _layer("Dense", "(2)", "130"),
    ]
    rows = align_layers([t3, t4])
    assert [[c and c["type"] for c in r["cells"]] for r in rows] == [
        ["Conv2D", "Conv2D"],
        [None, "Dropout"],
        ["Flatten", "Flatten"],
        ["Dense", "Dense"],
    ]
    assert [r["differs"] for r in rows] == [False, True, False, True]
    assert rows[3]["diff"] == {"type": False, "shape": False, "params": True}


def test_three_models_align_against_all_earlier_rows():
    a = [_layer("Conv2D"), _layer("Dense")]
    b = [_layer("Conv2D"), _layer("Pool"), _layer("Dense")]
    c = [_layer("Pool"), _layer("Dense")]
    rows = align_layers([a, b, c])
    assert [[x and x["type"] for x in r["cells"]] for r in rows] == [
        ["Conv2D", "Conv2D", None],
        [None, "Pool", "Pool"],
        ["Dense", "Dense", "Dense"],
    ]


def test_figure_names_are_safe_and_unique():
    taken: set[str] = set()
    assert slugify("T4", taken) == "t4"
    assert slugify("mypkg.nets:wide", taken) == "mypkg.nets-wide"
    assert slugify("mypkg.nets/wide", taken) == "mypkg.nets-wide-2"
    assert slugify("optimism", taken) == "optimism-2"


def test_a_corrected_t_test_without_variance_says_why_and_claims_nothing():
    comparison = _comparison(None, 0.4, 0.5)
    comparison["corrected_t"] = {"t": None, "p": None, "df": 4, "undefined_reason": "no_variance"}
    tests = T.comparison_tests(_typed(comparison))
    t_test = next(t for t in tests if t["key"] == "corrected_t")
    assert "same in every fold" in t_test["statistic"]
    assert t_test["p_text"] == "n/a" and not t_test["significant"]
    assert "No evidence" in _verdict(comparison)


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("clustered (cluster counts, Obuchowski 1998)", "(Obuchowski, cluster counts)"),
        ("clustered (Durkalski et al. 2003)", "(Durkalski et al., per-group proportions)"),
    ],
)
def test_grouped_images_name_the_clustered_mcnemar_test(method, name):
    comparison = _comparison(0.3, 0.4, 0.5)
    comparison["mcnemar"]["method"] = method
    names = [t["name"] for t in T.comparison_tests(_typed(comparison))]
    assert f"McNemar's test for grouped images {name}" in names


def test_repeated_folds_name_the_repeated_kfold_test():
    comparison = _comparison(0.3, 0.4, 0.5)
    comparison["repeats"] = 3
    names = [t["name"] for t in T.comparison_tests(_typed(comparison))]
    assert "Corrected repeated k-fold t-test (Bouckaert–Frank)" in names
