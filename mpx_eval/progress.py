"""One overall progress line for a run: units done/running/failed, current epoch, elapsed, ETA.

On a terminal the line is redrawn in place; in a log (not a TTY) a line is printed per
finished unit. The ETA comes from the run's own first epochs: per model, the seconds per
image and epoch, and the extra cost of a unit's first epoch (graph building).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    def __init__(
        self, units, done, epochs: int, *, quiet: bool = False, stream: TextIO | None = None
    ) -> None:
        self.units = {u.name: u for u in units}
        self.epochs = epochs
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = {name for name in done if name in self.units}
        self.running: dict[str, int] = {}  # unit name -> epochs finished
        self.failed: set[str] = set()
        self.costs: dict[str, Cost] = {}  # model -> what its epochs have cost so far
        self.started = time.perf_counter()
        self.current: str | None = None
        self.parallel = 1  # units that can train at once (the ETA divides by it)
        self._last_draw = 0.0
        self._width = 0

    # ---- events
    def unit_started(self, unit) -> None:
        self.running[unit.name] = 0
        self.current = unit.name
        self._draw(force=True)

    def epoch(self, unit, row: dict, seconds: float) -> None:
        self.running[unit.name] = row["epoch"]
        self.costs.setdefault(unit.model, Cost()).add_epoch(row["epoch"], seconds, _images(unit))
        self.current = unit.name
        self._draw()

    def unit_done(self, unit, seconds: float) -> None:
        epochs_seen = self.running.pop(unit.name, 0)
        self.done.add(unit.name)
        cost = self.costs.setdefault(unit.model, Cost())
        if not epochs_seen and seconds > 0:
            # a unit trained elsewhere (a Ray task) reports only its total time
            cost.add_unit(seconds, self.epochs, _images(unit))
        if not self.tty and not self.quiet:
            self._emit(self._line(f"finished {unit.name} in {format_seconds(seconds)}") + "\n")
        self._draw(force=True)

    def unit_failed(self, unit, reason: str) -> None:
        self.running.pop(unit.name, None)
        self.failed.add(unit.name)
        if not self.quiet:
            self._clear()
            self._emit(f"unit {unit.name} failed: {reason}\n")
        self._draw(force=True)

    def close(self) -> None:
        if self.tty and not self.quiet and self._width:
            self._emit("\n")
            self._width = 0

    # ---- estimate and drawing
    def _cost(self, unit) -> tuple[float, float] | None:
        """(seconds per image and epoch, extra seconds of a first epoch) for the
        unit's model; another model's, scaled by the pixel count, before it has its own."""
        own = self.costs.get(unit.model)
        if own is not None and own.per_image() is not None:
            return own.per_image(), own.first_extra()
        for model, cost in self.costs.items():
            if cost.per_image() is None:
                continue
            size = next((u.size for u in self.units.values() if u.model == model), unit.size)
            scale = (unit.size / size) ** 2  # cost grows with the pixel count
            return cost.per_image() * scale, cost.first_extra()
        return None

    def eta(self) -> float | None:
        """Seconds left, or None until some model has a steady epoch (its second) measured."""
        remaining = 0.0
        for name, unit in self.units.items():
            if name in self.done or name in self.failed:
                continue
            cost = self._cost(unit)
            if cost is None:
                return None
            per_image, first_extra = cost
            finished = self.running.get(name, 0)
            remaining += (self.epochs - finished) * per_image * _images(unit)
            if finished == 0:
                remaining += first_extra
        left = sum(1 for n in self.units if n not in self.done and n not in self.failed)
        return remaining / max(1, min(self.parallel, left))

    def _line(self, note: str = "") -> str:
        total = len(self.units)
        parts = [f"[{len(self.done)}/{total} units"]
        if self.parallel > 1 and self.running:
            # tasks handed to a cluster: as many run as it has room for, the rest wait
            running = min(len(self.running), self.parallel)
            queued = len(self.running) - running
            parts.append(f", {running} running" + (f", {queued} queued" if queued else ""))
        if self.failed:
            parts.append(f", {len(self.failed)} failed")
        parts.append("]")
        text = "".join(parts)
        if note:
            text += f" {note}"
        elif self.current and self.current in self.running:
            text += f" {self.current} epoch {self.running[self.current]}/{self.epochs}"
        eta = self.eta()
        text += f" | elapsed {format_seconds(time.perf_counter() - self.started)}"
        text += f" | ETA {format_seconds(eta)}" if eta is not None else " | ETA estimating"
        return text

    def _draw(self, force: bool = False) -> None:
        if self.quiet or not self.tty:
            return
        now = time.perf_counter()
        if not force and now - self._last_draw < 0.2:
            return
        self._last_draw = now
        line = self._line()
        pad = max(0, self._width - len(line))
        self._emit("\r" + line + " " * pad)
        self._width = len(line)

    def _clear(self) -> None:
        if self.tty and self._width:
            self._emit("\r" + " " * self._width + "\r")
            self._width = 0

    def _emit(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _images(unit) -> float:
    """What an epoch's cost grows with: the training images, plus the images evaluated after
    each epoch (inner validation and test fold) at a third of the weight, since a forward
    pass costs about a third of a training step's forward and backward pass."""
    evaluated = len(unit.split.val) + len(unit.split.test)
    return max(1.0, len(unit.split.train) + evaluated / 3)


class Cost:
    """A model's measured cost: the mean over every steady epoch (all but each unit's first)
    of seconds per image (see ``_images``), and the first epoch's extra seconds.

    All epochs count equally, with no moving window, so the estimate settles instead of
    jumping when an early, slow epoch leaves the window.
    """

    def __init__(self) -> None:
        self.steady_seconds = 0.0
        self.steady_images = 0.0
        self.first: list[tuple[float, float]] = []  # (seconds, images) of first epochs

    def add_epoch(self, epoch: int, seconds: float, images: float) -> None:
        if epoch <= 1:
            self.first.append((seconds, images))
        else:
            self.steady_seconds += seconds
            self.steady_images += images

    def add_unit(self, seconds: float, epochs: int, images: float) -> None:
        self.steady_seconds += seconds
        self.steady_images += epochs * images

    def per_image(self) -> float | None:
        return self.steady_seconds / self.steady_images if self.steady_images else None

    def first_extra(self) -> float:
        rate = self.per_image()
        if rate is None or not self.first:
            return 0.0
        return max(0.0, sum(s - rate * n for s, n in self.first) / len(self.first))
