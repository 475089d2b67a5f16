"""Model builders: the blog's T3/T4, the registry, users' own builders."""

from __future__ import annotations

import pytest

from mpx_eval.errors import MpxEvalError

models = pytest.importorskip("mpx_eval.training.models")


def test_t4_parameter_count_matches_the_blog():
    model = models.build(models.resolve_model("t4"), 224, 2)
    assert model.count_params() == 22_175_138


def test_t3_parameter_count():
    model = models.build(models.resolve_model("t3"), 180, 2)
    assert model.count_params() == 13_794_722


def test_default_sizes_are_the_lessons():
    assert models.resolve_model("t4").default_size == 224
    assert models.resolve_model("t3").default_size == 180


def test_t3_is_t4_without_the_second_dropout():
    t3 = [type(layer).__name__ for layer in models.build(models.resolve_model("t3"), 64, 2).layers]
    t4 = [type(layer).__name__ for layer in models.build(models.resolve_model("t4"), 64, 2).layers]
    assert t4[:5] + t4[6:] == t3 and t4[5] == "Dropout"


def test_each_build_is_a_fresh_model():
    spec = models.resolve_model("t4")
    assert models.build(spec, 48, 2) is not models.build(spec, 48, 2)


def test_layer_table():
    table = models.layer_table(models.build(models.resolve_model("t4"), 224, 2))
    assert table[0]["type"] == "Rescaling"
    assert table[-1] == {
        "name": table[-1]["name"],
        "type": "Dense",
        "output_shape": [None, 2],
        "params": 258,
    }
    assert sum(row["params"] for row in table) == 22_175_138


def test_user_builder_by_dotted_name():
    spec = models.resolve_model("tests.helpers.user_models:tiny")
    assert spec.default_size == 40
    assert models.build(spec, 40, 3).output_shape == (None, 3)
    probs = models.build(models.resolve_model("tests.helpers.user_models:softmax_head"), 32, 2)
    assert models.outputs_probabilities(probs)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_such_package.mod:fn", "cannot import no_such_package.mod"),
        ("tests.helpers.user_models:missing", "has no function missing"),
        ("tests.helpers.user_models:not_a_model", "returned str, not a keras.Model"),
        ("tests.helpers.user_models:wrong_outputs", "ends in 7 outputs"),
    ],
)
def test_user_builder_errors(name, message):
    with pytest.raises(MpxEvalError, match=message):
        models.build(models.resolve_model(name), 32, 2)
