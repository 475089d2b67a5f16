"""Training one unit (a model on one split) and choosing the device and precision.

The checkpoint is the epoch with the best validation accuracy (ties: the earlier epoch); the
test part's numbers are recorded every epoch for the curves and never choose anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from .errors import MpxEvalError
from .models import ModelSpec, build, outputs_probabilities
from .system import usable_cpus

EVAL_BATCH = 128


def configure_device(device: str, *, threads: int | None = None) -> dict:
    """Pick the device for this process and say what it is.

    TensorFlow: the first visible GPU with memory growth, or the CPU with one intra-op thread
    per usable core, or ``threads``. JAX: its default device,
    restricted to the CPU when asked. Raises MpxEvalError for ``gpu`` without a GPU.
    """
    backend = keras.backend.backend()
    info: dict = {"backend": backend, "requested": device}
    if backend == "tensorflow":
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
            tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
        except RuntimeError:
            pass  # already configured earlier in this process; the first choice stands
        if device == "gpu" and not gpus:
            raise MpxEvalError(
                "--device gpu: TensorFlow sees no GPU (check the driver and a CUDA build of "
                "TensorFlow, or use --device cpu)"
            )
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            info.update(
                kind="gpu",
                name=details.get("device_name", gpus[0].name),
                compute_capability=details.get("compute_capability"),
            )
        else:
            info.update(
                kind="cpu",
                name="CPU",
                threads=tf.config.threading.get_intra_op_parallelism_threads() or usable_cpus(),
            )
    elif backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"] if device != "cpu" else []
        if device == "gpu" and not gpus:
            raise MpxEvalError("--device gpu: JAX sees no GPU (install a CUDA build of jax)")
        if gpus:
            info.update(kind="gpu", name=gpus[0].device_kind)
        else:
            info.update(kind="cpu", name="CPU", threads=threads or usable_cpus())
    else:
        if device == "gpu":
            raise MpxEvalError(f"--device gpu is supported with TensorFlow and JAX, not {backend}")
        info.update(kind="cpu", name="CPU (backend default)", threads=usable_cpus())
    return info


def precision_policy(precision: str, device_info: dict) -> str:
    """The Keras dtype policy for ``--precision``.

    ``auto`` is float32: on the 2-core CPUs measured, bfloat16 gained too little to pay for
    its rounding. ``mixed`` is bfloat16 compute with float32 weights on CPUs and recent GPUs,
    float16 on GPUs older than compute capability 8.0.
    """
    if precision in ("auto", "float32"):
        return "float32"
    capability = device_info.get("compute_capability")
    if device_info.get("kind") == "gpu" and capability and tuple(capability) < (8, 0):
        return "mixed_float16"
    return "mixed_bfloat16"


@dataclass
class UnitResult:
    """What training one unit returns: plain data, no model."""

    history: list[dict]
    best_epoch: int
    eval_index: np.ndarray  # rows of the image set that were predicted (test, or seed's val)
    probs_best: np.ndarray
    probs_last: np.ndarray
    params: int
    seconds: float
    seconds_per_epoch: list[float] = field(default_factory=list)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _loss_acc(logp: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(y) == 0:
        return float("nan"), float("nan")
    loss = float(-logp[np.arange(len(y)), y].mean())
    acc = float((logp.argmax(axis=1) == y).mean())
    return loss, acc


class _EpochEvaluator(keras.callbacks.Callback):
    """After each epoch: predict the validation and test parts in one batched pass, record
    their loss and accuracy, and keep the probabilities of the best and the last epoch."""

    def __init__(self, x_val, y_val, x_test, y_test, probabilities: bool, on_epoch):
        super().__init__()
        self.x_eval = np.concatenate([x_val, x_test]) if len(x_test) else x_val
        self.n_val = len(x_val)
        self.y_val, self.y_test = y_val, y_test
        self.probabilities = probabilities
        self.on_epoch = on_epoch
        self.history: list[dict] = []
        self.seconds: list[float] = []
        self.best_acc = -1.0
        self.best_epoch = 0
        self.best_logp: np.ndarray | None = None
        self.last_logp: np.ndarray | None = None
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        out = self.model.predict(self.x_eval, batch_size=EVAL_BATCH, verbose=0)
        out = np.asarray(out, dtype=np.float64)
        logp = np.log(np.clip(out, 1e-12, 1.0)) if self.probabilities else _log_softmax(out)
        val_loss, val_acc = _loss_acc(logp[: self.n_val], self.y_val)
        test_loss, test_acc = _loss_acc(logp[self.n_val :], self.y_test)
        logs = logs or {}
        row = {
            "epoch": epoch + 1,
            "loss": float(logs.get("loss", np.nan)),
            "accuracy": float(logs.get("accuracy", np.nan)),
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "test_loss": test_loss,
            "test_accuracy": test_acc,
        }
        self.history.append(row)
        # the seed split reports on its validation part; cv folds on their test part
        reported = logp[self.n_val :] if len(self.y_test) else logp[: self.n_val]
        if val_acc > self.best_acc:  # strict: ties keep the earlier epoch
            self.best_acc, self.best_epoch, self.best_logp = val_acc, epoch + 1, reported
        self.last_logp = reported
        self.seconds.append(time.perf_counter() - self._t0)
        if self.on_epoch is not None:
            self.on_epoch(row, self.seconds[-1])


def train_unit(
    spec: ModelSpec,
    x: np.ndarray,
    y: np.ndarray,
    *,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    num_classes: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    policy: str = "float32",
    on_epoch: Callable[[dict, float], None] | None = None,
) -> UnitResult:
    """Train a fresh model on ``x[train]`` and evaluate every epoch on ``val`` and ``test``.

    ``x`` is the whole image set as uint8 at the model's input size; the model rescales.
    Shuffling, initialisation and dropout are seeded with ``seed``.
    """
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = build(spec, x.shape[1], num_classes)
        probabilities = outputs_probabilities(model)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities),
            metrics=["accuracy"],
        )
        evaluator = _EpochEvaluator(x[val], y[val], x[test], y[test], probabilities, on_epoch)
        model.fit(
            x[train],
            y[train],
            batch_size=batch_size,
            epochs=epochs,
            shuffle=True,
            callbacks=[evaluator],
            verbose=0,
        )
        params = int(model.count_params())
    finally:
        keras.mixed_precision.set_global_policy("float32")
        keras.backend.clear_session()
    return UnitResult(
        history=evaluator.history,
        best_epoch=evaluator.best_epoch,
        eval_index=test if len(test) else val,
        probs_best=np.exp(evaluator.best_logp),
        probs_last=np.exp(evaluator.last_logp),
        params=params,
        seconds=time.perf_counter() - started,
        seconds_per_epoch=evaluator.seconds,
    )
