"""The JSON Schema of ``metrics.json`` (what :func:`summarize_predictions` returns, typed in
:mod:`mpx_eval.summary.layout`), shipped with the package so that other programs can check
the file they read."""

from __future__ import annotations

import json
from importlib import resources


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
