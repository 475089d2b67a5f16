"""The HTML report of a run, rendered from its artefacts alone (no TensorFlow/Keras).

Layers: ``_artefacts`` reads and checks the run folder, ``_compute`` derives curves and
tables through :mod:`mpx_eval.metrics`, ``_context`` arranges the sections, ``_figures``
draws, and the Jinja2 templates in ``templates/`` turn it all into one self-contained page.
"""

from __future__ import annotations

from ._render import render_run

__all__ = ["render_run"]
