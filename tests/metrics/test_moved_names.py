"""Names that moved from mpx_eval.metrics to mpx_eval.summary still import, with a warning."""

import pytest

import mpx_eval.metrics as M
import mpx_eval.summary as S


@pytest.mark.parametrize("name", ["summarize_predictions", "metrics_json_schema"])
def test_a_moved_name_warns_and_is_the_one_in_its_new_place(name):
    with pytest.warns(DeprecationWarning, match=rf"mpx_eval\.summary\.{name}; import it from"):
        moved = getattr(M, name)
    assert moved is getattr(S, name)
    assert name not in M.__all__


def test_from_import_of_a_moved_name_warns():
    with pytest.warns(DeprecationWarning, match="has moved to mpx_eval.summary"):
        from mpx_eval.metrics import summarize_predictions
    assert summarize_predictions is S.summarize_predictions


def test_other_missing_names_still_raise_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'summarise_predictions'"):
        M.summarise_predictions  # noqa: B018
