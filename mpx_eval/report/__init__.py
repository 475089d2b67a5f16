"""The HTML report of a run, rendered from its artefacts alone (no TensorFlow/Keras).

Layers: ``run`` reads the run folder through its readers (the typed metrics.json and
config.toml included), ``curves`` derives curves and tables through :mod:`mpx_eval.metrics`,
``sections`` builds one part of the page each, ``figures`` draws (each figure with its
caption), ``text`` puts numbers and verdicts in words, and the Jinja2 templates in
``templates/`` turn it all into one self-contained page.
"""

from __future__ import annotations

from .render import render_run

__all__ = ["render_run"]
