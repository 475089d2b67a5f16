"""The batched engine: all units of one model train together as one compiled JAX program.

Parameters, optimizer state and dropout seeds are stacked on a leading unit axis and one
``jax.vmap`` over Keras's stateless calls trains every unit; each unit keeps the data order,
initial weights and dropout stream that ``train.train_unit`` would have given it alone, and
what its ``keep`` hook keeps of its chosen checkpoint (a model of its own, built by the same
builder and given that unit's slice of the stacked weights).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np

from ..errors import MpxEvalError
from ..summary.checkpoints import SEED_SPLIT_RULE
from .models import ModelSpec, build, outputs_probabilities
from .train import EVAL_BATCH, UnitResult, _EpochEvaluator

#: Share of the free device memory the stacked units may plan to use; the rest is left to
#: XLA's scratch buffers and to what the estimate misses.
MEMORY_SHARE = 0.5


def resolve_engine(engine: str, device_info: dict, policy: str) -> str:
    """``sequential`` or ``batched`` for ``--engine``.

    ``auto`` is batched with JAX on a GPU, where one unit's batch of 32 leaves most of the
    device idle; on a CPU every core is already busy with one unit, and sequential is
    today's measured path. Raises MpxEvalError when ``batched`` cannot run here.
    """
    if engine == "sequential":
        return engine
    usable = device_info.get("backend") == "jax" and policy != "mixed_float16"
    if engine == "auto":
        return "batched" if usable and device_info.get("kind") == "gpu" else "sequential"
    if device_info.get("backend") != "jax":
        raise MpxEvalError(
            f"--engine batched needs Keras on JAX (KERAS_BACKEND=jax), not "
            f"{device_info.get('backend')}; or use --engine sequential"
        )
    if policy == "mixed_float16":
        raise MpxEvalError(
            "--engine batched does not do float16 loss scaling (this GPU's --precision "
            "mixed); pass --precision float32 or --engine sequential"
        )
    return engine


class _GivenOutputs(_EpochEvaluator):
    """The sequential engine's evaluator, fed with outputs the batched program computed, so
    that history rows, checkpoint choice and probabilities are the same code."""

    def __init__(
        self, x, y, val, test, probabilities: bool, on_epoch, checkpoint, external=None
    ) -> None:
        super().__init__(
            None, x, y, val, test, probabilities, on_epoch, checkpoint=checkpoint,
            external=external,
        )  # fmt: skip
        self.outputs: np.ndarray | None = None

    def _outputs(self) -> np.ndarray:
        return self.outputs.astype(np.float64)


def _initial_state(spec, size, num_classes, seed, n_train, epochs):
    """Build one unit's model exactly as train_unit does; return its variable values and
    the row orders model.fit would draw from NumPy's global generator, epoch by epoch
    (Keras 3's array adapter)."""
    keras.utils.set_random_seed(seed)
    model = build(spec, size, num_classes)
    trainable = [np.asarray(v.value) for v in model.trainable_variables]
    non_trainable = [np.asarray(v.value) for v in model.non_trainable_variables]
    # model.fit draws one order to build the optimizer and metrics on a first batch, then
    # one per epoch
    orders = [np.random.permutation(n_train) for _ in range(epochs + 1)][1:]
    return model, trainable, non_trainable, orders


def _per_unit_bytes(model, batch_size: int, *, keeping: bool = False) -> int:
    """Rough memory of one unit on the device: weights, gradients and Adam's two moments
    (and, when ``keeping``, the weights of the best epoch so far), plus the activations of
    one training batch kept for the backward pass (three copies)."""
    copies = 5 if keeping else 4
    weights = sum(int(np.prod(v.shape)) for v in model.trainable_variables) * 4 * copies
    activations = sum(
        int(np.prod(layer.output.shape[1:])) for layer in model.layers if hasattr(layer, "output")
    )
    return weights + batch_size * activations * 4 * 3 + EVAL_BATCH * activations * 4


def _free_bytes() -> int:
    import jax

    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2


def chunk_size(
    model, batch_size: int, *, x_bytes: int, free: int | None = None, keeping: bool = False
) -> int:
    """How many units fit on the device at once (at least one)."""
    free = _free_bytes() if free is None else free
    room = max(0, int(free * MEMORY_SHARE) - x_bytes)
    return max(1, room // max(1, _per_unit_bytes(model, batch_size, keeping=keeping)))


def _programs(model, optimizer, *, from_logits: bool):
    """The jitted epoch (a scan over padded steps, vmapped over units) and evaluation."""
    import jax
    import jax.numpy as jnp

    def unit_step(tv, ntv, ov, xb, yb, mask, active):
        def loss_fn(tv, ntv):
            y_pred, ntv = model.stateless_call(tv, ntv, xb, training=True)
            y_pred = jnp.asarray(y_pred, jnp.float32)
            per = keras.ops.sparse_categorical_crossentropy(yb, y_pred, from_logits=from_logits)
            # the mean over this unit's real images, as its own (shorter) batch would give
            loss = jnp.sum(per * mask) / jnp.maximum(jnp.sum(mask), 1.0)
            return loss, (y_pred, ntv)

        (loss, (y_pred, new_ntv)), grads = jax.value_and_grad(loss_fn, has_aux=True)(tv, ntv)
        new_tv, new_ov = optimizer.stateless_apply(ov, grads, tv)

        # a unit whose epoch has fewer batches stands still: no update, no dropout draw
        def keep(new, old):
            return jnp.where(active, new, old)

        state = jax.tree.map(keep, (new_tv, new_ntv, new_ov), (tv, ntv, ov))
        n = jnp.sum(mask)
        correct = jnp.sum((jnp.argmax(y_pred, axis=-1) == yb) * mask)
        return state, loss * n, correct

    batched_step = jax.vmap(unit_step)

    @jax.jit
    def epoch(tv, ntv, ov, x, y, rows, mask, active):
        def body(carry, step):
            (tv, ntv, ov), loss_sum, correct = carry
            r, m, a = step
            state, loss_n, right = batched_step(tv, ntv, ov, x[r], y[r], m, a)
            return (state, loss_sum + loss_n, correct + right), None

        units = rows.shape[1]
        zero = jnp.zeros((units,), jnp.float32)
        (state, loss_sum, correct), _ = jax.lax.scan(
            body, ((tv, ntv, ov), zero, zero), (rows, mask, active)
        )
        return state, loss_sum, correct

    def unit_outputs(tv, ntv, xb):
        out, _ = model.stateless_call(tv, ntv, xb, training=False)
        return jnp.asarray(out, jnp.float32)

    batched_outputs = jax.vmap(unit_outputs)

    @jax.jit
    def evaluate(tv, ntv, x, rows):
        # rows: (chunks, units, EVAL_BATCH); one chunk of every unit at a time
        out = jax.lax.map(lambda r: batched_outputs(tv, ntv, x[r]), rows)
        return jnp.swapaxes(out, 0, 1).reshape(rows.shape[1], -1, out.shape[-1])

    return epoch, evaluate


def _stack(values: list[list[np.ndarray]]) -> list[np.ndarray]:
    return [np.stack(column) for column in zip(*values, strict=True)]


def _epoch_plan(orders: list[np.ndarray], trains: list[np.ndarray], batch_size: int):
    """Padded row indices (steps, units, batch), the mask of real images and which units
    take a step at all; each unit's batches are its own, in its own order."""
    steps = max(-(-len(t) // batch_size) for t in trains)
    units = len(trains)
    rows = np.zeros((steps, units, batch_size), dtype=np.int32)
    mask = np.zeros((steps, units, batch_size), dtype=np.float32)
    for u, (order, train) in enumerate(zip(orders, trains, strict=True)):
        shuffled = train[order]
        n = len(shuffled)
        padded = np.zeros(steps * batch_size, dtype=np.int32)
        padded[:n] = shuffled
        rows[:, u, :] = padded.reshape(steps, batch_size)
        mask[:, u, :] = (np.arange(steps * batch_size) < n).reshape(steps, batch_size)
    active = mask.max(axis=2) > 0
    return rows, mask, active


def _eval_plan(evaluators: list[_GivenOutputs]) -> np.ndarray:
    """Every unit's validation+test rows, padded to whole EVAL_BATCH chunks:
    (chunks, units, EVAL_BATCH)."""
    longest = max(len(e.rows) for e in evaluators)
    width = max(1, -(-longest // EVAL_BATCH)) * EVAL_BATCH
    rows = np.zeros((len(evaluators), width), dtype=np.int32)
    for u, e in enumerate(evaluators):
        rows[u, : len(e.rows)] = e.rows
    return rows.reshape(len(evaluators), -1, EVAL_BATCH).swapaxes(0, 1)


Keep = Callable[[keras.Model, UnitResult], dict]


def train_units(
    spec: ModelSpec,
    x: np.ndarray,
    y: np.ndarray,
    units: Sequence[dict],
    *,
    policy: str = "float32",
    on_epoch: Callable[[int, dict, float], None] | None = None,
    chunk: int | None = None,
    keeps: Sequence[Keep | None] | None = None,
) -> list[UnitResult]:
    """Train every unit of ``units`` (``train_unit``'s keyword arguments, same model and
    input size) together and return their results in the same order.

    Units run in chunks that fit the device (``chunk`` forces a size). A unit's ``seconds``
    and seconds per epoch are its share of its chunk's time. ``on_epoch(i, row, seconds)``
    is called for unit ``i`` after each epoch. ``keeps[i]`` is unit ``i``'s ``keep`` hook,
    as ``train_unit`` takes it: called with a model of that unit alone, holding the weights
    of the epoch its checkpoint rule chose; what it returns is the result's ``kept``.
    """
    if not units:
        return []
    shared = ("num_classes", "epochs", "batch_size", "learning_rate")
    for key in shared:
        values = {u[key] for u in units}
        if len(values) > 1:
            raise ValueError(f"units differ in {key}: {sorted(values)}; train them apart")
    keeps = list(keeps) if keeps is not None else [None] * len(units)
    if len(keeps) != len(units):
        raise ValueError(f"{len(keeps)} keep hooks for {len(units)} units; give one per unit")
    results: list[UnitResult] = []
    keras.mixed_precision.set_global_policy(policy)
    try:
        step = chunk
        if step is None:
            probe = build(spec, x.shape[1], units[0]["num_classes"])
            step = chunk_size(
                probe,
                units[0]["batch_size"],
                x_bytes=x.nbytes,
                keeping=any(k is not None for k in keeps),
            )
            del probe
        for start in range(0, len(units), step):
            part = slice(start, start + step)

            def forward(i, row, seconds, _offset=start):
                if on_epoch is not None:
                    on_epoch(_offset + i, row, seconds)

            results += _train_chunk(spec, x, y, units[part], forward, keeps[part])
    finally:
        keras.mixed_precision.set_global_policy("float32")
        keras.backend.clear_session()
    return results


def _hold_program():
    """The jitted update of the weights each unit holds: a unit whose checkpoint rule
    chose the epoch just trained holds its new weights, the others keep theirs. The held
    buffers are donated, so that the device holds one extra copy of the weights, not two."""
    import jax
    import jax.numpy as jnp

    def hold(chosen, current, held):
        def pick(new, old):
            return jnp.where(chosen.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)

        return jax.tree.map(pick, current, held)

    return jax.jit(hold, donate_argnums=2)


class _HeldWeights:
    """What each unit of a chunk holds on the device: the weights (``(trainable,
    non_trainable)``, stacked) of the epoch its checkpoint rule chose so far."""

    def __init__(self, tv, ntv) -> None:
        import jax
        import jax.numpy as jnp

        self._hold = _hold_program()
        self.values = jax.tree.map(jnp.copy, (tv, ntv))

    def update(self, evaluators: list[_GivenOutputs], epoch: int, tv, ntv) -> None:
        """After ``epoch``: the units whose rule chose it hold its weights ``tv, ntv``."""
        import jax.numpy as jnp

        chosen = np.array([e.best_epoch == epoch + 1 for e in evaluators])
        self.values = self._hold(jnp.asarray(chosen), (tv, ntv), self.values)


def _evaluators(x, y, units, probabilities: bool, on_epoch) -> list[_GivenOutputs]:
    evaluators = []
    for i, u in enumerate(units):

        def report(row, seconds, _i=i):
            on_epoch(_i, row, seconds)

        evaluators.append(
            _GivenOutputs(
                x, y, u["val"], u["test"], probabilities, report,
                u.get("checkpoint", SEED_SPLIT_RULE), u.get("external"),
            )
        )  # fmt: skip
    return evaluators


def _stacked_start(spec: ModelSpec, size: int, units, trains: list[np.ndarray]):
    """Every unit's starting point, stacked on a leading unit axis on the device: the model
    and optimizer the programs are traced from, the state ``(trainable, non_trainable,
    optimizer variables)`` and each unit's row orders, epoch by epoch."""
    import jax.numpy as jnp

    first = units[0]
    built = [
        _initial_state(spec, size, first["num_classes"], u["seed"], len(t), first["epochs"])
        for u, t in zip(units, trains, strict=True)
    ]
    model = built[-1][0]
    optimizer = keras.optimizers.Adam(learning_rate=first["learning_rate"])
    optimizer.build(model.trainable_variables)
    opt_values = [np.asarray(v.value) for v in optimizer.variables]
    state = (
        [jnp.asarray(a) for a in _stack([b[1] for b in built])],
        [jnp.asarray(a) for a in _stack([b[2] for b in built])],
        [jnp.asarray(np.stack([a] * len(units))) for a in opt_values],
    )
    return model, optimizer, state, [b[3] for b in built]


class _ChunkPrograms:
    """One chunk's compiled epoch and evaluation, with the data they read on the device."""

    def __init__(self, model, optimizer, x, y, evaluators, trains, *, probabilities: bool):
        import jax
        import jax.numpy as jnp

        self.epoch, self.evaluate = _programs(model, optimizer, from_logits=not probabilities)
        self.x, self.y = jax.device_put(x), jax.device_put(np.asarray(y, dtype=np.int32))
        self.eval_rows = jnp.asarray(_eval_plan(evaluators))
        self.trains = trains

    def train_epoch(self, state, orders: list[np.ndarray], batch_size: int):
        """One epoch of every unit, each in its own row order: the new state, and on the
        host each unit's validation+test outputs, training loss sum and correct count."""
        import jax
        import jax.numpy as jnp

        rows, mask, active = _epoch_plan(orders, self.trains, batch_size)
        (tv, ntv, ov), loss_sum, correct = self.epoch(
            *state, self.x, self.y, jnp.asarray(rows), jnp.asarray(mask), jnp.asarray(active)
        )
        outputs, loss_sum, correct = jax.device_get(
            (self.evaluate(tv, ntv, self.x, self.eval_rows), loss_sum, correct)
        )
        return (tv, ntv, ov), outputs, loss_sum, correct


def _record_epoch(evaluators, trains, epoch: int, outputs, loss_sum, correct, started) -> None:
    """Give each unit's evaluator what the batched program computed in ``epoch`` (its
    outputs, training loss and accuracy), which writes the unit's history row and checkpoint
    choice as the sequential engine does."""
    # each unit is credited with its share of the epoch, so that the seconds of a run's
    # units still add up to its time and the progress estimate stays right
    share = (time.perf_counter() - started) / len(evaluators)
    for u, e in enumerate(evaluators):
        n = len(trains[u])
        e.outputs = outputs[u, : len(e.rows)]
        e.epoch_end(
            epoch, float(loss_sum[u]) / n, float(correct[u]) / n, time.perf_counter() - share
        )


def _unit_results(units, evaluators: list[_GivenOutputs], params: int) -> list[UnitResult]:
    """Each unit's result from its evaluator (``seconds`` is filled in at the end)."""
    return [
        UnitResult(
            history=e.history,
            best_epoch=e.best_epoch,
            eval_index=u["test"] if len(u["test"]) else u["val"],
            probs_best=np.exp(e.best_logp),
            probs_last=np.exp(e.last_logp),
            params=params,
            probs_by_epoch=np.stack(e.by_epoch),
            external_by_epoch=e.stacked_external(),
            seconds=0.0,
            seconds_per_epoch=e.seconds,
        )
        for u, e in zip(units, evaluators, strict=True)
    ]


def _train_chunk(spec, x, y, units, on_epoch, keeps) -> list[UnitResult]:
    """Train ``units`` as one program, epoch by epoch, then call their keep hooks."""
    started = time.perf_counter()
    first = units[0]
    trains = [np.asarray(u["train"], dtype=np.int64) for u in units]
    model, optimizer, state, orders = _stacked_start(spec, x.shape[1], units, trains)
    probabilities = outputs_probabilities(model)
    params = int(model.count_params())
    evaluators = _evaluators(x, y, units, probabilities, on_epoch)
    programs = _ChunkPrograms(
        model, optimizer, x, y, evaluators, trains, probabilities=probabilities
    )
    held = _HeldWeights(*state[:2]) if any(k is not None for k in keeps) else None
    for epoch in range(first["epochs"]):
        epoch_started = time.perf_counter()
        state, outputs, loss_sum, correct = programs.train_epoch(
            state, [o[epoch] for o in orders], first["batch_size"]
        )
        _record_epoch(evaluators, trains, epoch, outputs, loss_sum, correct, epoch_started)
        if held is not None:
            held.update(evaluators, epoch, *state[:2])
    # the training state and data leave the device before the kept models are built
    del state, programs
    results = _unit_results(units, evaluators, params)
    if held is not None:
        diverged = [e.diverged_at is not None for e in evaluators]
        _keep_checkpoints(
            spec, x.shape[1], first["num_classes"], held.values, results, keeps, diverged
        )
    seconds = (time.perf_counter() - started) / len(units)
    for result in results:
        result.seconds = seconds
    return results


def _unit_model(spec: ModelSpec, size: int, num_classes: int, held, u: int) -> keras.Model:
    """Unit ``u``'s own model: built by ``spec``'s builder, as train_unit builds it, and
    given the unit's slice of the stacked variables ``held`` (``(trainable,
    non_trainable)``, each in the model's variable order with the units on a leading axis,
    as the batched program lays them out)."""
    model = build(spec, size, num_classes)
    trainable, non_trainable = held
    pairs = [
        *zip(model.trainable_variables, trainable, strict=True),
        *zip(model.non_trainable_variables, non_trainable, strict=True),
    ]
    for variable, stacked in pairs:
        variable.assign(np.asarray(stacked[u]))
    return model


def _keep_checkpoints(spec, size, num_classes, held, results, keeps, diverged) -> None:
    """Call each unit's keep hook as train_unit does, with the unit's chosen checkpoint
    loaded; a unit that diverged keeps nothing (nor does it with the sequential engine)."""
    policy = keras.mixed_precision.global_policy()
    for u, (result, keep) in enumerate(zip(results, keeps, strict=True)):
        if keep is None or diverged[u]:
            continue
        # a fresh Keras session per unit, as train_unit has: the same layer names, so
        # the same Grad-CAM layer name in unit.json (clearing it resets the policy too)
        keras.backend.clear_session()
        keras.mixed_precision.set_global_policy(policy)
        result.kept = keep(_unit_model(spec, size, num_classes, held, u), result)
