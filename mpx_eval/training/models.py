"""Model builders: the blog's T3 and T4 CNNs, a registry by name, and users' own builders.

A builder is ``function(input_shape, num_classes) -> keras.Model`` returning a new,
uncompiled model whose outputs are logits (or softmax probabilities, detected).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import layers

from ..config import BUILTIN_MODELS, check_image_size
from ..errors import MpxEvalError
from . import usercode

Builder = Callable[[tuple[int, int, int], int], keras.Model]


def _lesson_cnn(
    input_shape: tuple[int, int, int], num_classes: int, *, dropout_after_pooling: bool, name: str
) -> keras.Model:
    """The blog's CNN; T4 added a dropout after the second pooling to T3."""
    pooling_dropout = [layers.Dropout(0.3)] if dropout_after_pooling else []
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(16, 3, activation="relu"),
            layers.AveragePooling2D(2),
            layers.Conv2D(32, 3, activation="relu"),
            layers.AveragePooling2D(2),
            *pooling_dropout,
            layers.Conv2D(64, 3, activation="relu"),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            # float32 logits keep the loss stable under mixed precision; same parameters
            layers.Dense(num_classes, dtype="float32"),
        ],
        name=name,
    )


def t4(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The blog's T4 network: 22,175,138 parameters at 224x224x3 with 2 classes."""
    return _lesson_cnn(input_shape, num_classes, dropout_after_pooling=True, name="t4")


def t3(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The blog's T3 network (T4 without the dropout after the second pooling):
    13,794,722 parameters at 180x180x3 with 2 classes."""
    return _lesson_cnn(input_shape, num_classes, dropout_after_pooling=False, name="t3")


_BUILDERS: dict[str, Builder] = {"t3": t3, "t4": t4}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Builder
    default_size: int


def resolve_model(name: str) -> ModelSpec:
    """Look up a built-in model or import ``package.module:function`` (syntax checked by the
    config)."""
    if name in _BUILDERS:
        return ModelSpec(name, _BUILDERS[name], BUILTIN_MODELS[name])
    module_name, func_name = name.split(":")
    module = usercode.import_module(module_name, f"model {name!r}")
    builder = getattr(module, func_name, None)
    if not callable(builder):
        raise MpxEvalError(f"model {name!r}: {module_name} has no function {func_name}")
    size = getattr(builder, "default_image_size", 224)
    check_image_size(size, f"model {name!r}: {func_name}.default_image_size")
    return ModelSpec(name, builder, size)


def build(spec: ModelSpec, size: int, num_classes: int) -> keras.Model:
    """A fresh model from ``spec`` for square RGB inputs of ``size`` pixels."""
    try:
        model = spec.builder((size, size, 3), num_classes)
    except BaseException as exc:
        if not usercode.is_users(exc):
            raise
        raise MpxEvalError(
            f"model {spec.name!r} failed to build for input {size}x{size}x3 and "
            f"{num_classes} classes ({usercode.describe(exc)})"
        ) from None
    if not isinstance(model, keras.Model):
        raise MpxEvalError(
            f"model {spec.name!r} returned {type(model).__name__}, not a keras.Model"
        )
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) > 1:
        raise MpxEvalError(
            f"model {spec.name!r} has {len(outputs)} outputs; mpx_eval trains models with one "
            f"output of {num_classes} values (one per class)"
        )
    out_shape = tuple(outputs[0].shape) if outputs else None
    if out_shape is not None and out_shape[-1] != num_classes:
        raise MpxEvalError(
            f"model {spec.name!r} ends in {out_shape[-1]} outputs; {num_classes} classes need "
            f"{num_classes}"
        )
    if out_shape is not None and len(out_shape) != 2:
        raise MpxEvalError(
            f"model {spec.name!r} outputs shape {out_shape}; mpx_eval needs (None, "
            f"{num_classes}): one value per class and image"
        )
    return model


def _is_softmax(function) -> bool:
    return getattr(function, "__name__", None) == "softmax"


def outputs_probabilities(model: keras.Model) -> bool:
    """True when the model already ends in a softmax (then the loss must not apply one),
    however it is written: a ``Softmax`` layer, ``Activation("softmax")`` or a layer's
    ``activation="softmax"``, also at the end of a nested model."""
    layer = model.layers[-1] if model.layers else None
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    if isinstance(layer, layers.Softmax):
        return True
    return _is_softmax(getattr(layer, "activation", None))


def layer_table(model: keras.Model) -> list[dict]:
    """Name, type, output shape and parameter count of every layer, for the report."""
    rows = []
    for layer in model.layers:
        try:
            shape = list(layer.output.shape)
        except (AttributeError, ValueError):
            shape = None
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": shape,
                "params": int(layer.count_params()),
            }
        )
    return rows


def describe_all(specs: dict[str, ModelSpec], sizes: dict[str, int], num_classes: int) -> dict:
    """models.json: :func:`describe` of each model in ``sizes``, in its order. Keras numbers
    layer names per session ("conv2d_3"); a fresh session first gives the names a new
    process gives them, whatever this process built before (a second run in one Python
    session, a Ray worker)."""
    keras.backend.clear_session()
    return {name: describe(specs[name], sizes[name], num_classes) for name in sizes}


def describe(spec: ModelSpec, size: int, num_classes: int) -> dict:
    """A model's entry in models.json: builder, input shape, parameter count and layer
    table, from one model built for the purpose."""
    model = build(spec, size, num_classes)
    return {
        "builder": spec.name if ":" in spec.name else f"mpx_eval.training.models:{spec.name}",
        "input_shape": [size, size, 3],
        "params": int(model.count_params()),
        "layers": layer_table(model),
    }
