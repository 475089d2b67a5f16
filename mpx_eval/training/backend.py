"""The Keras side of a process: its quiet import, the device it trains on and the precision
policy. Keras is imported only by :func:`load_training`, never by importing this module.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import NamedTuple

from ..errors import MpxEvalError
from ..system import cpu_has_bf16, usable_cpus


class Training(NamedTuple):
    """What :func:`load_training` returns: the train and models modules, and the device."""

    train: ModuleType
    models: ModuleType
    device_info: dict


def import_keras() -> ModuleType:
    """``import keras``, with a backend that does not exist or does not import (a mistyped
    KERAS_BACKEND, a broken JAX) as one MpxEvalError line rather than an internal error."""
    try:
        import keras
    except Exception as exc:  # Keras raises ValueError, ImportError or the backend's own
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        raise MpxEvalError(
            f"Keras cannot start with the backend {backend!r} ({type(exc).__name__}: "
            f"{str(exc).strip() or 'no message'}); set KERAS_BACKEND to tensorflow or jax "
            "and check that it is installed"
        ) from None
    return keras


def load_training(device: str, *, threads: int | None = None) -> Training:
    """Import the Keras side (models, train) quietly and choose the device.

    TensorFlow prints start-up notices on stderr before its logging is set up; they are
    hidden unless MPX_EVAL_DEBUG is set.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # JAX's counterpart of TensorFlow's memory growth: take GPU memory as needed, so that
    # several units (Ray tasks) can share a GPU and a benchmark can run beside a run
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if device == "cpu":
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if os.environ.get("MPX_EVAL_DEBUG") or "keras" in sys.modules:
        import_keras()
        from . import models, train

        return Training(train, models, configure_device(device, threads=threads))
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import_keras()
        from . import models, train

        info = configure_device(device, threads=threads)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return Training(train, models, info)


def configure_device(device: str, *, threads: int | None = None) -> dict:
    """Pick the device for this process and say what it is.

    TensorFlow: the first visible GPU with memory growth, or the CPU with one intra-op thread
    per usable core (or ``threads``) and one inter-op thread (on 2 cores a second one ran T4
    a few per cent faster but raised a run's peak memory by 0.12 GB). JAX: its default
    device, restricted to the CPU when asked. On a CPU, ``bf16`` says whether it has bfloat16
    instructions. Raises MpxEvalError for ``gpu`` without a GPU.
    """
    import keras

    backend = keras.backend.backend()
    info: dict = {"backend": backend, "requested": device}
    if backend == "tensorflow":
        info.update(_tensorflow_device(device, threads))
    elif backend == "jax":
        import jax

        _persistent_jax_cache()
        gpus = [d for d in jax.devices() if d.platform == "gpu"] if device != "cpu" else []
        if device == "gpu" and not gpus:
            raise MpxEvalError("--device gpu: JAX sees no GPU (install a CUDA build of jax)")
        if gpus:
            info.update(kind="gpu", name=gpus[0].device_kind)
        else:
            info.update(
                kind="cpu", name="CPU", threads=threads or usable_cpus(), bf16=cpu_has_bf16()
            )
    else:
        if device == "gpu":
            raise MpxEvalError(f"--device gpu is supported with TensorFlow and JAX, not {backend}")
        info.update(kind="cpu", name="CPU (backend default)", threads=usable_cpus())
    return info


def _tensorflow_device(device: str, threads: int | None) -> dict:
    import tensorflow as tf

    # each unit's fresh model traces its own functions; TF's retracing advice is noise here
    tf.get_logger().setLevel("ERROR")
    gpus = tf.config.list_physical_devices("GPU")
    try:
        if device == "cpu" or not gpus:
            tf.config.set_visible_devices([], "GPU")
            gpus = []
        else:
            tf.config.set_visible_devices(gpus[0], "GPU")
            tf.config.experimental.set_memory_growth(gpus[0], True)
        threads = threads or usable_cpus()
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already configured earlier in this process; the first choice stands
    if device == "gpu" and not gpus:
        raise MpxEvalError(
            "--device gpu: TensorFlow sees no GPU (check the driver and a CUDA build of "
            "TensorFlow, or use --device cpu)"
        )
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return {
            "kind": "gpu",
            "name": details.get("device_name", gpus[0].name),
            "compute_capability": details.get("compute_capability"),
        }
    return {
        "kind": "cpu",
        "name": "CPU",
        "threads": tf.config.threading.get_intra_op_parallelism_threads() or usable_cpus(),
        "bf16": cpu_has_bf16(),
    }


def _persistent_jax_cache() -> None:
    """Keep JAX's compiled programs in the user cache folder (``jax/`` under mpx_eval's),
    so that a second run of the same models does not compile them again. An unwritable
    folder only costs the compilation."""
    import jax

    from ..data.demo import cache_root

    folder = cache_root() / "jax"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def precision_policy(precision: str, device_info: dict) -> str:
    """The Keras dtype policy for ``--precision``.

    ``auto`` is bfloat16 compute with float32 weights (``mixed_bfloat16``) for TensorFlow on
    a CPU with bfloat16 instructions, where it trained T4 about 1.5 times as fast with
    accuracy within fold-to-fold noise; float32 everywhere else. ``mixed`` is bfloat16 on
    CPUs and recent GPUs, float16 on GPUs older than compute capability 8.0.
    """
    if precision == "float32":
        return "float32"
    if precision == "auto":
        fast_bf16 = (
            device_info.get("kind") == "cpu"
            and device_info.get("backend") == "tensorflow"
            and device_info.get("bf16", False)
        )
        return "mixed_bfloat16" if fast_bf16 else "float32"
    capability = device_info.get("compute_capability")
    if device_info.get("kind") == "gpu" and capability and tuple(capability) < (8, 0):
        return "mixed_float16"
    return "mixed_bfloat16"
