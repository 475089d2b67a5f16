"""The JSON Schema of ``metrics.json``, generated from its typed layout and shipped with the
package (``metrics.schema.json``) so that other programs can check the file they read.

The layout's dataclasses are the one description of the file: the schema is made from them
(:func:`generate`), and a test keeps the shipped file equal to what they make. The whole
file's layout is :class:`mpx_eval.assessment.layout.RunMetrics`; regenerate the file with
``python -m mpx_eval.assessment.layout > mpx_eval/summary/metrics.schema.json``.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from importlib import resources
from typing import Annotated, Any, Literal, Union

from ._from_json import JSON_KEY, REST

_SCALARS = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}


@dataclasses.dataclass(frozen=True)
class Limits:
    """What a value's type alone does not say, for the schema: bounds and sizes."""

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    min_items: int | None = None

    def schema(self) -> dict:
        names = {
            "minimum": "minimum",
            "maximum": "maximum",
            "exclusive_minimum": "exclusiveMinimum",
            "exclusive_maximum": "exclusiveMaximum",
            "min_items": "minItems",
        }
        return {
            names[f.name]: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }


#: A proportion, an AUC or a p-value: between 0 and 1, None where undefined.
Probability = Annotated[float | None, Limits(minimum=0, maximum=1)]
#: A count of images, folds or resamples.
Count = Annotated[int, Limits(minimum=0)]
#: A count that is at least one (folds of a cross-validation, images of a fold).
PositiveCount = Annotated[int, Limits(minimum=1)]


def _union(args: tuple, defs: dict) -> dict:
    if all(a in _SCALARS for a in args):
        return {"type": [_SCALARS[a] for a in args]}
    options = [schema_of(a, defs) for a in args if a is not type(None)]
    if type(None) in args:
        options.insert(0, {"type": "null"})
    return {"oneOf": options}


def _object(kind: type, defs: dict) -> dict:
    name = kind.__name__
    if name not in defs:
        defs[name] = {}  # a placeholder while its fields are described
        hints = typing.get_type_hints(kind, include_extras=True)
        properties, required = {}, []
        for f in dataclasses.fields(kind):
            if REST in f.metadata:
                item = schema_of(typing.get_args(hints[f.name])[1], defs)
                properties.update({key: item for key in sorted(f.metadata[REST])})
                continue
            key = f.metadata.get(JSON_KEY, f.name)
            properties[key] = schema_of(hints[f.name], defs)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.append(key)
        doc = (kind.__doc__ or "").strip().split("\n\n")[0]
        defs[name] = {
            "description": " ".join(doc.split()),
            "type": "object",
            "required": required,
            "properties": properties,
        }
    return {"$ref": f"#/$defs/{name}"}


def schema_of(kind: Any, defs: dict) -> dict:
    """The JSON Schema of a layout type; the dataclasses it uses go into ``defs``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Annotated:
        return {**schema_of(args[0], defs), **args[1].schema()}
    if kind is Any:
        return {}
    if origin in (Union, types.UnionType):
        return _union(args, defs)
    if origin is Literal:
        return {"enum": list(args)}
    if dataclasses.is_dataclass(kind):
        return _object(kind, defs)
    if origin is list:
        return {"type": "array", "items": schema_of(args[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": schema_of(args[1], defs)}
    return {"type": _SCALARS[kind]}


def generate(layout: type) -> dict:
    """The whole schema of a file laid out as ``layout`` (a dataclass)."""
    defs: dict = {}
    top = _object(layout, defs)["$ref"].rsplit("/", 1)[1]
    root = defs.pop(top)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mpx-eval.invalid/metrics.schema.json",
        "title": "mpx_eval metrics.json",
        "description": root["description"]
        + " Generated from mpx_eval.summary.layout and mpx_eval.assessment.layout. NaN and "
        "infinities are written as null. Keys not listed here are allowed, so that newer "
        "writers stay readable.",
        "type": "object",
        "required": root["required"],
        "properties": root["properties"],
        "$defs": dict(sorted(defs.items())),
    }


def metrics_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of ``metrics.json``, as a dict.

    It fixes the keys and types a reader may rely on and leaves room for keys it does not
    list. Check a file with any JSON Schema validator, e.g.
    ``jsonschema.validate(json.load(f), metrics_json_schema())``.

    Examples
    --------
    >>> from mpx_eval.summary import metrics_json_schema
    >>> schema = metrics_json_schema()
    >>> schema["required"]
    ['classes', 'models', 'comparisons']
    """
    text = resources.files(__package__).joinpath("metrics.schema.json").read_text("utf-8")
    return json.loads(text)
