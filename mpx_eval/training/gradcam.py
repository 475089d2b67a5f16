"""Grad-CAM: where in an image a Keras classifier found the evidence for a class.

Owns the choice of layer and the gradient, one implementation per backend (TensorFlow's
``GradientTape``, ``jax.grad`` over ``stateless_call``); usable on any saved model.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from PIL import Image

from ..errors import MpxEvalError

#: Convolutional layer types whose output map Grad-CAM can weigh.
CONV_LAYERS = (
    keras.layers.Conv2D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv2DTranspose,
)
BATCH = 16


def last_conv_layer(model: keras.Model) -> str | None:
    """Name of the model's last top-level convolutional layer, or None when it has none
    (a model that wraps another one as a single layer counts as having none: name a layer
    inside it instead)."""
    convs = [layer.name for layer in model.layers if isinstance(layer, CONV_LAYERS)]
    return convs[-1] if convs else None


def _split_at(model: keras.Model, layer_name: str) -> tuple[keras.Model, keras.Model]:
    """The model as two: input -> the layer's output map, and that map -> the class scores.

    The second part exists when every path from the input to the output passes through the
    layer (true of T3, T4 and any plain chain of layers); a skip connection around it does
    not, and is reported.
    """
    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        raise MpxEvalError(
            f"Grad-CAM: the model has no layer {layer_name!r} "
            f"(its layers: {', '.join(x.name for x in model.layers)})"
        ) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras notes the inputs' structure; harmless here
            if isinstance(model, keras.Sequential):
                # a reloaded Sequential rebuilds its graph, and its layers' recorded outputs
                # then belong to no single graph: chain the layers anew on both sides
                at = model.layers.index(layer) + 1
                front = _chain(model.layers[:at], model.inputs[0].shape[1:])
                back = _chain(model.layers[at:], layer.output.shape[1:])
            else:
                front = keras.Model(model.inputs[0], layer.output)
                back = keras.Model(layer.output, model.outputs[0])
    except Exception as exc:  # subclassed models, or a path that bypasses the layer
        raise MpxEvalError(
            f"Grad-CAM: cannot separate {model.name!r} at layer {layer_name!r} "
            f"({type(exc).__name__}: {exc}); a functional or Sequential model whose output "
            "depends on the input only through that layer is needed"
        ) from None
    return front, back


def _chain(layers: list, input_shape) -> keras.Model:
    inputs = keras.Input(shape=tuple(input_shape))
    outputs = inputs
    for layer in layers:
        outputs = layer(outputs)
    return keras.Model(inputs, outputs)


def _gradients(back: keras.Model, maps, class_index: np.ndarray) -> np.ndarray:
    """d(score of ``class_index[i]``) / d(maps[i]) for each image, as float32."""
    backend = keras.backend.backend()
    picks = np.eye(back.outputs[0].shape[-1], dtype=np.float32)[class_index]
    if backend == "tensorflow":
        import tensorflow as tf

        maps = tf.convert_to_tensor(maps)
        with tf.GradientTape() as tape:
            tape.watch(maps)
            scores = tf.reduce_sum(tf.cast(back(maps, training=False), "float32") * picks)
        return np.asarray(tape.gradient(scores, maps), dtype=np.float32)
    if backend == "jax":
        import jax

        trainable = [v.value for v in back.trainable_variables]
        frozen = [v.value for v in back.non_trainable_variables]

        def score(a):
            out, _ = back.stateless_call(trainable, frozen, a, training=False)
            return (out.astype("float32") * picks).sum()

        return np.asarray(jax.grad(score)(maps), dtype=np.float32)
    raise MpxEvalError(
        f"Grad-CAM is implemented for the TensorFlow and JAX backends, not {backend}"
    )


def gradcam(
    model: keras.Model,
    images: np.ndarray,
    *,
    class_index: int | np.ndarray | None = None,
    layer: str | None = None,
    size: int | tuple[int, int] | None = None,
) -> np.ndarray:
    """Grad-CAM heatmaps of ``images`` (uint8, ``(n, h, w, 3)``, as the model takes them).

    For each image: the gradient of the class score (``class_index``, default the predicted
    class) with respect to ``layer``'s output map (default the last convolutional layer),
    averaged over the map's positions, weighs the map's channels; their sum, without its
    negative part, scaled to 0-255 by the image's own maximum and resized bilinearly to
    ``size`` (default the images' size), is returned as uint8 ``(n, h, w)``. An image with
    no positive evidence gets an all-zero map.

    Raises MpxEvalError when the model has no convolutional layer (and none is named), the
    named layer does not exist, or the model cannot be split at that layer.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (n, height, width, 3), got shape {images.shape}")
    layer = layer or last_conv_layer(model)
    if layer is None:
        raise MpxEvalError(
            f"Grad-CAM: model {model.name!r} has no convolutional layer at its top level; "
            "name the layer to explain"
        )
    front, back = _split_at(model, layer)
    out_h, out_w = (size, size) if isinstance(size, int) else (size or images.shape[1:3])
    n = len(images)
    if class_index is None:
        chosen = None
    else:
        chosen = np.broadcast_to(np.asarray(class_index, dtype=np.int64), (n,))
    heatmaps = np.zeros((n, out_h, out_w), dtype=np.uint8)
    for start in range(0, n, BATCH):
        batch = images[start : start + BATCH]
        maps = front(batch, training=False)
        if chosen is None:
            scores = np.asarray(back(maps, training=False), dtype=np.float32)
            picks = scores.argmax(axis=1)
        else:
            picks = chosen[start : start + BATCH]
        grads = _gradients(back, maps, picks)
        values = np.asarray(maps, dtype=np.float32)
        weights = grads.mean(axis=(1, 2), keepdims=True)
        cams = np.maximum((values * weights).sum(axis=-1), 0.0)
        for i, cam in enumerate(cams, start=start):
            heatmaps[i] = _to_uint8(cam, out_h, out_w)
    return heatmaps


def _to_uint8(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    peak = float(cam.max()) if cam.size else 0.0
    if not np.isfinite(peak) or peak <= 0:
        return np.zeros((height, width), dtype=np.uint8)
    scaled = Image.fromarray((cam / peak).astype(np.float32), mode="F")
    resized = np.asarray(scaled.resize((width, height), Image.Resampling.BILINEAR))
    return np.clip(np.rint(resized * 255.0), 0, 255).astype(np.uint8)
