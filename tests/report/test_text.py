"""Plain-language sentences, number formats, layer alignment and figure names."""

from __future__ import annotations

import pytest

from mpx_eval.report import _text as T
from mpx_eval.report._context import align_layers, slugify


def _comparison(p_t, p_mcnemar, p_delong, *, diff=0.03, only_a=4, only_b=1, auc=(0.9, 0.8)):
    return {
        "a": "t3",
        "b": "t4",
        "k": 5,
        "mean_a": 0.80 + diff,
        "mean_b": 0.80,
        "mean_difference": diff,
        "n_paired": 120,
        "corrected_t": {"t": 1.1, "p": p_t, "df": 4},
        "mcnemar": {"statistic": 1, "p": p_mcnemar, "n_a_only": only_a, "n_b_only": only_b},
        "delong": {"z": 0.5, "p": p_delong, "auc_a": auc[0], "auc_b": auc[1]},
    }


def _verdict(comparison):
    return T.verdict(comparison, T.comparison_tests(comparison), n_images=120)


def test_no_difference_is_claimed_when_every_p_is_at_least_alpha():
    text = _verdict(_comparison(0.41, 0.125, 0.05))
    assert text.startswith("No evidence of a difference between t3 and t4 at this sample size")
    assert "better" not in text
    assert "t3's mean accuracy is 0.030 higher than t4's" in text


def test_a_significant_test_names_the_favoured_model_and_the_unconfirmed_tests():
    text = _verdict(_comparison(0.01, 0.2, 0.3))
    assert text.startswith("Evidence that t3 performs better than t4")
    assert "Corrected resampled t-test (Nadeau–Bengio) (p = 0.010)" in text
    assert "Not confirmed by: McNemar's exact test, DeLong's test" in text


def test_the_favoured_model_follows_the_direction_of_each_test():
    text = _verdict(_comparison(0.5, 0.01, 0.6, only_a=1, only_b=12))
    assert text.startswith("Evidence that t4 performs better than t3")


def test_significant_tests_pointing_different_ways_are_inconclusive():
    text = _verdict(_comparison(0.01, 0.02, 0.5, diff=0.05, only_a=1, only_b=9))
    assert "inconclusive" in text and "performs better" not in text


def test_a_comparison_without_delong_or_t_test_still_has_a_verdict():
    comparison = _comparison(0.3, 0.4, 0.5)
    comparison["delong"], comparison["corrected_t"] = None, None
    tests = T.comparison_tests(comparison)
    assert [t["key"] for t in tests] == ["mcnemar"]
    assert "No evidence" in T.verdict(comparison, tests, n_images=120)


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


def test_optimism_sentence_states_the_three_numbers():
    text = T.optimism_sentence(
        {"best_epoch_on_test": 0.86, "chosen": 0.79, "last": 0.77, "gap": 0.07}
    )
    assert "would have reported an accuracy of 0.860" in text
    assert "gives 0.790 — the difference of 0.070 is optimism, not skill" in text
    assert "last epoch gives 0.770" in text
    same = T.optimism_sentence({"best_epoch_on_test": 0.8, "chosen": 0.8, "last": None})
    assert "happened to find the best epoch" in same and "optimism, not skill" not in same


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
    tests = T.comparison_tests(comparison)
    t_test = next(t for t in tests if t["key"] == "corrected_t")
    assert "same in every fold" in t_test["statistic"]
    assert t_test["p_text"] == "n/a" and not t_test["significant"]
    assert "No evidence" in T.verdict(comparison, tests, n_images=120)


def test_grouped_images_name_the_clustered_mcnemar_test():
    comparison = _comparison(0.3, 0.4, 0.5)
    comparison["mcnemar"]["method"] = "clustered (Durkalski et al. 2003)"
    names = [t["name"] for t in T.comparison_tests(comparison)]
    assert "McNemar's test for grouped images (Durkalski et al.)" in names


def test_repeated_folds_name_the_repeated_kfold_test():
    comparison = _comparison(0.3, 0.4, 0.5)
    comparison["repeats"] = 3
    names = [t["name"] for t in T.comparison_tests(comparison)]
    assert "Corrected repeated k-fold t-test (Bouckaert–Frank)" in names
