"""Missing, truncated or malformed artefacts: one MpxEvalError that names the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mpx_eval.cli import main
from mpx_eval.errors import MpxEvalError
from mpx_eval.report import render_run

from .synthetic_run import make_run


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _drop_column(path: Path, column: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    index = lines[0].split(",").index(column)
    kept = [",".join(v for i, v in enumerate(line.split(",")) if i != index) for line in lines]
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")


def _scale_probabilities(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    first = header.index("prob_Monkeypox")
    fixed = [lines[0]]
    for line in lines[1:]:
        values = line.split(",")
        values[first] = str(float(values[first]) * 3)
        fixed.append(",".join(values))
    path.write_text("\n".join(fixed) + "\n", encoding="utf-8")


DAMAGE = {
    "runinfo truncated": ("runinfo.json", lambda p: _truncate(p)),
    "runinfo missing": ("runinfo.json", lambda p: p.unlink()),
    "runinfo lacks the data set": (
        "runinfo.json",
        lambda p: _edit_json(p, lambda d: d.pop("dataset")),
    ),
    "runinfo lacks the classes": (
        "runinfo.json",
        lambda p: _edit_json(p, lambda d: d["dataset"].pop("classes")),
    ),
    "runinfo image sizes not an object": (
        "runinfo.json",
        lambda p: _edit_json(p, lambda d: d["dataset"].update(sizes_seen=[1])),
    ),
    "models truncated": ("models.json", lambda p: _truncate(p, 0.3)),
    "models with a shapeless layer": (
        "models.json",
        lambda p: _edit_json(p, lambda d: d["t4"]["layers"][0].update(output_shape=7)),
    ),
    "models lack layers": ("models.json", lambda p: _edit_json(p, lambda d: d["t3"].pop("layers"))),
    "unit predictions truncated": ("units/t3-cv-1/predictions.csv", lambda p: _truncate(p, 0.6)),
    "unit predictions cut at a line end": (
        "units/t4-cv-2/predictions.csv",
        lambda p: p.write_text("".join(p.read_text().splitlines(True)[:-3])),
    ),
    "unit predictions lack a class": (
        "units/t4-seed-0/predictions.csv",
        lambda p: _drop_column(p, "prob_Others"),
    ),
    "unit probabilities do not sum to one": ("units/t3-cv-2/predictions.csv", _scale_probabilities),
    "unit history truncated": ("units/t4-cv-1/history.csv", lambda p: _truncate(p, 0.5)),
    "unit history empty": ("units/t3-seed-0/history.csv", lambda p: p.write_text("")),
    "audit truncated": ("audit.json", lambda p: _truncate(p, 0.7)),
    "audit lacks leaks": ("audit.json", lambda p: _edit_json(p, lambda d: d.pop("leaks"))),
    "config not TOML": ("config.toml", lambda p: p.write_text("[data\ndemo = true\n")),
    "config missing": ("config.toml", lambda p: p.unlink()),
    "splits missing": ("splits.csv", lambda p: p.unlink()),
    "splits lack roles": ("splits.csv", lambda p: _drop_column(p, "role")),
    "thumbnails truncated": ("thumbnails.zip", lambda p: _truncate(p, 0.5)),
    "thumbnails missing": ("thumbnails.zip", lambda p: p.unlink()),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_artefact_raises_one_error_naming_it(tmp_path, damage):
    name, spoil = DAMAGE[damage]
    out = make_run(tmp_path / "run", folds=2, n_per_class=10, epochs=4)
    spoil(out / name)
    with pytest.raises(MpxEvalError) as info:
        render_run(out)
    message = str(info.value)
    assert str(out / name) in message
    assert "\n" not in message
    assert not (out / "index.html").exists()


def test_a_missing_run_folder_is_named(tmp_path):
    with pytest.raises(MpxEvalError, match="nowhere"):
        render_run(tmp_path / "nowhere")


def test_a_damaged_metrics_json_is_rebuilt_from_the_units(tmp_path):
    out = make_run(tmp_path / "run", folds=2, n_per_class=10, epochs=4)
    (out / "metrics.json").write_text('{"models": {')
    render_run(out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["models"]["t4"]["cv"]["k"] == 2
    assert (out / "index.html").is_file()


def test_the_report_command_prints_one_line_and_exits_2(tmp_path, capsys):
    out = make_run(tmp_path / "run", folds=2, n_per_class=10, epochs=4)
    _truncate(out / "audit.json")
    assert main(["report", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mpx_eval: error:") and str(out / "audit.json") in err
    assert len(err.splitlines()) == 1


def test_the_report_command_renders_a_good_run(tmp_path, capsys):
    out = make_run(tmp_path / "run", folds=2, n_per_class=10, epochs=4)
    assert main(["report", "--out", str(out)]) == 0
    assert str(out / "index.html") in capsys.readouterr().out
