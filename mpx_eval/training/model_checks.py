"""What a saved model must satisfy before predict uses it, checked without trusting it: its
.keras archive is one Keras can read and names no code outside Keras, the model takes square
RGB images and gives one value per class, and the model.json beside it agrees with both."""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from ..atomic import loads
from ..config import check_image_size
from ..errors import MpxEvalError
from .models import outputs_probabilities
from .untrusted import is_clean, not_a_file, read_small, shown

#: Largest config.json read from a .keras archive (T4's is 6 kB).
CONFIG_BYTES = 16 << 20
#: What a user builder named in model.json looks like (``package.module:function``).
_BUILDER = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


# ---- before Keras reads anything: model.json and the archive


def read_record(info_file: Path | None) -> dict:
    """model.json as a dict (empty when there is none); its values are checked against the
    model later."""
    if info_file is None or not os.path.lexists(info_file):
        return {}
    try:
        record = loads(read_small(info_file))
    except ValueError as exc:
        raise MpxEvalError(
            f"{shown(info_file)} is not valid JSON ({exc}); it may be damaged"
        ) from None
    if not isinstance(record, dict):
        raise MpxEvalError(
            f"{shown(info_file)} holds a JSON {type(record).__name__}, not an object with the "
            "model's class_names and input_size; it may be damaged (without it the model's "
            "own shapes are used)"
        )
    return record


def record_builder(record: dict) -> str | None:
    """The user builder model.json names (``package.module:function``); None when it names
    none, or something that does not look like one."""
    builder = record.get("model")
    return builder if isinstance(builder, str) and _BUILDER.match(builder) else None


def read_config(model_file: Path) -> Any:
    """The architecture a .keras archive stores (its config.json), read without Keras; an
    error naming the file when it is not a Keras archive that can be read."""
    problem = not_a_file(model_file)
    if problem is not None:
        raise MpxEvalError(f"--model {shown(model_file)} {problem}; a .keras file is needed")
    damaged = f"--model {shown(model_file)} is damaged or not a Keras model file"
    if model_file.stat().st_size == 0:
        raise MpxEvalError(f"{damaged}: it is empty (0 bytes)")
    try:
        with zipfile.ZipFile(model_file) as archive:
            entry = archive.getinfo("config.json")
            if entry.file_size > CONFIG_BYTES:
                raise MpxEvalError(f"{damaged}: its config.json is {entry.file_size:,} bytes")
            return loads(archive.read(entry).decode("utf-8"))
    except zipfile.BadZipFile as exc:
        raise MpxEvalError(f"{damaged} ({exc}; it may be truncated)") from None
    except KeyError:
        raise MpxEvalError(f"{damaged} (its archive holds no config.json)") from None
    except (OSError, ValueError, EOFError, NotImplementedError, zlib.error) as exc:
        raise MpxEvalError(f"{damaged} ({type(exc).__name__}: {shown(str(exc))})") from None


def _keras_module(module: Any, class_name: Any) -> bool:
    """Whether an object a config.json names comes from Keras itself. Keras stores its own
    functions (activations, ops) as module ``builtins``, class ``function``, and looks those
    up among its own modules only."""
    if not isinstance(module, str):
        return False
    if module == "keras" or module.startswith("keras."):
        return True
    return module == "builtins" and class_name == "function"


def code_outside_keras(config: Any) -> str | None:
    """The first code a model's config.json names outside Keras: a user's module (its
    layers or functions, which loading would import) or a Python lambda stored as bytecode;
    None when Keras's own classes and functions make the whole model."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
            name, module = item.get("class_name"), item.get("module")
            if name == "__lambda__":
                return "a Python lambda stored as bytecode"
            if name is not None and module is not None and not _keras_module(module, name):
                return f"{shown(str(module))}.{shown(str(name))}"
    return None


# ---- after Keras loaded it: the model's shapes, and model.json against the model


def model_shapes(model: Any, where: str) -> tuple[int | None, int]:
    """The side of the square RGB images ``model`` takes (None: any size) and its number of
    classes; an error saying what does not fit otherwise."""
    try:
        inputs, outputs = list(model.inputs or []), list(model.outputs or [])
    except (AttributeError, ValueError, TypeError):
        inputs, outputs = [], []
    if len(inputs) != 1:
        raise MpxEvalError(
            f"--model {where} takes {len(inputs)} inputs; predict needs a model with one input "
            "of RGB images, shape (None, size, size, 3)"
        )
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[3] != 3:
        raise MpxEvalError(
            f"--model {where} takes inputs of shape {shape}; predict needs RGB images, shape "
            "(None, size, size, 3)"
        )
    if shape[1] != shape[2]:
        raise MpxEvalError(
            f"--model {where} takes {shape[1]}x{shape[2]} images; predict decodes square "
            "images, as training does"
        )
    if shape[1] is not None:
        check_image_size(shape[1], f"--model {where}: its input size")
    if len(outputs) != 1:
        raise MpxEvalError(
            f"--model {where} has {len(outputs)} outputs; predict needs one output with one "
            "value per class"
        )
    out = tuple(outputs[0].shape)
    if len(out) != 2 or not isinstance(out[1], int) or out[1] < 2:
        raise MpxEvalError(
            f"--model {where} outputs shape {out}; predict needs (None, classes) with at least "
            "2 classes, one value per class (a single sigmoid output does not say which class "
            "it scores)"
        )
    return shape[1], out[1]


def record_size(record: dict, model_size: int | None, where: str) -> int:
    """The input size: the model's own, which model.json's ``input_size`` must match."""
    value = record.get("input_size")
    if value is None:
        if model_size is None:
            raise MpxEvalError(
                f"--model {where} takes images of any size and no model.json gives its "
                "input_size; add one (an integer) beside the model"
            )
        return model_size
    check_image_size(value, f"--model {where}: model.json's input_size")
    if model_size is not None and value != model_size:
        raise MpxEvalError(
            f"--model {where}: model.json says input_size {value}, but the model takes "
            f"{model_size}x{model_size} images; model.json does not describe this model"
        )
    return value


def record_classes(record: dict, n_classes: int, where: str) -> list[str]:
    """The class names: model.json's, one per model output, or ``class_0``, ``class_1``..."""
    names = record.get("class_names")
    if names is None and record:  # a model.json that does not name the classes
        raise MpxEvalError(
            f"--model {where}: model.json has no class_names; it does not describe the "
            "model (give the .keras file alone to get columns class_0, class_1, ...)"
        )
    if names is None:
        return [f"class_{i}" for i in range(n_classes)]
    what = f"--model {where}: model.json's class_names"
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise MpxEvalError(f"{what} must be a list of names, got {shown(repr(names))[:80]}")
    bad = next((n for n in names if not is_clean(n)), None)
    if bad is not None:
        raise MpxEvalError(f"{what} holds {shown(repr(bad))}, which cannot name a class")
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise MpxEvalError(f"{what} names {twice!r} twice; each class needs its own column")
    if len(names) != n_classes:
        raise MpxEvalError(
            f"--model {where} has {n_classes} outputs but model.json names {len(names)} "
            "classes; model.json does not describe this model"
        )
    return names


def record_outputs(record: dict, model: Any, where: str) -> bool:
    """Whether the model's outputs are probabilities, from its last layer; model.json's
    ``outputs`` must say the same."""
    probabilities = outputs_probabilities(model)
    said = record.get("outputs")
    if said is None:
        return probabilities
    if said not in ("probabilities", "logits"):
        raise MpxEvalError(
            f"--model {where}: model.json's outputs must be 'probabilities' or 'logits', got "
            f"{shown(repr(said))[:80]}"
        )
    if (said == "probabilities") != probabilities:
        found = "ends in a softmax" if probabilities else "ends in no softmax (logits)"
        raise MpxEvalError(
            f"--model {where}: model.json says its outputs are {said}, but the model {found}; "
            "model.json does not describe this model (fix it, or remove its outputs field)"
        )
    return probabilities


def record_name(record: dict, default: str, where: str) -> str:
    name = record.get("unit")
    if name is None:
        return default
    if not isinstance(name, str) or not is_clean(name):
        raise MpxEvalError(
            f"--model {where}: model.json's unit {shown(repr(name))[:80]} is not a name"
        )
    return name
