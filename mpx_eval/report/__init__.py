"""The HTML report of a run, rendered from its artefacts alone (no TensorFlow/Keras)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, select_autoescape

from ..results import aggregate_run, write_text

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mpx_eval report</title></head>
<body><h1>mpx_eval report</h1>
{% for name, entry in metrics.models.items() %}<h2>{{ name }}</h2>
{% if entry.cv %}<table><tr><th>fold</th><th>n_test</th><th>accuracy</th><th>AUC</th>
<th>best epoch</th></tr>{% for f in entry.cv.folds %}<tr><td>{{ f.fold }}</td><td>{{ f.n_test }}</td>
<td>{{ '%.3f' % f.accuracy }}</td><td>{{ f.roc_auc }}</td><td>{{ f.best_epoch }}</td></tr>
{% endfor %}</table>{% endif %}{% endfor %}
</body></html>
"""


def render_run(out: str | Path) -> Path:
    out = Path(out)
    metrics = aggregate_run(out)
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    html = env.from_string(_PAGE).render(metrics=metrics)
    write_text(out / "index.html", html)
    return out / "index.html"
