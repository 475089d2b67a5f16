"""Reliability: a catalogue of bad inputs, odd but valid images, crash-safe resume, and a
data folder that is never written to."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mpx_eval.cli import main

from .conftest import REPO, random_image

FAST = ["--epochs", "1", "--image-size", "32", "--quiet"]


def run_t4(root: Path, out: Path, *extra: str) -> int:
    """A one-epoch T4 run at 32 px on ``root``; returns the exit code."""
    argv = ["run", "--data-dir", str(root), "--models", "t4", *FAST, "--out", str(out)]
    return main([*argv, *extra])


def tree(root: Path, classes: dict[str, int], *, size: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for label, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            random_image(rng, size, label=label).save(root / name / f"p{i:02d}_1.jpg")
    return root


def _png_with_size(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def _truncated_jpeg() -> bytes:
    buf = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, "JPEG")
    return buf.getvalue()[:600]


# Each case: (id, builder(tmp) -> argv, expected exit code, text the message must contain).
def _data(tmp, **classes):
    return tree(tmp / "data", classes or {"A": 6, "B": 6})


def case_missing(tmp):
    return ["run", "--data-dir", str(tmp / "nowhere")]


def case_file(tmp):
    (tmp / "f.txt").write_text("x")
    return ["run", "--data-dir", str(tmp / "f.txt")]


def case_empty(tmp):
    (tmp / "empty").mkdir()
    return ["run", "--data-dir", str(tmp / "empty")]


def case_one_class(tmp):
    return ["run", "--data-dir", str(tree(tmp / "d", {"A": 5}))]


def case_class_without_images(tmp):
    root = tree(tmp / "d", {"A": 5})
    (root / "B").mkdir()
    (root / "B" / "notes.txt").write_text("x")
    return ["run", "--data-dir", str(root)]


def case_only_non_images(tmp):
    for name in ("A", "B"):
        (tmp / "d" / name).mkdir(parents=True)
        (tmp / "d" / name / "table.csv").write_text("a,b\n")
    return ["run", "--data-dir", str(tmp / "d")]


def case_truncated_jpeg(tmp):
    root = _data(tmp)
    (root / "A" / "cut.jpg").write_bytes(_truncated_jpeg())
    return ["run", "--data-dir", str(root)]


def case_text_named_jpg(tmp):
    root = _data(tmp)
    (root / "B" / "note.jpg").write_text("I am text")
    return ["run", "--data-dir", str(root)]


def case_zero_byte(tmp):
    root = _data(tmp)
    (root / "B" / "zero.png").write_bytes(b"")
    return ["run", "--data-dir", str(root)]


def case_fewer_than_folds(tmp):
    return ["run", "--data-dir", str(tree(tmp / "d", {"A": 6, "Rare": 2})), "--folds", "3"]


def case_folds_one(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--folds", "1"]


def case_negative_epochs(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--epochs", "-3"]


def case_non_integer_folds(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--folds", "five"]


def case_unknown_model(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--models", "t4,resnet9000"]


def case_model_import_fails(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--models", "no_such_pkg.nets:build"]


def case_model_returns_no_model(tmp):
    return [
        "run",
        "--data-dir",
        str(_data(tmp)),
        "--models",
        "tests.helpers.user_models:not_a_model",
    ]


def case_config_unknown_key(tmp):
    (tmp / "c.toml").write_text("[training]\nepocs = 3\n")
    return ["run", "--data-dir", str(_data(tmp)), "--config", str(tmp / "c.toml")]


def case_config_wrong_type(tmp):
    (tmp / "c.toml").write_text("[protocol]\nfolds = 'five'\n")
    return ["run", "--data-dir", str(_data(tmp)), "--config", str(tmp / "c.toml")]


def case_pattern_does_not_compile(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--group-pattern", "([a-z"]


def case_pattern_matches_nothing(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--group-pattern", "^(zzz)_"]


def case_out_not_writable(tmp):
    (tmp / "plain-file").write_text("x")
    return ["run", "--data-dir", str(_data(tmp)), "--out", str(tmp / "plain-file" / "run")]


def case_gpu_missing(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--device", "gpu"]


def case_decompression_bomb(tmp):
    root = _data(tmp)
    (root / "A" / "bomb.png").write_bytes(_png_with_size(40_000, 40_000))
    return ["run", "--data-dir", str(root)]


def case_symlink_loop(tmp):
    root = _data(tmp)
    os.symlink("loop.jpg", root / "B" / "loop.jpg")
    os.symlink("..", root / "B" / "parent")  # a directory loop is not followed
    return ["run", "--data-dir", str(root)]


def case_missing_config_file(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--config", str(tmp / "absent.toml")]


def case_unknown_option(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--epoch", "3"]


def case_report_not_a_run(tmp):
    (tmp / "out").mkdir()
    return ["report", "--out", str(tmp / "out")]


def _user(tmp, model: str, **classes):
    return ["run", "--data-dir", str(_data(tmp, **classes)), "--models", model, *FAST]


def case_foreign_out(tmp):
    out = tmp / "out"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "user_plot.png").write_bytes(b"mine")
    (out / "index.html").write_text("<p>my page</p>")
    return ["run", "--data-dir", str(_data(tmp)), "--out", str(out)]


def case_out_inside_data(tmp):
    root = _data(tmp)
    return ["run", "--data-dir", str(root), "--out", str(root / "reports")]


def case_out_is_data(tmp):
    root = _data(tmp)
    return ["run", "--data-dir", str(root), "--out", str(root)]


def case_learning_rate_inf(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--learning-rate", "inf"]


def case_learning_rate_nan(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--learning-rate", "nan"]


def case_two_outputs(tmp):
    return _user(tmp, "tests.helpers.user_models:two_outputs")


def case_unit_folders_collide(tmp):
    models = "tests.helpers.user_models:tiny,tests.helpers.user:models_tiny"
    return ["run", "--data-dir", str(_data(tmp)), "--models", models]


def case_class_missing_from_training(tmp):
    from mpx_eval.data.splits import keras_validation_mask

    # a seed that puts the one "Rare" image (scanned last) into the seed split's validation
    seed = next(s for s in range(200) if keras_validation_mask(7, np.arange(7), seed=s)[6])
    root = tree(tmp / "d", {"A": 6, "Rare": 1})
    return ["run", "--data-dir", str(root), "--folds", "0", "--seed", str(seed)]


def case_fifo_named_jpg(tmp):
    root = _data(tmp)
    os.mkfifo(root / "B" / "pipe.jpg")
    return ["run", "--data-dir", str(root)]


def case_seed_negative(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--seed", "-5"]


def case_seed_too_large(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--seed", "99999999999"]


def case_seed_past_the_last_repeat(tmp):
    return ["splits", "--data-dir", str(_data(tmp)), "--seed", "4294967295", "--repeats", "2"]


def case_repeats_beyond_any_use(tmp):
    return ["run", "--data-dir", str(_data(tmp)), "--repeats", "100000"]


def case_config_not_utf8(tmp):
    (tmp / "c.toml").write_bytes("[training]\nepochs = 3 # é\n".encode("latin-1"))
    return ["run", "--data-dir", str(_data(tmp)), "--config", str(tmp / "c.toml")]


def case_splits_out_folder(tmp):
    (tmp / "plans").mkdir()
    return ["splits", "--data-dir", str(_data(tmp)), "--out", str(tmp / "plans")]


def case_figures_is_a_file(tmp):
    out = tmp / "out"
    out.mkdir()
    (out / ".mpx_eval").write_text("{}")
    (out / "figures").write_text("not a folder")
    return ["run", "--data-dir", str(_data(tmp)), "--out", str(out)]


def case_index_is_a_folder(tmp):
    out = tmp / "out"
    (out / "index.html").mkdir(parents=True)
    (out / ".mpx_eval").write_text("{}")
    return ["run", "--data-dir", str(_data(tmp)), "--out", str(out)]


def case_default_size_not_a_number(tmp):
    return _user(tmp, "tests.helpers.user_models:sized_abc")


def case_default_size_too_small(tmp):
    return _user(tmp, "tests.helpers.user_models:sized_3")


def case_builder_raises_keyboard_interrupt(tmp):
    return _user(tmp, "tests.helpers.user_models:interrupts")


CATALOGUE = [
    (case_missing, 2, "does not exist"),
    (case_file, 2, "is a file"),
    (case_empty, 2, "no class sub-folders"),
    (case_one_class, 2, "one class"),
    (case_class_without_images, 2, "holds no image files"),
    (case_only_non_images, 2, "holds no image files"),
    (case_truncated_jpeg, 2, "A/cut.jpg"),
    (case_text_named_jpg, 2, "B/note.jpg: not a readable image"),
    (case_zero_byte, 2, "B/zero.png: empty file"),
    (case_fewer_than_folds, 2, "class 'Rare' has 2 images, fewer than --folds 3"),
    (case_folds_one, 2, "folds must be 0"),
    (case_negative_epochs, 2, "epochs must be a positive integer, got -3"),
    (case_non_integer_folds, 2, "invalid int value: 'five'"),
    (case_unknown_model, 2, "unknown model 'resnet9000'"),
    (case_model_import_fails, 2, "cannot import no_such_pkg.nets"),
    (case_model_returns_no_model, 2, "returned str, not a keras.Model"),
    (case_config_unknown_key, 2, "unknown key 'epocs' in [training]"),
    (case_config_wrong_type, 2, "'folds' must be an integer"),
    (case_pattern_does_not_compile, 2, "does not compile"),
    (case_pattern_matches_nothing, 2, "matches no file name"),
    (case_out_not_writable, 2, "is a file, not a folder"),
    (case_gpu_missing, 2, "--device gpu"),
    (case_decompression_bomb, 2, "A/bomb.png: refused as a possible decompression bomb"),
    (case_symlink_loop, 2, "B/loop.jpg"),
    (case_missing_config_file, 2, "absent.toml does not exist"),
    (case_unknown_option, 2, "unrecognized arguments: --epoch"),
    (case_report_not_a_run, 2, "runinfo.json is missing"),
    (case_foreign_out, 2, "is not an mpx_eval run folder (it holds figures/user_plot.png)"),
    (case_out_inside_data, 2, "is inside the data folder"),
    (case_out_is_data, 2, "is inside the data folder"),
    (case_learning_rate_inf, 2, "learning_rate must be a positive finite number, got inf"),
    (case_learning_rate_nan, 2, "learning_rate must be a positive finite number, got nan"),
    (case_two_outputs, 2, "has 2 outputs"),
    (case_unit_folders_collide, 2, "would share the unit folders"),
    (case_class_missing_from_training, 2, "class 'Rare' (1 image(s)) has no image in the training"),
    (case_fifo_named_jpg, 2, "B/pipe.jpg: not a regular file"),
    (case_seed_negative, 2, "seed must be between 0 and 4294967295, got -5"),
    (case_seed_too_large, 2, "seed must be between 0 and 4294967295, got 99999999999"),
    (case_seed_past_the_last_repeat, 2, "choose a seed of at most 4294967294"),
    (case_repeats_beyond_any_use, 2, "repeats must be an integer from 1 to 100, got 100000"),
    (case_config_not_utf8, 2, "c.toml is not UTF-8 text"),
    (case_splits_out_folder, 2, "plans is a folder; give a file name"),
    (case_figures_is_a_file, 2, "figures is a file where mpx_eval keeps a folder"),
    (case_index_is_a_folder, 2, "index.html is a folder where mpx_eval writes a file"),
    (case_default_size_not_a_number, 2, "default_image_size must be between 16 and 2048"),
    (case_default_size_too_small, 2, "sized_3.default_image_size must be between 16 and 2048"),
    (case_builder_raises_keyboard_interrupt, 2, "raised KeyboardInterrupt (no Ctrl-C"),
]


def _tree_state(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else "dir"
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize(
    ("build", "code", "text"), CATALOGUE, ids=[c[0].__name__[5:] for c in CATALOGUE]
)
def test_bad_input_catalogue(tmp_path, capsys, build, code, text):
    argv = build(tmp_path)
    out = tmp_path / "out"
    if "--out" not in argv:
        argv = [*argv, "--out", str(out)]
    before = _tree_state(out)
    assert main(argv) == code
    err = capsys.readouterr().err
    assert text in err
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 2, err
    assert "Traceback" not in err
    assert _tree_state(out) == before  # nothing half-written


def test_catalogue_is_long_enough():
    assert len(CATALOGUE) >= 47


def test_ray_executor_without_ray(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    argv = [
        "run",
        "--data-dir",
        str(_data(tmp_path)),
        "--executor",
        "ray",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "pip install 'mpx-eval[ray]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_unit_that_fails_is_named_and_the_others_finish(tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "run",
        "--data-dir",
        str(_data(tmp_path)),
        "--folds",
        "0",
        *FAST,
        "--out",
        str(out),
        "--models",
        "t4,tests.helpers.user_models:explodes",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "unit tests.helpers.user_models:explodes-seed-0 failed" in err
    assert "Traceback" not in err
    assert (out / "units" / "t4-seed-0" / "unit.json").is_file()
    assert (out / "index.html").is_file()


def test_report_heals_truncated_aggregates_but_names_damaged_units(tmp_path, capsys):
    out = tmp_path / "out"
    assert run_t4(_data(tmp_path), out, "--folds", "0") == 0
    good = (out / "metrics.json").read_bytes()
    (out / "metrics.json").write_bytes(good[: len(good) // 2])
    (out / "predictions.csv").write_text("model,sch")
    assert main(["report", "--out", str(out)]) == 0  # derived files are rebuilt from the units
    assert (out / "metrics.json").read_bytes() == good
    unit_predictions = out / "units" / "t4-seed-0" / "predictions.csv"
    unit_predictions.write_text("model,scheme\n")
    html = (out / "index.html").read_bytes()
    assert main(["report", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "units/t4-seed-0/predictions.csv" in err and "Traceback" not in err
    assert (out / "index.html").read_bytes() == html
    (out / "runinfo.json").write_text('{"dataset": ')
    assert main(["report", "--out", str(out)]) == 2
    assert "runinfo.json is not valid JSON" in capsys.readouterr().err


def test_deeply_nested_json_is_damage_not_a_crash(tmp_path, capsys):
    out = tmp_path / "out"
    assert run_t4(_data(tmp_path), out, "--folds", "0") == 0
    capsys.readouterr()
    nested = "[" * 200_000 + "]" * 200_000
    (out / "metrics.json").write_text(nested)
    assert main(["report", "--out", str(out)]) == 0  # rebuilt from the units
    assert json.loads((out / "metrics.json").read_text())["models"]
    (out / "runinfo.json").write_text(nested)
    assert main(["report", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "runinfo.json is not valid JSON (nested too deeply" in err and "Traceback" not in err
    assert "RecursionError" not in err


@pytest.mark.parametrize("edit", ["models_a_list", "fold_mean_null"])
def test_edited_metrics_json_is_rebuilt_or_ignored(tmp_path, capsys, edit):
    out = tmp_path / "out"
    assert run_t4(_data(tmp_path, A=8, B=8), out, "--folds", "2") == 0
    data = json.loads((out / "metrics.json").read_text())
    if edit == "models_a_list":
        data["models"] = list(data["models"].values())
    else:
        data["models"]["t4"]["cv"]["mean"] = None
    (out / "metrics.json").write_text(json.dumps(data))
    capsys.readouterr()
    rows = tmp_path / "rows.csv"
    argv = ["predict", "--model", str(out / "units" / "t4-seed-0"), str(tmp_path / "data")]
    assert main([*argv, "--out", str(rows)]) == 0  # the run's figures are left out
    assert len(pd.read_csv(rows)) == 16
    assert main(["report", "--out", str(out)]) == 0
    assert isinstance(json.loads((out / "metrics.json").read_text())["models"], dict)
    assert "Traceback" not in capsys.readouterr().err


def test_unknown_keras_backend_is_one_line(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "bogus", "PYTHONPATH": str(REPO)}
    argv = ["run", "--data-dir", str(_data(tmp_path)), *FAST, "--out", str(tmp_path / "o")]
    done = subprocess.run(
        [sys.executable, "-m", "mpx_eval", *argv], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    assert "Keras cannot start with the backend 'bogus'" in done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


# --------------------------------------------------------------------------- odd but valid


XSS = "<img src=x onerror=alert(1)>"


def test_odd_images_and_names_run_end_to_end(tmp_path):
    root = tmp_path / "odd"
    rng = np.random.default_rng(3)
    rgb = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    first, second = root / "Monkeypox", root / XSS  # a class name that is an HTML tag
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    rgb.convert("RGBA").save(first / "alpha.png")
    rgb.convert("L").save(first / "grey.png")
    rgb.convert("P").save(first / "palette.gif")
    rgb.convert("CMYK").save(first / "cmyk.jpg")
    rgb.save(first / f"it's {XSS}.jpg")
    Image.fromarray(np.arange(1200, dtype=np.uint16).reshape(30, 40) * 50).save(
        second / "sixteen.png"
    )
    exif = Image.Exif()
    exif[0x0112] = 8
    rgb.save(second / "rotated.jpg", exif=exif)
    rgb.save(second / "with spaces & ampersand.bmp")
    rgb.save(second / "ünïcødé_名前.jpeg")
    rgb.save(second / 'double "quoted".png')
    expected = {str(p.relative_to(root)) for p in root.rglob("*.*")}
    out = tmp_path / "out"
    # every file is one photo in another format: with families on they would be one group
    assert run_t4(root, out, "--folds", "2", "--families", "off") == 0
    predictions = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    assert set(predictions.path) == expected  # intact in CSV
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["classes"] == [XSS, "Monkeypox"] or metrics["classes"] == ["Monkeypox", XSS]
    html = (out / "index.html").read_text(encoding="utf-8")
    assert XSS not in html  # escaped in HTML
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_four_classes_end_to_end(tmp_path):
    root = tree(tmp_path / "four", {"Chickenpox": 8, "Measles": 8, "Monkeypox": 8, "Normal": 8})
    out = tmp_path / "out"
    assert run_t4(root, out, "--folds", "2") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["positive_class"] is None
    cv = metrics["models"]["t4"]["cv"]
    assert set(cv["per_class"]) == {"Chickenpox", "Measles", "Monkeypox", "Normal"}
    assert "sensitivity" not in cv["mean"]
    assert cv["mean"]["roc_auc"] is not None
    assert len(cv["confusion_matrix"]["counts"]) == 4
    assert (out / "index.html").stat().st_size > 0


# --------------------------------------------------------------------------- crash safety


def _command(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mpx_eval",
        "run",
        "--demo",
        "--folds",
        "2",
        "--epochs",
        "3",
        "--image-size",
        "40",
        "--quiet",
        "--out",
        str(out),
        *extra,
    ]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _wait_for_first_unit(proc: subprocess.Popen, out: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list((out / "units").glob("*/unit.json")) if (out / "units").exists() else []:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before its first unit: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no unit finished in time")


# config.toml differs in its `out` line only; runinfo.json holds timings
ARTEFACTS = (
    "predictions.csv",
    "history.csv",
    "metrics.json",
    "splits.csv",
    "audit.json",
    "models.json",
    "thumbnails.zip",
)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("whole") / "out"
    subprocess.run(_command(out), check=True, env=_env(), capture_output=True)
    return out


def test_kill_9_then_the_same_command_resumes_without_retraining(tmp_path, uninterrupted):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _command(out), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _wait_for_first_unit(proc, out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {
        p.parent.name: {f.name: f.read_bytes() for f in p.parent.iterdir()}
        for p in (out / "units").glob("*/unit.json")
    }
    assert finished
    subprocess.run(_command(out), check=True, env=_env(), capture_output=True)
    for unit, files in finished.items():  # kept byte for byte: not retrained
        assert {f.name: f.read_bytes() for f in (out / "units" / unit).iterdir()} == files
    for name in ARTEFACTS:
        assert (out / name).read_bytes() == (uninterrupted / name).read_bytes(), name
    assert not list(out.rglob("*.tmp"))


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _command(out, "--epochs", "40"),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a suite started in the background (`nox -s tests &`) hands its children an ignored
        # SIGINT, and Python then keeps ignoring it, as it should; this test wants Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for_first_unit(proc, out)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "run the same command again to resume" in err
    assert "Traceback" not in err
    assert list((out / "units").glob("*/unit.json"))
    assert not list(out.rglob("*.tmp"))


# --------------------------------------------------------------------------- data never touched


def test_read_only_data_folder_is_never_written(tmp_path):
    root = tree(tmp_path / "ro", {"A": 6, "B": 6})
    for path in [root, *root.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    before = _tree_state(root)
    try:
        assert run_t4(root, tmp_path / "out", "--folds", "2") == 0
        assert _tree_state(root) == before
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(root)


def test_builtin_sizes_it_cannot_train_are_refused_before_decoding(tmp_path, capsys, monkeypatch):
    from mpx_eval.commands import guards

    assert guards.lesson_cnn_params(224, 2) == 22_175_138  # the blog's T4
    assert guards.lesson_cnn_params(180, 2) == 13_794_722  # T3
    assert run_t4(_data(tmp_path), tmp_path / "o16", "--image-size", "16") == 2
    assert "t4 needs inputs of at least 18 px, got --image-size 16" in capsys.readouterr().err
    monkeypatch.setattr(guards, "_memory_bytes", lambda: 23 * 10**9)
    assert run_t4(_data(tmp_path), tmp_path / "o", "--image-size", "2048") == 2
    err = capsys.readouterr().err  # it had grown past 12 GB before the kernel's OOM kill
    assert "t4 at 2048 px has 2.1 billion parameters" in err and "Finding image" not in err
