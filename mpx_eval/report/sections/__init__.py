"""The report's sections, one module each, and the context that puts them together: from a
checked run (:class:`~mpx_eval.report.run.Run`) to the plain structure the templates render.

Each section is a dict of strings, numbers, tables and figure specifications; nothing here
draws (figures are specified with their captions, then drawn by ``render``) and nothing
here writes HTML.
"""

from __future__ import annotations

import shlex

from ..figures import Figures, FigureSpec
from ..run import Run
from .audit import MISCLASSIFIED_PER_MODEL, audit_section
from .cells import judged_rows
from .comparison import comparison
from .external import external_section
from .families import families_section
from .gradcam import gradcam_context
from .headline import headline
from .methods import methods_section
from .model import model_section, slugify
from .overview import overview
from .verdict import banner, first_screen


def _partial_banner(run: Run) -> dict | None:
    planned = list(run.runinfo.get("units_planned") or [])
    missing = [u for u in planned if u not in run.units]
    if not missing:
        return None
    return {"finished": len(planned) - len(missing), "planned": len(planned), "missing": missing}


def _diverged_banner(run: Run) -> dict | None:
    """Units whose training diverged: results (recorded, not retrained), but without
    predictions, so the fold statistics leave them out and say so."""
    diverged = run.units.diverged()
    if not diverged:
        return None
    return {"count": len(diverged), "units": [f"{n} at epoch {e}" for n, e in diverged.items()]}


def _reproduce(run: Run) -> dict:
    command = run.runinfo.get("command") or []
    return {
        "command": shlex.join(str(c) for c in command) if command else None,
        "rerender": shlex.join(["python", "-m", "mpx_eval", "report", "--out", str(run.out)]),
        "config": run.recorded.text,
    }


def _photos_note(run: Run) -> dict:
    """What the page embeds of the data set's photos, for the note at its top; read after
    every section has taken its thumbnails."""
    rerender = ["python", "-m", "mpx_eval", "report", "--out", str(run.out), "--images"]
    return {
        "shown": run.photos,
        "count": run.embedded,
        "demo": bool(run.config.demo),
        "without": shlex.join([*rerender, "none"]),
        "with": shlex.join([*rerender, "all"]),
    }


def build_context(run: Run) -> tuple[dict, list[FigureSpec]]:
    """The template's context and the figures it needs drawn."""
    figures = Figures()
    taken: set[str] = set()
    names = run.names()
    evaluated = {name: judged_rows(run, name) for name in names}
    models = [
        model_section(run, name, slugify(name, taken), evaluated[name], figures) for name in names
    ]
    compared = comparison(run, models, figures)
    external = external_section(run)
    order = ["overview", "headline", "models", "comparison"]
    order += ["external"] if external else []
    order += ["audit", "mistakes", "reproduce", "methods"]
    context = {
        "number": {name: i for i, name in enumerate(order, start=1)},
        "external": external,
        "title": f"{' vs '.join(names)} — evaluation report",
        "version": run.runinfo.get("mpx_eval") or "(version not recorded)",
        "out": str(run.out),
        "classes": run.classes,
        "positive": run.positive,
        "banner": banner(run),
        "partial": _partial_banner(run),
        "diverged": _diverged_banner(run),
        "overview": overview(run),
        "headline": headline(run, models, figures),
        "models": models,
        "comparison": compared,
        "verdict": first_screen(run, models, compared["pairs"]),
        "audit": audit_section(run, evaluated),
        "families": families_section(run),
        "gradcam": gradcam_context(run, evaluated, MISCLASSIFIED_PER_MODEL),
        "reproduce": _reproduce(run),
        "methods": methods_section(run),
    }
    context["photos"] = _photos_note(run)
    return context, figures.specs


__all__ = ["build_context"]
