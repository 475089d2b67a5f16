"""Render a run folder: check the artefacts, draw the figures, fill the template.

Rendering reads the run folder and writes only index.html and figures/; the aggregates are
rebuilt (by :mod:`mpx_eval.rundir.folder`) only when they are missing, damaged or behind the units.
"""

from __future__ import annotations

import base64
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..atomic import write_bytes, write_text
from ..rundir import folder as outdir
from . import _figures as F
from ._artefacts import Run, aggregates_usable, check_sources, load_run, read_run
from ._context import FigureSpec, build_context


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


def draw_figures(specs: list[FigureSpec]) -> dict[str, bytes]:
    """PNG bytes of every figure, by name."""
    from matplotlib.figure import FigureBase

    drawn = {}
    with F.style():
        for spec in specs:
            result = spec.draw(*spec.args)
            figure = result if isinstance(result, FigureBase) else result.figure
            drawn[spec.name] = F.png_bytes(figure)
    return drawn


def _save_figures(folder: Path, drawn: dict[str, bytes]) -> None:
    for name, data in drawn.items():
        write_bytes(folder / f"{name}.png", data)
    # A figure of an earlier rendering that this one no longer draws (a renamed model) would
    # otherwise linger beside the current ones; a PNG mpx_eval did not draw stays.
    outdir.replace_figures(folder, list(drawn))


def render_run(out: str | Path) -> Path:
    """Write ``OUT/index.html`` (and ``OUT/figures/*.png``) from a run folder's artefacts.

    The run-level history.csv, predictions.csv and metrics.json are read as ``run`` wrote
    them; only when they are missing, damaged or behind the finished units (an interrupted
    run, a partial one) are they rebuilt from the units first (``outdir.aggregate_run``).
    Returns the path of index.html.

    Raises
    ------
    MpxEvalError
        When an artefact is missing, truncated or malformed; the message names the file.
    """
    out = Path(out)
    if not (out / "runinfo.json").is_file():
        load_run(out)  # says what is missing, before anything is written
    outdir.check_owned(out)
    with outdir.locked(out, command=["python", "-m", "mpx_eval", "report", "--out", str(out)]):
        runinfo, models = check_sources(out)
        if not aggregates_usable(out):  # an interrupted run, or a damaged or missing file
            outdir.aggregate_run(out)
        return _render(read_run(out, runinfo, models))


def _render(run: Run) -> Path:
    """Draw the figures and write the page; reads nothing but ``run``."""
    context, specs = build_context(run)
    drawn = draw_figures(specs)
    _save_figures(run.out / "figures", drawn)
    for spec in specs:
        spec.uri = "data:image/png;base64," + base64.b64encode(drawn[spec.name]).decode("ascii")
    html = environment().get_template("index.html").render(**context)
    target = run.out / "index.html"
    write_text(target, html)
    return target
