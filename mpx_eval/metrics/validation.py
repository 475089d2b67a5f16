"""Input checks shared by the public metric functions, and by callers that check tables alike.

Every public function validates its arguments once, here, and raises a ``ValueError`` that
names the offending argument and value; the private helpers behind it trust their inputs.
The run summary (:mod:`mpx_eval.summary`) checks a run's tables with the same functions, so
a bad table is refused in the same words as a bad array.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: How far a row of a 2-D probability array may sum from 1 (float32 softmax outputs
#: written as text stay well within it; a missing class column does not).
ROW_SUM_TOLERANCE = 1e-6


def format_labels(labels, limit: int = 5) -> str:
    """The first ``limit`` labels as reprs joined by commas, then how many more there are."""
    shown = ", ".join(repr(_plain(v)) for v in list(labels)[:limit])
    extra = len(labels) - limit
    return shown + (f" and {extra} more" if extra > 0 else "")


def _plain(value):
    """A numpy scalar as the Python value it holds, so messages read 'Cat', not np.str_('Cat')."""
    return value.item() if isinstance(value, np.generic) else value


def as_1d(name: str, values) -> np.ndarray:
    """``values`` as a non-empty 1-D array without missing entries.

    A missing label (NaN, None, pandas NA) would otherwise become a class of its own and
    change every metric without a word, so it raises.
    """
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    # numpy turns a float NaN among strings into the text 'nan' (['a', nan] becomes
    # ['a', 'nan']), so a list's missing labels are only visible before that conversion.
    checked = array
    if array.dtype.kind in "US" and not isinstance(values, np.ndarray):
        checked = np.asarray(values, dtype=object).reshape(array.shape)
    if checked.dtype.kind in "fcOV":
        n_missing = int(pd.isna(pd.Series(checked, dtype=object)).sum())
        if n_missing:
            raise ValueError(
                f"{name} has {n_missing} missing value{'s' if n_missing != 1 else ''} "
                "(NaN, None or NA); drop those rows or fill them in"
            )
    return array


def check_lengths(**arrays) -> None:
    """Raise unless every array has the same number of entries (first axis)."""
    items = [(name, len(array)) for name, array in arrays.items() if array is not None]
    first_name, first_len = items[0]
    for name, length in items[1:]:
        if length != first_len:
            raise ValueError(f"{first_name} has {first_len} entries, {name} has {length}")


def as_scores(name: str, values, *, ndim: int | None = None) -> np.ndarray:
    """Finite floating-point scores, 1-D or 2-D (or exactly ``ndim`` when given)."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers") from None
    if array.ndim == 2 and array.shape[1] == 1 and ndim != 2:
        array = array[:, 0]
    if array.ndim not in (1, 2) or (ndim is not None and array.ndim != ndim):
        wanted = f"{ndim}-D" if ndim is not None else "1-D or 2-D"
        raise ValueError(f"{name} must be {wanted}, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    n_nan = int(np.isnan(array).sum())
    if n_nan:
        raise ValueError(f"{name} has {n_nan} NaN value{'s' if n_nan != 1 else ''}")
    n_inf = int(np.isinf(array).sum())
    if n_inf:
        raise ValueError(f"{name} has {n_inf} infinite value{'s' if n_inf != 1 else ''}")
    return array


def as_probabilities(name: str, values, *, ndim: int | None = None) -> np.ndarray:
    """Finite scores that also lie in [0, 1]; 2-D rows must sum to 1."""
    array = as_scores(name, values, ndim=ndim)
    outside = (array < 0) | (array > 1)
    n_out = int(outside.sum())
    if n_out:
        example = float(array[outside].flat[0])
        raise ValueError(
            f"{name} has {n_out} value{'s' if n_out != 1 else ''} outside [0, 1] "
            f"(e.g. {example!r}); pass probabilities, not logits or percentages"
        )
    check_row_sums(name, array)
    return array


def check_row_sums(name: str, array: np.ndarray) -> None:
    """Raise unless every row of a 2-D probability array sums to 1 (within the tolerance)."""
    if array.ndim != 2:
        return
    sums = array.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        first = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"{name} has {int(off.sum())} row{'s' if off.sum() != 1 else ''} whose "
            f"probabilities do not sum to 1 (row {first}: {sums[first]:.6g}); its columns must "
            "cover every class"
        )


def resolve_classes(classes, *label_arrays: np.ndarray, name: str = "labels") -> np.ndarray:
    """The class list: ``classes`` if given (checked for duplicates), else the sorted labels."""
    if classes is None:
        seen = np.concatenate([np.asarray(a, dtype=object) for a in label_arrays])
        try:
            return np.asarray(sorted(set(seen.tolist())), dtype=object)
        except TypeError:
            raise ValueError(
                "the labels mix types that cannot be sorted (e.g. numbers and text); "
                f"pass {name}= explicitly"
            ) from None
    array = np.asarray(classes, dtype=object)
    if array.ndim != 1 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty list of labels")
    n_missing = int(pd.isna(pd.Series(array, dtype=object)).sum())
    if n_missing:
        raise ValueError(f"{name} has {n_missing} missing value(s) (NaN, None or NA)")
    values = array.tolist()
    duplicates = sorted({v for v in values if values.count(v) > 1}, key=values.index)
    if duplicates:
        raise ValueError(f"{name} lists {format_labels(duplicates)} more than once")
    return array


def encode(name: str, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Positions of ``labels`` in ``classes``; raise naming any label that is not a class."""
    codes = pd.Index(classes.tolist()).get_indexer(np.asarray(labels, dtype=object).tolist())
    unknown = codes < 0
    if unknown.any():
        missing = list(dict.fromkeys(np.asarray(labels, dtype=object)[unknown].tolist()))
        raise ValueError(
            f"{name} has labels not among the classes {format_labels(classes)}: "
            f"{format_labels(missing)}"
        )
    return codes.astype(np.intp)


def resolve_positive(classes: np.ndarray, positive_class) -> int:
    """Index of the positive class: the one named, else the second class (1 of 0/1).

    The library has no domain default: a caller whose positive class is not the second
    in order (e.g. the first of sorted class names) names it.
    """
    values = classes.tolist()
    if positive_class is not None:
        if positive_class not in values:
            raise ValueError(
                f"positive_class {_plain(positive_class)!r} is not among the classes "
                f"{format_labels(classes)}"
            )
        return values.index(positive_class)
    if len(values) > 2:
        raise ValueError(
            f"{len(values)} classes ({format_labels(classes)}) but no positive_class: "
            "name the class the scores belong to, or pass (n_samples, n_classes) probabilities"
        )
    if len(values) < 2:
        raise ValueError(
            f"y_true contains only one class ({format_labels(classes)}); two are needed "
            "(pass labels= if another class exists but is absent here)"
        )
    return 1


def require_both(codes: np.ndarray, positive: int, classes: np.ndarray, what: str) -> None:
    """Raise unless ``codes`` holds the positive class and at least one other class."""
    has_pos = bool((codes == positive).any())
    has_neg = bool((codes != positive).any())
    if has_pos and has_neg:
        return
    present = format_labels(classes[np.unique(codes)])
    raise ValueError(
        f"y_true contains only one class ({present}); {what} needs samples of both "
        f"the positive class {_plain(classes[positive])!r} and the other class(es)"
    )


def check_columns(name: str, probabilities: np.ndarray, classes: Sequence) -> None:
    """Raise unless a 2-D probability array has one column per class."""
    n_columns, n_classes = probabilities.shape[1], len(classes)
    if n_columns != n_classes:
        columns = f"{n_columns} column{'s' if n_columns != 1 else ''}"
        given = f"{n_classes} classes were" if n_classes != 1 else "1 class was"
        raise ValueError(
            f"{name} has {columns} but {given} given; its columns must follow the classes"
        )


def prepare_scored(y_true, scores, classes, *, name: str, probabilities: bool):
    """The checks every score- or probability-based metric starts with, in one place.

    Returns ``(codes, scores, classes)``: ``y_true`` encoded as positions in ``classes``
    (given, else the sorted labels), and ``scores`` (named ``name`` in messages) checked
    for matching length and, when 2-D, for one column per class summing to 1 per row.
    ``probabilities`` also requires every value to lie in [0, 1].
    """
    y_true = as_1d("y_true", y_true)
    scores = (as_probabilities if probabilities else as_scores)(name, scores)
    check_lengths(y_true=y_true, **{name: scores})
    classes = resolve_classes(classes, y_true)
    if scores.ndim == 2:
        check_columns(name, scores, classes)
        check_row_sums(name, scores)
    return encode("y_true", y_true, classes), scores, classes


def prepare_labelled(y_true, y_pred, classes):
    """The checks every metric of predicted labels starts with, in one place.

    Returns ``(codes, predicted, classes)``: ``y_true`` and ``y_pred`` checked for matching
    length and encoded as positions in ``classes`` (given, else the sorted union of the
    labels seen).
    """
    y_true = as_1d("y_true", y_true)
    y_pred = as_1d("y_pred", y_pred)
    check_lengths(y_true=y_true, y_pred=y_pred)
    classes = resolve_classes(classes, y_true, y_pred, name="labels")
    return encode("y_true", y_true, classes), encode("y_pred", y_pred, classes), classes


def check_unit_interval(name: str, value: float, *, closed_low: bool = False) -> float:
    """``value`` as a float in (0, 1], or [0, 1] with ``closed_low``; strings are refused."""
    if isinstance(value, (str, bytes, bool)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    low_ok = number >= 0 if closed_low else number > 0
    if not (low_ok and number <= 1) or np.isnan(number):
        interval = "[0, 1]" if closed_low else "(0, 1]"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return number


def check_confidence_level(value: float) -> float:
    """``value`` as a float strictly between 0 and 1 (a level of 1 has no finite interval)."""
    if isinstance(value, (str, bytes, bool)):
        raise ValueError(f"confidence_level must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"confidence_level must be a number, got {value!r}") from None
    if not 0 < number < 1:  # also refuses NaN
        raise ValueError(f"confidence_level must lie in (0, 1), got {value!r}")
    return number


def check_positive_number(name: str, value) -> float:
    """A finite number > 0; strings such as "80" are refused, not converted."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    number = float(value)
    if not np.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return number


def check_positive_int(name: str, value, *, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum``; bools and floats such as 3.0 are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
