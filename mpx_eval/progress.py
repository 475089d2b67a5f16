"""One overall progress line for a run: units done/running/failed, current epoch, elapsed, ETA.

On a terminal the line is redrawn in place; in a log (not a TTY) a line is printed per
finished unit. The ETA uses the seconds per epoch measured so far for each input size.
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
        self.rates: dict[int, list[float]] = {}  # input size -> seconds per epoch seen
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
        self.rates.setdefault(unit.size, []).append(seconds)
        self.current = unit.name
        self._draw()

    def unit_done(self, unit, seconds: float) -> None:
        self.running.pop(unit.name, None)
        self.done.add(unit.name)
        if unit.size not in self.rates and seconds > 0:
            self.rates[unit.size] = [seconds / self.epochs]
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
    def _rate(self, size: int) -> float | None:
        if self.rates.get(size):
            seen = self.rates[size][-20:]
            return sum(seen) / len(seen)
        known = [(s, sum(r[-20:]) / len(r[-20:])) for s, r in self.rates.items() if r]
        if not known:
            return None
        s, rate = known[0]
        return rate * (size / s) ** 2  # cost grows with the pixel count

    def eta(self) -> float | None:
        remaining = 0.0
        for name, unit in self.units.items():
            if name in self.done or name in self.failed:
                continue
            rate = self._rate(unit.size)
            if rate is None:
                return None
            remaining += (self.epochs - self.running.get(name, 0)) * rate
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
