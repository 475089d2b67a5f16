"""Where units train: in this process (``local``) or as tasks on a Ray cluster (``ray``).

Either way an executor yields ``(unit, result, extra)`` to the run command, which alone writes
artefacts, so resume, ``report`` and every file are the same whichever executor ran a unit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from ..config import RunConfig
from ..errors import MpxEvalError
from ..summary.checkpoints import SEED_SPLIT_RULE
from . import usercode
from .backend import Training, load_training, precision_policy


class Executor(Protocol):
    """What the run command asks of an executor; everything else (the config, the precision, the
    Keras modules) is given when it is made (:func:`make_executor`)."""

    #: unit name -> why it failed, for the units that raised (the others still ran)
    failures: dict[str, str]

    def describe_models(self, sizes: dict[str, int], num_classes: int) -> dict:
        """models.json: each model built once where the units train (a check that it
        builds, too), by name: builder, input shape, parameter count and layer table."""
        ...

    def execute(self, units: list, images, progress) -> Iterator[tuple]:
        """Train ``units`` on ``images``; yield ``(unit, result, extra)`` as each finishes
        (``extra``: what unit.json records about where it trained), telling ``progress``."""
        ...


def unit_batches(pending, engine: str) -> list[list]:
    """What trains at once: each unit alone (sequential), or all units of one model."""
    if engine != "batched":
        return [[unit] for unit in pending]
    by_model: dict[str, list] = {}
    for unit in pending:
        by_model.setdefault(unit.model, []).append(unit)
    return list(by_model.values())


class LocalExecutor:
    """Units one after another in this process (or, with the batched engine, all units of a
    model at once), with per-epoch progress. A unit that raises is reported by name and the
    others still run (Ctrl-C stops everything)."""

    def __init__(
        self, cfg: RunConfig, *, training: Training, specs: dict, policy: str, engine: str
    ) -> None:
        self.cfg = cfg
        self.training = training
        self.specs = specs
        self.policy = policy
        self.engine = engine
        self.failures: dict[str, str] = {}

    def describe_models(self, sizes: dict[str, int], num_classes: int) -> dict:
        return self.training.models.describe_all(self.specs, sizes, num_classes)

    def execute(self, units: list, images, progress) -> Iterator[tuple]:
        if self.engine == "batched":
            for batch in unit_batches(units, self.engine):
                yield from self._run_batch(batch, images, progress)
        else:
            for unit in units:
                yield from self._run_unit(unit, images, progress)

    def _extra(self) -> dict:
        """What unit.json records about where a unit trained."""
        device_info = self.training.device_info
        return {
            "executor": "local",
            "engine": self.engine,
            "device": device_info["name"],
            "threads": device_info.get("threads"),
            "precision_policy": self.policy,
        }

    def _run_batch(self, batch, images, progress) -> Iterator[tuple]:
        """All units of one model at once (the batched engine)."""
        for unit in batch:
            progress.unit_started(unit)
        try:
            results = _train_batched(
                batch, images, self.specs[batch[0].model], self.cfg, self.policy, progress
            )
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:  # the batch's own failure; the other models still run
            _record_failure(self.failures, batch, _short_reason(exc), progress)
            return
        for unit, result in zip(batch, results, strict=True):
            yield unit, result, self._extra()

    def _run_unit(self, unit, images, progress) -> Iterator[tuple]:
        """One unit (the sequential engine); a failure of the user's model is recorded."""
        progress.unit_started(unit)
        try:
            result = self._train(unit, images, progress)
        except MemoryError:
            raise
        except BaseException as exc:  # the unit's own failure; the run goes on
            if not usercode.is_users(exc):
                raise  # a real Ctrl-C stops the run
            reason = (
                usercode.describe(exc) if isinstance(exc, usercode.ESCAPES) else _short_reason(exc)
            )
            _record_failure(self.failures, [unit], reason, progress)
            return
        yield unit, result, self._extra()

    def _train(self, unit, images, progress):
        from .keep import keep_hook

        spec, x = self.specs[unit.model], images.arrays[unit.size]
        return self.training.train.train_unit(
            spec,
            x,
            images.labels,
            policy=self.policy,
            on_epoch=lambda row, seconds: progress.epoch(unit, row, seconds),
            keep=keep_hook(spec, x, images.labels, **keep_arguments(unit, images, self.cfg)),
            **training_arguments(unit, images, self.cfg),
        )


def _train_batched(batch, images, spec, cfg, policy, progress) -> list:
    from .batched import train_units
    from .keep import keep_hook

    x = images.arrays[batch[0].size]
    return train_units(
        spec,
        x,
        images.labels,
        [training_arguments(unit, images, cfg) for unit in batch],
        policy=policy,
        on_epoch=lambda i, row, seconds: progress.epoch(batch[i], row, seconds),
        keeps=[
            keep_hook(spec, x, images.labels, **keep_arguments(unit, images, cfg)) for unit in batch
        ],
    )


def training_arguments(unit, images, cfg: RunConfig) -> dict:
    """What ``train_unit`` needs about one unit besides the model and the images. Rows of
    the decoded array beyond the image set's are an external set's, predicted every epoch."""
    n_rows = len(images.arrays[unit.size]) if unit.size in images.arrays else len(images)
    return {
        "external": np.arange(len(images), n_rows) if n_rows > len(images) else None,
        "train": unit.split.train,
        "val": unit.split.val,
        "test": unit.split.test,
        "num_classes": len(images.class_names),
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "learning_rate": cfg.learning_rate,
        "seed": unit.seed(cfg.seed),
        # the seed split reproduces the blog, whose checkpoint is its best validation accuracy
        "checkpoint": cfg.checkpoint if unit.split.scheme == "cv" else SEED_SPLIT_RULE,
    }


def keep_arguments(unit, images, cfg: RunConfig) -> dict:
    """What the unit keeps of its chosen checkpoint (``mpx_eval.training.keep.keep_hook``)."""
    from .keep import saves_model

    return {"paths": images.paths, "save": saves_model(unit.split.scheme, cfg.save_models)}


def _ray_units(task: dict, x, y):
    """Body of one Ray task: choose the worker's device, train its unit (or, with the
    batched engine, its units of one model), return plain data."""
    train_mod, models_mod, info = load_training(task["device"], threads=task["threads"])
    spec = models_mod.resolve_model(task["model"])
    policy = precision_policy(task["precision"], info)
    from .keep import keep_hook

    keeps = [keep_hook(spec, x, y, **arguments) for arguments in task["keeps"]]
    if task["engine"] == "batched":
        from .batched import train_units

        results = train_units(spec, x, y, task["arguments"], policy=policy, keeps=keeps)
    else:
        keep = keeps[0]
        try:
            results = [
                train_mod.train_unit(spec, x, y, policy=policy, keep=keep, **task["arguments"][0])
            ]
        except SystemExit as exc:  # would end the Ray worker; it is the model's error
            raise RuntimeError(usercode.describe(exc)) from None
    import socket

    return results, {
        "executor": "ray",
        "engine": task["engine"],
        "device": info["name"],
        "host": socket.gethostname(),
        "threads": info.get("threads"),
        "precision_policy": policy,
    }


def _ray_describe(sizes: dict[str, int], num_classes: int, threads: int | None) -> dict:
    """Body of the Ray task that builds each model once for models.json (on a CPU: only
    shapes and parameter counts are read)."""
    models = load_training("cpu", threads=threads).models
    specs = {name: models.resolve_model(name) for name in sizes}
    return models.describe_all(specs, sizes, num_classes)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise MpxEvalError("--executor ray needs Ray: pip install 'mpx-eval[ray]'") from None
    return ray


def check_available(cfg: RunConfig) -> None:
    """Fail before any work when ``cfg``'s executor cannot run here (Ray not installed)."""
    if cfg.executor == "ray":
        _import_ray()


class RayExecutor:
    """Each unfinished unit is one Ray task; image arrays go to the object store once per
    input size. Failed tasks are retried ``max_retries`` times, then reported by unit name
    while the other units carry on. The driver builds no model: a task describes them."""

    def __init__(self, cfg: RunConfig, *, engine: str) -> None:
        self.ray = _import_ray()
        self.failures: dict[str, str] = {}
        self.cfg = cfg
        self.engine = engine

    def describe_models(self, sizes: dict[str, int], num_classes: int) -> dict:
        ray = self.ray
        self._connect()
        # max_calls=1: the worker exits afterwards, so that no training task inherits its
        # CPU-only device set-up
        remote = ray.remote(num_cpus=1, max_calls=1)(_ray_describe)
        try:
            return ray.get(remote.remote(sizes, num_classes, self.cfg.threads))
        except ray.exceptions.RayError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, MpxEvalError):  # the model's own error, e.g. it did not build
                raise MpxEvalError(str(cause)) from None
            raise MpxEvalError(
                f"describing the models on Ray failed: {_short_reason(exc)}"
            ) from None

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        kwargs = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        }
        if self.cfg.ray_address is None:
            from ..system import usable_cpus

            kwargs["num_cpus"] = usable_cpus()
        else:
            kwargs["address"] = self.cfg.ray_address
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise MpxEvalError(
                f"cannot connect to Ray at {self.cfg.ray_address or 'a new local instance'}: {exc}"
            ) from None

    def execute(self, units: list, images, progress) -> Iterator[tuple]:
        if not units:
            return
        self._connect()
        options, threads = self._placement(progress)
        in_flight = self._submit(units, images, progress, options, threads)
        try:
            while in_flight:
                ready, _ = self.ray.wait(list(in_flight), num_returns=1)
                batch = in_flight.pop(ready[0])
                try:
                    results, extra = self.ray.get(ready[0])
                except (self.ray.exceptions.RayError, MpxEvalError) as exc:
                    _record_failure(self.failures, batch, _short_reason(exc), progress)
                    continue
                for unit, result in zip(batch, results, strict=True):
                    yield unit, result, dict(extra)
        finally:
            for ref in in_flight:
                self.ray.cancel(ref, force=True)

    def _placement(self, progress) -> tuple[dict, int | None]:
        """What each task asks of the cluster, and the threads it trains with; tells
        ``progress`` how many units run at once."""
        cfg = self.cfg
        resources = self.ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if gpus and cfg.device != "cpu":
            options, capacity, threads = {"num_gpus": 1}, gpus, None
        else:
            # Ray reserves --ray-cpus-per-task CPUs per unit, which sets how many run at
            # once; TensorFlow in the task uses --threads (default: every usable core of
            # its machine, as a local run would), so that a unit's numbers do not depend
            # on the executor. The thread count changes the order of floating-point sums,
            # and over 50 epochs that is enough to move a fold's accuracy.
            cpus = cfg.ray_cpus_per_task
            options = {"num_cpus": cpus}
            capacity, threads = max(1, int(resources.get("CPU", 1)) // cpus), cfg.threads
        progress.parallel = capacity
        if cfg.device == "gpu" and not gpus:
            raise MpxEvalError("--device gpu: the Ray cluster has no GPU")
        return options, threads

    def _submit(self, units, images, progress, options: dict, threads: int | None) -> dict:
        """One task per batch of units (a unit alone, or with the batched engine all units
        of a model); the image arrays go to the object store once per input size."""
        ray, cfg = self.ray, self.cfg
        remote = ray.remote(_ray_units).options(
            max_retries=cfg.max_retries, retry_exceptions=True, **options
        )
        refs = {size: ray.put(images.arrays[size]) for size in {u.size for u in units}}
        labels = ray.put(images.labels)
        in_flight = {}
        for batch in unit_batches(units, self.engine):
            task = {
                "model": batch[0].model,
                "arguments": [training_arguments(unit, images, cfg) for unit in batch],
                "keeps": [keep_arguments(unit, images, cfg) for unit in batch],
                "precision": cfg.precision,
                "engine": self.engine,
                "device": "auto" if options.get("num_gpus") else "cpu",
                "threads": threads,
            }
            ref = remote.remote(task, refs[batch[0].size], labels)
            in_flight[ref] = batch
            for unit in batch:
                progress.unit_started(unit)
        return in_flight


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KERAS_FRAME = ("Exception encountered when calling", "Arguments received by", "•")


def _record_failure(failures: dict[str, str], units, reason: str, progress) -> None:
    """Each of ``units`` failed for ``reason``: kept for the run's summary and reported."""
    for unit in units:
        failures[unit.name] = reason
        progress.unit_failed(unit, reason)


def _short_reason(exc: BaseException) -> str:
    """The innermost error of a failure, in one line: Ray wraps task errors and Keras wraps
    layer errors in a frame of context lines around the original message."""
    cause = getattr(exc, "cause", None) or exc  # a Ray task error carries the original
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    lines = [_ANSI.sub("", line).strip() for line in str(cause).splitlines()]
    useful = [line for line in lines if line and not line.startswith(_KERAS_FRAME)]
    message = useful[0] if useful else ""
    return f"{type(cause).__name__}: {message}"[:300]


def make_executor(
    cfg: RunConfig, *, training: Training, specs: dict, policy: str, engine: str
) -> Executor:
    """The executor ``cfg`` names. A Ray task chooses its own device and precision policy
    (from ``cfg``) on the machine it lands on, so ``ray`` takes only the engine."""
    if cfg.executor == "ray":
        return RayExecutor(cfg, engine=engine)
    return LocalExecutor(cfg, training=training, specs=specs, policy=policy, engine=engine)
