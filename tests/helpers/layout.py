"""A strict check that a JSON value is laid out exactly as a layout dataclass declares: every
key declared, the required ones present, in declared order, each of its declared type. The
package's reader is lenient (a newer writer's extra keys are left out); writers are held to
this."""

from __future__ import annotations

import dataclasses
import types
import typing

from mpx_eval.summary._from_json import JSON_KEY, REST


def _check_union(value, args, where: str, ordered: bool) -> None:
    """``value`` fits one of the union's members (None only where the union allows it)."""
    if value is None:
        assert type(None) in args, f"{where} is None"
        return
    errors = []
    for option in (a for a in args if a is not type(None)):
        try:
            check(value, option, where, ordered)
            return
        except AssertionError as error:
            errors.append(str(error))
    raise AssertionError("; ".join(errors))


def _field_of(kind) -> dict:
    """Each key of the file -> (its position among the fields, its type); the rest field's
    keys under ``REST``."""
    hints = typing.get_type_hints(kind)
    keys, rest = {}, None
    for position, f in enumerate(dataclasses.fields(kind)):
        if REST in f.metadata:
            rest = (position, typing.get_args(hints[f.name])[1], f.metadata[REST])
        else:
            keys[f.metadata.get(JSON_KEY, f.name)] = (position, hints[f.name], f)
    return {"keys": keys, "rest": rest}


def _check_dataclass(value, kind, where: str, ordered: bool) -> None:
    assert isinstance(value, dict), f"{where} is not a dict"
    layout = _field_of(kind)
    keys, rest = layout["keys"], layout["rest"]
    unknown = [k for k in value if k not in keys and not (rest and k in rest[2])]
    assert not unknown, f"{where} has keys {unknown} that {kind.__name__} does not declare"
    missing = [
        k
        for k, (_, _, f) in keys.items()
        if k not in value
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    assert not missing, f"{where} lacks {missing}"
    positions = [keys[k][0] if k in keys else rest[0] for k in value]
    assert not ordered or positions == sorted(positions), f"{where}: key order"
    for key, item in value.items():
        check(item, keys[key][1] if key in keys else rest[1], f"{where}[{key!r}]", ordered)


def check(value, kind, where: str, ordered: bool = True) -> None:
    """Raise AssertionError naming the first place where ``value`` does not fit ``kind``;
    ``ordered``: the keys must also come in declared order."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is typing.Any:
        return
    if origin in (typing.Union, types.UnionType):
        _check_union(value, args, where, ordered)
    elif origin is typing.Literal:
        assert value in args, f"{where} is {value!r}, not one of {args}"
    elif dataclasses.is_dataclass(kind):
        _check_dataclass(value, kind, where, ordered)
    elif origin is dict:
        assert isinstance(value, dict), f"{where} is not a dict"
        for key, item in value.items():
            assert isinstance(key, args[0]), f"{where} has key {key!r}"
            check(item, args[1], f"{where}[{key!r}]", ordered)
    elif origin is list:
        assert isinstance(value, list), f"{where} is not a list"
        for i, item in enumerate(value):
            check(item, args[0], f"{where}[{i}]", ordered)
    elif kind is float:
        assert type(value) is float, f"{where} is {value!r}, not a float"
    else:
        assert type(value) is kind, f"{where} is {value!r}, not {kind.__name__}"
