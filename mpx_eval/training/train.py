"""Training one unit: a fresh model on one split (the device and precision: ``backend``).

The checkpoint is chosen on the validation part by a rule of ``mpx_eval.summary.checkpoints``;
the test part's numbers and every epoch's probabilities are recorded for the curves and for
rules that choose after all folds are trained, and never choose anything themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from ..summary.checkpoints import SEED_SPLIT_RULE, is_better, rule
from .models import ModelSpec, build, outputs_probabilities

EVAL_BATCH = 64


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
    diverged_at: int | None = None  # the epoch whose loss or outputs were not finite
    kept: dict = field(default_factory=dict)  # what the ``keep`` hook returned (plain data)
    # (epochs, n_val + n_test, classes) float32: every epoch's probabilities of the validation
    # rows, then the test rows
    probs_by_epoch: np.ndarray | None = None
    # (epochs, n_external, classes) float32: every epoch's probabilities of the external
    # images (None without external images); which epoch counts is the checkpoint rule's
    external_by_epoch: np.ndarray | None = None


def log_probabilities(out: np.ndarray, probabilities: bool) -> np.ndarray:
    """Log-probabilities of a model's outputs: its logits through a log-softmax, or its own
    probabilities renormalised in float64 (a softmax computed in bfloat16 can sum to 1.002,
    and every row written must sum to 1)."""
    if not probabilities:
        return _log_softmax(out)
    p = np.clip(out, 1e-12, None)
    return np.log(p / p.sum(axis=1, keepdims=True))


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


class _EpochEvaluator:
    """After each epoch: predict the validation and test parts together, in batches sliced
    from the image array, record their loss and accuracy and every epoch's probabilities,
    and keep those of the epoch ``checkpoint`` (a per-fold rule) chooses and of the last."""

    def __init__(
        self, model, x, y, val, test, probabilities: bool, on_epoch, keep_best=False,
        checkpoint: str = SEED_SPLIT_RULE, external=None,
    ):  # fmt: skip
        self.model = model
        self.checkpoint = rule(checkpoint).during_training
        self.by_epoch: list[np.ndarray] = []
        self.keep_best = keep_best
        self.best_weights: list[np.ndarray] | None = None
        self.x = x
        external = np.empty(0, np.int64) if external is None else np.asarray(external)
        self.rows = np.concatenate([val, test, external]).astype(np.int64)
        self.n_val, self.n_test = len(val), len(test)
        self.external_by_epoch: list[np.ndarray] | None = [] if len(external) else None
        self.y_val, self.y_test = y[val], y[test]
        self.probabilities = probabilities
        self.on_epoch = on_epoch
        self.history: list[dict] = []
        self.seconds: list[float] = []
        self.best_value: float | None = None
        self.best_epoch = 0
        self.best_logp: np.ndarray | None = None
        self.last_logp: np.ndarray | None = None
        self.diverged_at: int | None = None

    def stacked_external(self) -> np.ndarray | None:
        """Every epoch's external probabilities, (epochs, n_external, classes)."""
        return None if self.external_by_epoch is None else np.stack(self.external_by_epoch)

    def _outputs(self) -> np.ndarray:
        # predict_on_batch skips predict()'s per-call data pipeline and callbacks
        chunks = [
            np.asarray(self.model.predict_on_batch(self.x[self.rows[i : i + EVAL_BATCH]]))
            for i in range(0, len(self.rows), EVAL_BATCH)
        ]
        return np.concatenate(chunks).astype(np.float64)

    def epoch_end(self, epoch: int, loss: float, accuracy: float, started: float) -> None:
        out = self._outputs()
        if not (np.isfinite(loss) and np.isfinite(out).all()):
            # training cannot recover from non-finite weights: the unit stops here
            self.diverged_at = epoch + 1
        logp = log_probabilities(out, self.probabilities)
        internal = self.n_val + self.n_test
        if self.external_by_epoch is not None:
            self.external_by_epoch.append(np.exp(logp[internal:]).astype(np.float32))
        logp = logp[:internal]
        val_loss, val_acc = _loss_acc(logp[: self.n_val], self.y_val)
        test_loss, test_acc = _loss_acc(logp[self.n_val :], self.y_test)
        row = {
            "epoch": epoch + 1,
            "loss": loss,
            "accuracy": accuracy,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "test_loss": test_loss,
            "test_accuracy": test_acc,
        }
        self.history.append(row)
        self.by_epoch.append(np.exp(logp).astype(np.float32))
        # the seed split reports on its validation part; cv folds on their test part
        reported = logp[self.n_val :] if len(self.y_test) else logp[: self.n_val]
        value = row.get(rule(self.checkpoint).column or "epoch")
        if is_better(self.checkpoint, value, self.best_value):
            self.best_value, self.best_epoch, self.best_logp = value, epoch + 1, reported
            if self.keep_best:
                self.best_weights = self.model.get_weights()
        self.last_logp = reported
        self.seconds.append(time.perf_counter() - started)
        if self.on_epoch is not None:
            self.on_epoch(row, self.seconds[-1])


class _SingleReplicaAdam(keras.optimizers.Adam):
    """Keras's Adam for TensorFlow on one device, without the cross-replica gradient sum.

    On one replica that sum is the identity, but TensorFlow registers a gradient function for
    it in a process-wide table that is never emptied, and that function holds the traced
    training step, hence every variable of the model and the optimizer: each unit of a run
    would leave about 300 MB (T4) behind, whatever ``clear_session`` does.
    """

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if self._distribution_strategy.num_replicas_in_sync == 1:
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)


class _FusedAdam(_SingleReplicaAdam):
    """Adam whose update is TensorFlow's one-pass kernel (``ResourceApplyAdam``).

    Same formula as ``keras.optimizers.Adam`` (epsilon outside the square root, bias
    correction folded into the step size), but each variable is read and written once instead
    of once per elementwise operation: on a 2-core CPU that took a tenth off a T4 training
    step, whose 22M-weight dense kernel dominates the update. TensorFlow without XLA only.
    """

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].handle,
            v=self._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )


def _adam(learning_rate: float, *, on_cpu: bool) -> keras.optimizers.Optimizer:
    if keras.backend.backend() != "tensorflow":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    kind = _FusedAdam if on_cpu else _SingleReplicaAdam
    return kind(learning_rate=learning_rate, name="adam")


def _tensorflow_on_cpu() -> bool:
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not tf.config.get_visible_devices("GPU")


def _train_in_a_loop(model, x, y, train, batch_size, epochs, order, evaluator) -> None:
    """Epochs as a plain loop over batches sliced from the in-memory array (TensorFlow on a
    CPU): on 2 cores, model.fit and its tf.data input pipeline took a fifth longer per
    epoch, and at times much longer. Loss and accuracy are averaged over each epoch's images,
    as model.fit reports them."""
    for epoch in range(epochs):
        epoch_started = time.perf_counter()
        rows = train[order.permutation(len(train))]
        loss_sum = correct = 0.0
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            logs = model.train_on_batch(x[batch], y[batch], return_dict=True)
            loss_sum += float(logs["loss"]) * len(batch)
            correct += float(logs["accuracy"]) * len(batch)
        evaluator.epoch_end(epoch, loss_sum / len(rows), correct / len(rows), epoch_started)
        if evaluator.diverged_at:
            break


class _EvaluateEachEpoch(keras.callbacks.Callback):
    """model.fit's hook into the evaluator (GPUs: train_on_batch waits for every step,
    while fit keeps the device busy; on an H200 training T4 went from 4,900 to 11,600 img/s)."""

    def __init__(self, evaluator: _EpochEvaluator) -> None:
        super().__init__()
        self.evaluator = evaluator
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.evaluator.epoch_end(epoch, float(logs["loss"]), float(logs["accuracy"]), self.started)
        if self.evaluator.diverged_at:
            self.model.stop_training = True


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
    keep: Callable[[keras.Model, UnitResult], dict] | None = None,
    checkpoint: str = SEED_SPLIT_RULE,
    external: np.ndarray | None = None,
) -> UnitResult:
    """Train a fresh model on ``x[train]`` and evaluate every epoch on ``val`` and ``test``.

    ``x`` is the whole image set as uint8 at the model's input size; the model rescales.
    With TensorFlow on a CPU each batch is sliced from ``x`` as it is needed; elsewhere
    ``model.fit`` trains on a copy of the training rows. Shuffling (a new order of the
    training rows each epoch), initialisation and dropout are seeded with ``seed``. The
    recorded training loss and accuracy are each epoch's averages over its images, as
    ``model.fit`` reports them. ``checkpoint`` names the rule that chooses the epoch on
    ``val`` (a pooled rule trains with its per-fold form). ``keep(model, result)`` is called
    with the chosen
    checkpoint's weights loaded, while the model is still in memory (a saved model, Grad-CAM
    heatmaps); what it returns is ``result.kept``. ``external``: rows of ``x`` outside the
    image set (an external data set) predicted after every epoch too, never chosen on;
    their probabilities are ``result.external_by_epoch``.
    """
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(policy)
    train = np.asarray(train, dtype=np.int64)
    order = np.random.default_rng(seed)
    try:
        model = build(spec, x.shape[1], num_classes)
        probabilities = outputs_probabilities(model)
        on_cpu = _tensorflow_on_cpu()
        model.compile(
            optimizer=_adam(learning_rate, on_cpu=on_cpu),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities),
            metrics=["accuracy"],
            # XLA made this model about 15x slower on CPU; Keras's "auto" would still pick it
            # when a GPU exists but --device cpu hid it
            jit_compile=False if on_cpu else "auto",
        )
        evaluator = _EpochEvaluator(
            model, x, y, val, test, probabilities, on_epoch, keep_best=keep is not None,
            checkpoint=checkpoint, external=external,
        )  # fmt: skip
        if on_cpu:
            _train_in_a_loop(model, x, y, train, batch_size, epochs, order, evaluator)
        else:
            model.fit(
                x[train],
                y[train],
                batch_size=batch_size,
                epochs=epochs,
                shuffle=True,
                callbacks=[_EvaluateEachEpoch(evaluator)],
                verbose=0,
            )
        params = int(model.count_params())
        diverged = evaluator.diverged_at is not None
        result = UnitResult(
            history=evaluator.history,
            best_epoch=evaluator.best_epoch,
            eval_index=test if len(test) else val,
            probs_best=None if diverged else np.exp(evaluator.best_logp),
            probs_last=None if diverged else np.exp(evaluator.last_logp),
            params=params,
            probs_by_epoch=None if diverged else np.stack(evaluator.by_epoch),
            external_by_epoch=None if diverged else evaluator.stacked_external(),
            seconds=0.0,
            seconds_per_epoch=evaluator.seconds,
            diverged_at=evaluator.diverged_at,
        )
        if keep is not None and not diverged:
            if evaluator.best_epoch != len(evaluator.history):
                model.set_weights(evaluator.best_weights)
            evaluator.best_weights = None
            result.kept = keep(model, result)
    finally:
        keras.mixed_precision.set_global_policy("float32")
        keras.backend.clear_session()
    result.seconds = time.perf_counter() - started
    return result
