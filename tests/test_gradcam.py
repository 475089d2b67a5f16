"""Grad-CAM on a model in memory: shape, range, image-specific maps, the layer choice, and
the same maps with the JAX backend as with TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mpx_eval.errors import MpxEvalError  # noqa: E402
from mpx_eval.training.gradcam import gradcam, last_conv_layer  # noqa: E402
from mpx_eval.training.models import t3, t4  # noqa: E402

from .conftest import REPO, random_image  # noqa: E402


def _images(n: int = 2, size: int = 48) -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.stack([np.asarray(random_image(rng, size, label=i)) for i in range(n)])


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return t4((48, 48, 3), 2)


def test_heatmaps_have_the_image_shape_and_differ_between_images(model):
    x = _images()
    maps = gradcam(model, x, class_index=0)
    assert maps.shape == (2, 48, 48) and maps.dtype == np.uint8
    assert np.isfinite(maps.astype(float)).all()
    # each map is scaled by its own maximum (bilinear upsampling lowers a lone peak a little)
    assert (maps.reshape(2, -1).max(axis=1) > 200).all()
    assert not np.array_equal(maps[0], maps[1])


def test_heatmaps_at_another_size_and_for_the_predicted_class(model):
    x = _images()
    maps = gradcam(model, x, size=96)
    assert maps.shape == (2, 96, 96)
    predicted = np.asarray(model.predict_on_batch(x)).argmax(axis=1)
    assert np.array_equal(maps, gradcam(model, x, class_index=predicted, size=96))


def test_the_last_convolutional_layer_is_the_default():
    model = t3((48, 48, 3), 2)
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert last_conv_layer(model) == convs[-1]
    first = gradcam(model, _images(), layer=convs[0], class_index=1)
    assert first.shape == (2, 48, 48)


def test_a_model_without_convolution_or_a_missing_layer_is_named():
    dense = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2)], name="flat"
    )
    with pytest.raises(MpxEvalError, match="'flat' has no convolutional layer"):
        gradcam(dense, np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(MpxEvalError, match="no layer 'nope'"):
        gradcam(t4((48, 48, 3), 2), _images(1), layer="nope")
    with pytest.raises(ValueError, match=r"shape \(48, 48, 3\)"):
        gradcam(t4((48, 48, 3), 2), _images(1)[0])


JAX_SCRIPT = """
import sys, numpy as np, keras
from mpx_eval.training.gradcam import gradcam
assert keras.backend.backend() == "jax"
model = keras.saving.load_model(sys.argv[1], compile=False)
np.save(sys.argv[3], gradcam(model, np.load(sys.argv[2]), class_index=0))
"""


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras saving TF variables
def test_jax_backend_gives_the_same_heatmaps(model, tmp_path):
    pytest.importorskip("jax")
    x = _images()
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "PYTHONPATH": str(REPO), "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    files = [str(tmp_path / name) for name in ("m.keras", "x.npy", "jax.npy")]
    done = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, *files], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    jax_maps = np.load(tmp_path / "jax.npy")
    tf_maps = gradcam(model, x, class_index=0)
    assert jax_maps.shape == tf_maps.shape
    assert np.abs(jax_maps.astype(int) - tf_maps.astype(int)).max() <= 2
