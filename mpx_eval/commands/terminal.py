"""What a finished run prints on the terminal: the headline per model, the seed split's
accuracy with and without a copy in training, and where the report is."""

from __future__ import annotations

from pathlib import Path

from ..assessment.headline import summary_lines


def _leakage_text(leak: dict) -> str:
    def _fmt(value) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    def part(entry: dict) -> str:
        ci = (
            f" (95% CI {_fmt(entry['low'])}-{_fmt(entry['high'])})"
            if entry.get("low") is not None
            else ""
        )
        return f"{_fmt(entry['accuracy'])}{ci} on {entry['n']}"

    return (
        "seed split accuracy on validation images with a copy or group member in training "
        f"{part(leak['with_sibling'])}, without one {part(leak['without_sibling'])}"
    )


def print_summary(metrics: dict, report: Path) -> None:
    """The headline per model on stdout: what a user reads first (``--quiet`` too: it
    silences progress, not the result)."""
    lines = summary_lines(metrics)
    for name in metrics["models"]:
        leak = (metrics.get("seed_leakage") or {}).get(name)
        if leak and leak["with_sibling"]["n"]:
            lines.append(f"  {name}: {_leakage_text(leak)}")
    print("\n".join([*lines, f"Report: {report}"]))
