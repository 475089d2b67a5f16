"""Render a run folder: read and check its artefacts, draw the figures, fill the templates.

Rendering reads the run folder and writes only index.html, figures/ and methods.md (the
methods section as Markdown, for a paper). When the run-level tables and metrics.json are
missing, damaged or behind the units, the assessment computes them again first (the one
writer of metrics.json).
"""

from __future__ import annotations

import base64
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..assessment.aggregate import RunSources, aggregate_run, current_metrics, read_sources
from ..assessment.layout import RunMetrics
from ..atomic import write_bytes, write_text
from ..rundir import folder, lock
from ..rundir.layout import RunPaths
from . import figures as F
from .run import Run, read_run
from .sections import build_context
from .sections.methods import methods_markdown


def environment() -> Environment:
    """Templates shipped inside the package; every printed value is HTML-escaped."""
    return Environment(
        loader=PackageLoader("mpx_eval", "report/templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def draw_figures(specs: list[F.FigureSpec]) -> dict[str, bytes]:
    """PNG bytes of every figure, by name."""
    from matplotlib.figure import FigureBase

    drawn = {}
    with F.style():
        for spec in specs:
            result = spec.draw(*spec.args)
            figure = result if isinstance(result, FigureBase) else result.figure
            drawn[spec.name] = F.png_bytes(figure)
    return drawn


def _save_figures(out: Path, drawn: dict[str, bytes]) -> None:
    paths = RunPaths(out)
    for name, data in drawn.items():
        write_bytes(paths.figures / f"{name}.png", data)
    # A figure of an earlier rendering that this one no longer draws (a renamed model) would
    # otherwise linger beside the current ones; a PNG mpx_eval did not draw stays.
    folder.replace_figures(paths.figures, list(drawn))


def render_run(
    out: str | Path,
    *,
    sources: RunSources | None = None,
    metrics: RunMetrics | None = None,
    images: str | None = None,
) -> Path:
    """Write ``OUT/index.html`` (and ``OUT/figures/*.png``) from a run folder's artefacts.

    The run-level history.csv, predictions.csv and metrics.json are read as ``run`` wrote
    them; only when they are missing, damaged or behind the finished units (an interrupted
    run, a partial one) are they computed again from the units first. ``sources`` and
    ``metrics``: what a run that has just aggregated already holds, so that nothing is read
    twice. ``images``: "all" or "none" photos on the page for this rendering (default: what
    the run recorded). Returns the path of index.html.

    Raises
    ------
    MpxEvalError
        When an artefact is missing, truncated or malformed; the message names the file.
    """
    out = Path(out)
    if sources is None and not RunPaths(out).runinfo.is_file():
        read_sources(out)  # says what is missing (the folder, or its runinfo.json) and stops
    folder.check_owned(out)
    with lock.locked(out, command=["python", "-m", "mpx_eval", "report", "--out", str(out)]):
        sources = sources or read_sources(out)
        # an interrupted run, or a damaged or missing file
        metrics = metrics or current_metrics(sources) or aggregate_run(sources)
        return _render(read_run(sources, metrics, images=images))


def _render(run: Run) -> Path:
    """Draw the figures and write the page and methods.md; reads nothing but ``run``."""
    context, specs = build_context(run)
    drawn = draw_figures(specs)
    _save_figures(run.out, drawn)
    for spec in specs:
        spec.uri = "data:image/png;base64," + base64.b64encode(drawn[spec.name]).decode("ascii")
    html = environment().get_template("index.html").render(**context)
    paths = RunPaths(run.out)
    _write_changed(paths.methods, methods_markdown(run))
    write_text(paths.index, html)
    return paths.index


def _write_changed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless the file already holds it: a report rendered again
    from the same run leaves its methods.md as it was, time stamp included."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass  # missing or unreadable: written anew
    write_text(path, text)
