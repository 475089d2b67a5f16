"""What a run folder holds, for tests that check a command left it alone."""

from __future__ import annotations

from pathlib import Path

from mpx_eval.rundir.layout import LOCK


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and modification time (ns), but the report's own output
    (index.html, figures/) and the lock file, whose holder description each command that
    takes the lock writes."""
    found = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if not path.is_file() or rel == "index.html" or rel.startswith("figures/"):
            continue
        if rel == LOCK:
            continue
        found[rel] = (path.read_bytes(), path.stat().st_mtime_ns)
    return found
