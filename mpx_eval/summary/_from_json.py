"""Reading parsed JSON into the frozen dataclasses that lay a file out, checking every key
and type on the way; the one generic reader behind ``Summary.from_json`` and the run's
metrics.json reader."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")

#: ``field(metadata={JSON_KEY: "class"})``: the key in the file when it cannot be the
#: field's name (a Python keyword).
JSON_KEY = "json_key"
#: ``field(metadata={REST: names})``: a dict field that gathers the object's other keys
#: among ``names`` (a flat object such as a fold: its sizes, then one key per metric).
REST = "rest"


class LayoutError(ValueError):
    """A JSON value that does not fit its layout; the message names where it is."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where} {problem}")
        self.where = where
        self.problem = problem


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LayoutError(where, f"is {_describe(value)}, not a number")
    return float(value)


def _scalar(kind: type, value: Any, where: str) -> Any:
    if kind is float:
        return _number(value, where)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise LayoutError(where, f"is {_describe(value)}, not an integer")
        return value
    if kind in (str, bool):
        if not isinstance(value, kind) or (kind is str and isinstance(value, bool)):
            raise LayoutError(where, f"is {_describe(value)}, not {kind.__name__}")
        return value
    raise TypeError(f"no JSON rule for {kind!r}")  # a layout type this reader does not know


def _union(args: tuple, value: Any, where: str) -> Any:
    if value is None:
        if type(None) in args:
            return None
        raise LayoutError(where, "is null")
    errors = []
    for option in (a for a in args if a is not type(None)):
        try:
            return from_json(option, value, where)
        except LayoutError as exc:
            errors.append(exc)
    raise (
        errors[0]
        if len(errors) == 1
        else LayoutError(where, f"is {_describe(value)}, which fits none of its types")
    )


def _object(kind: type[T], value: Any, where: str) -> T:
    if not isinstance(value, dict):
        raise LayoutError(where, f"is {_describe(value)}, not an object")
    hints = _hints(kind)
    given: dict[str, Any] = {}
    rest_field = None
    for f in dataclasses.fields(kind):
        if REST in f.metadata:
            rest_field = f
            continue
        key = f.metadata.get(JSON_KEY, f.name)
        if key in value:
            given[f.name] = from_json(hints[f.name], value[key], f"{where}.{key}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise LayoutError(where, f"lacks the key '{key}'")
    if rest_field is not None:
        item = typing.get_args(hints[rest_field.name])[1]
        given[rest_field.name] = {
            key: from_json(item, entry, f"{where}.{key}")
            for key, entry in value.items()
            if key in rest_field.metadata[REST]
        }
    return kind(**given)


def from_json(kind: Any, value: Any, where: str = "the top level") -> Any:
    """``value`` (parsed JSON) as ``kind``: a dataclass, ``X | None``, ``list[X]``,
    ``dict[str, X]``, a ``Literal``, ``int``, ``float``, ``str``, ``bool`` or ``Any``.

    Keys a dataclass does not declare are left out, so that files of newer writers stay
    readable; a declared key without a default must be present.

    Raises
    ------
    LayoutError
        Naming the first place (``models.t4.cv.k``) whose value does not fit.

    Examples
    --------
    >>> from mpx_eval.summary.layout import Interval
    >>> from_json(Interval, {"low": 0.5, "high": 1, "method": "Wilson", "n_dropped": 0})
    Interval(low=0.5, high=1.0, method='Wilson', n_dropped=0)
    >>> from_json(Interval, {"low": 0.5, "high": "1", "method": "Wilson", "n_dropped": 0})
    Traceback (most recent call last):
    ...
    mpx_eval.summary._from_json.LayoutError: the top level.high is str '1', not a number
    """
    if kind is Any:
        return value
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        return _union(args, value, where)
    if origin is Literal:
        if value not in args or isinstance(value, bool) != isinstance(args[0], bool):
            raise LayoutError(where, f"is {_describe(value)}, not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(kind):
        return _object(kind, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise LayoutError(where, f"is {_describe(value)}, not an object")
        return {key: from_json(args[1], item, f"{where}.{key}") for key, item in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise LayoutError(where, f"is {_describe(value)}, not a list")
        return [from_json(args[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
    return _scalar(kind, value, where)
