"""``predict`` on a model folder someone sent: nothing it reads is trusted (model.json, the
.keras archive, the names of files and of --out), no code named in the folder runs without
--trust-model-code, and images are decoded and predicted a batch at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from mpx_eval.cli import main
from mpx_eval.training import predict as predict_module

from .conftest import REPO, random_image

SIZE = 32
RECORD = {"unit": "u-seed-0", "model": "t4", "class_names": ["A", "B"], "input_size": SIZE}


def _model(*stack, shape=(SIZE, SIZE, 3)) -> keras.Model:
    head = stack or (layers.GlobalAveragePooling2D(), layers.Dense(2))
    return keras.Sequential([keras.Input(shape=shape), layers.Rescaling(1 / 255), *head])


def _unit(folder: Path, model: keras.Model, record: dict | str | None = RECORD) -> Path:
    """A unit folder as a run keeps it: model.keras, and model.json unless ``record`` is None
    (text is written as it is)."""
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # Keras's own numpy-2 notice about TensorFlow variables, once per weight
        warnings.simplefilter("ignore", DeprecationWarning)
        model.save(folder / "model.keras")
    if record is not None:
        text = record if isinstance(record, str) else json.dumps(record)
        (folder / "model.json").write_text(text)
    return folder


def _images(folder: Path, n: int = 3, *, names: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate(names or [f"img{i}.png" for i in range(n)]):
        random_image(rng, 40, label=i).save(folder / name, format="PNG")
    return folder


def _predict(capsys, *args) -> tuple[int, str, str]:
    code = main(["predict", *(os.fspath(a) for a in args)])
    said = capsys.readouterr()
    return code, said.out, said.err


def _refused(capsys, *args) -> str:
    """The one line predict printed when it refused ``args`` (exit 2)."""
    code, out, err = _predict(capsys, *args)
    assert code == 2, err
    assert out == "" and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def photos(tmp_path) -> Path:
    return _images(tmp_path / "photos")


# ---- 1. the input size is the model's own; model.json must agree


@pytest.mark.parametrize("size", ["32", -5, 32.7, [32], True, 1_000_000, 48])
def test_a_bad_input_size_in_model_json_is_refused(tmp_path, photos, capsys, size):
    unit = _unit(tmp_path / "unit", _model(), {**RECORD, "input_size": size})
    assert "input_size" in _refused(capsys, "--model", unit, photos)


def test_the_input_size_comes_from_the_model(tmp_path, photos, capsys):
    unit = _unit(
        tmp_path / "unit", _model(), {k: v for k, v in RECORD.items() if k != "input_size"}
    )
    assert _predict(capsys, "--model", unit, photos)[0] == 0
    any_size = _model(shape=(None, None, 3))
    assert "any size" in _refused(
        capsys, "--model", _unit(tmp_path / "any", any_size, None), photos
    )
    assert _predict(capsys, "--model", _unit(tmp_path / "any2", any_size), photos)[0] == 0


# ---- 2. no code named in a model folder runs without --trust-model-code

LAYER_MODULE = """
import keras
from pathlib import Path

Path({marker!r}).write_text("imported")


@keras.saving.register_keras_serializable(package="mpxtest")
class Doubler(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def build(input_shape, num_classes):
    return keras.Sequential([keras.Input(shape=input_shape), Doubler(),
                             keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(num_classes)])
"""


def test_a_model_with_its_own_layers_needs_the_trust_flag(tmp_path, photos, capsys, monkeypatch):
    marker = tmp_path / "imported.txt"
    name = f"mpx_user_layers_{os.getpid()}"
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / f"{name}.py").write_text(LAYER_MODULE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(code_dir))
    module = __import__(name)
    unit = _unit(
        tmp_path / "unit", module.build((SIZE, SIZE, 3), 2), {**RECORD, "model": f"{name}:build"}
    )
    # as in a fresh process: the module not imported, its layer unknown to Keras
    del sys.modules[name]
    keras.saving.get_custom_objects().pop("mpxtest>Doubler")
    marker.unlink()

    err = _refused(capsys, "--model", unit, photos)
    assert "--trust-model-code" in err and f"{name}.Doubler" in err
    assert not marker.exists() and name not in sys.modules
    assert _predict(capsys, "--model", unit, "--trust-model-code", photos)[0] == 0
    assert marker.exists()
    keras.saving.get_custom_objects().pop("mpxtest>Doubler", None)


def test_a_config_naming_any_other_module_is_refused_before_keras_reads_it(
    tmp_path, photos, capsys
):
    unit = _unit(tmp_path / "unit", _model())
    archive = unit / "model.keras"
    with zipfile.ZipFile(archive) as source:
        files = {n: source.read(n) for n in source.namelist()}
    files["config.json"] = files["config.json"].replace(
        b'"module": "keras.layers", "class_name": "Dense"',
        b'"module": "os", "class_name": "system"',
    )
    with zipfile.ZipFile(archive, "w") as target:
        for n, data in files.items():
            target.writestr(n, data)
    err = _refused(capsys, "--model", unit, photos)
    assert "os.system" in err and "--trust-model-code" in err


def test_lambda_layers_need_the_trust_flag(tmp_path, photos, capsys):
    unit = _unit(
        tmp_path / "unit",
        _model(layers.Lambda(lambda x: x * 2.0), layers.Flatten(), layers.Dense(2)),
    )
    err = _refused(capsys, "--model", unit, photos)
    assert "Python lambda" in err and "--trust-model-code" in err
    assert _predict(capsys, "--model", unit, "--trust-model-code", photos)[0] == 0


def test_a_keras_whose_safe_mode_can_be_bypassed_is_not_trusted(
    tmp_path, photos, capsys, monkeypatch
):
    unit = _unit(tmp_path / "unit", _model())
    monkeypatch.setattr(keras, "__version__", "3.8.0")
    err = _refused(capsys, "--model", unit, photos)
    assert "Keras 3.8.0" in err and "3.12" in err and "--trust-model-code" in err
    assert _predict(capsys, "--model", unit, "--trust-model-code", photos)[0] == 0


# ---- 3. --out is checked before any work, and never replaces an input


def test_out_is_checked_before_any_work(tmp_path, photos, capsys, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("a model was loaded before --out was checked")

    monkeypatch.setattr(predict_module, "load_saved_model", no_work)
    scan = tmp_path / "scan.dat"
    scan.write_bytes((photos / "img0.png").read_bytes())
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    folder = tmp_path / "existing"
    folder.mkdir()
    cases = [
        ([scan, "--out", scan], "is the input image"),
        ([photos, "--out", photos / "new.png"], "image extension"),
        ([photos, "--out", f"{tmp_path / 'newdir'}{os.sep}"], "names a folder"),
        ([photos, "--out", folder], "is a folder"),
        ([photos, "--out", fifo], "FIFO"),
    ]
    for args, message in cases:
        assert message in _refused(capsys, "--model", tmp_path / "m.keras", *args), args
    assert scan.read_bytes() == (photos / "img0.png").read_bytes()
    assert not (tmp_path / "newdir").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "existing",
        "fifo.csv",
        "photos",
        "scan.dat",
    ]


def test_names_that_are_not_utf8_are_escaped_not_a_crash(tmp_path, capsys):
    unit = _unit(tmp_path / "unit", _model())
    photos = tmp_path / "photos"
    photos.mkdir()
    try:
        (photos / os.fsdecode(b"caf\xe9.png")).touch()
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only UTF-8 names")
    _images(photos, names=[os.fsdecode(b"caf\xe9.png"), "new\nline.png"])
    out = tmp_path / os.fsdecode(b"out\xe9.csv")
    code, printed, err = _predict(capsys, "--model", unit, photos, "--out", out)
    assert code == 0, err
    with open(out, encoding="utf-8") as fh:
        table = pd.read_csv(fh)
    assert sorted(Path(p).name for p in table.path) == ["caf\\xe9.png", "new\\nline.png"]
    assert "caf\\xe9.png" in printed and len(printed.strip().splitlines()) == 3
    assert "out\\xe9.csv" in err


# ---- 4. the model's shapes


def _two_inputs() -> keras.Model:
    a, b = keras.Input((SIZE, SIZE, 3)), keras.Input((SIZE, SIZE, 3))
    pooled = layers.GlobalAveragePooling2D()(layers.Add()([a, b]))
    return keras.Model([a, b], layers.Dense(2)(pooled))


def _two_outputs() -> keras.Model:
    x = keras.Input((SIZE, SIZE, 3))
    pooled = layers.GlobalAveragePooling2D()(x)
    return keras.Model(x, [layers.Dense(2)(pooled), layers.Dense(2)(pooled)])


@pytest.mark.parametrize(
    ("build", "record", "message"),
    [
        (lambda: _model(shape=(SIZE, SIZE, 1)), RECORD, "needs RGB images"),
        (_two_inputs, RECORD, "takes 2 inputs"),
        (_two_outputs, RECORD, "has 2 outputs"),
        (
            lambda: _model(layers.GlobalAveragePooling2D(), layers.Dense(1, activation="sigmoid")),
            {**RECORD, "class_names": ["A"]},
            "at least 2 classes",
        ),
        (lambda: _model(shape=(SIZE, 48, 3)), RECORD, "square"),
        (_model, "[1, 2]", "holds a JSON list"),
    ],
)
def test_a_model_predict_cannot_use_is_refused(tmp_path, photos, capsys, build, record, message):
    unit = _unit(tmp_path / "unit", build(), record)
    assert message in _refused(capsys, "--model", unit, photos)


# ---- 5. class names


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ("ab", "must be a list of names"),
        (["A", "A"], "names 'A' twice"),
        (["A", "B", "C"], "has 2 outputs but model.json names 3 classes"),
        ([1, 2], "must be a list of names"),
        (["A", ""], "cannot name a class"),
        (["A", "B\nC"], "cannot name a class"),
    ],
)
def test_class_names_must_name_each_output_once(tmp_path, photos, capsys, names, message):
    unit = _unit(tmp_path / "unit", _model(), {**RECORD, "class_names": names})
    assert message in _refused(capsys, "--model", unit, photos)


def test_a_model_json_without_class_names_is_refused(tmp_path, photos, capsys):
    record = {k: v for k, v in RECORD.items() if k != "class_names"}
    unit = _unit(tmp_path / "unit", _model(), record)  # it had given class_0, class_1 columns
    assert "model.json has no class_names" in _refused(capsys, "--model", unit, photos)


# ---- 6. probabilities from the model's own last layer


def test_model_json_cannot_make_logits_probabilities(tmp_path, photos, capsys):
    logits = _unit(tmp_path / "logits", _model(), {**RECORD, "outputs": "probabilities"})
    assert "ends in no softmax" in _refused(capsys, "--model", logits, photos)
    softmax = _model(layers.GlobalAveragePooling2D(), layers.Dense(2, activation="softmax"))
    said_logits = _unit(tmp_path / "softmax", softmax, {**RECORD, "outputs": "logits"})
    assert "ends in a softmax" in _refused(capsys, "--model", said_logits, photos)


def test_logits_go_through_a_softmax(tmp_path, photos, capsys):
    from mpx_eval.data.images import decode_file

    model = _model()
    model.layers[-1].set_weights([np.array([[3.0, -3.0]] * 3), np.array([0.5, -0.5])])
    unit = _unit(tmp_path / "unit", model)
    out = tmp_path / "p.csv"
    assert _predict(capsys, "--model", unit, photos, "--out", out)[0] == 0
    table = pd.read_csv(out)
    x = np.stack([decode_file(Path(p), [SIZE]).arrays[SIZE] for p in table.path])
    z = np.asarray(model.predict_on_batch(x), dtype=np.float64)
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(table[["prob_A", "prob_B"]].to_numpy(), expected, atol=1e-6)


def test_outputs_that_are_not_numbers_are_refused(tmp_path, photos, capsys):
    model = _model()
    dense = model.layers[-1]
    dense.set_weights([np.full_like(w, np.nan) for w in dense.get_weights()])
    unit = _unit(tmp_path / "unit", model)
    assert "not finite numbers" in _refused(capsys, "--model", unit, photos)


# ---- 7. a damaged model file is called damaged


def test_a_damaged_model_file_is_named_as_damaged(tmp_path, photos, capsys):
    whole = (_unit(tmp_path / "good", _model()) / "model.keras").read_bytes()
    no_config = tmp_path / "no_config.zip"
    with zipfile.ZipFile(no_config, "w") as archive:
        archive.writestr("metadata.json", "{}")
    for name, data in [
        ("empty", b""),
        ("garbage", b"not a model at all"),
        ("truncated", whole[: len(whole) // 2]),
        ("no-config", no_config.read_bytes()),
    ]:
        model_file = tmp_path / f"{name}.keras"
        model_file.write_bytes(data)
        err = _refused(capsys, "--model", model_file, photos)
        assert f"{name}.keras is damaged or not a Keras model file" in err, err
        assert "File not found" not in err


# ---- 8. links to nothing, link loops and FIFOs


def test_unreadable_entries_in_a_folder_are_listed_not_skipped(tmp_path, capsys):
    photos = _images(tmp_path / "photos", 1)
    (photos / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (photos / "loop.png").symlink_to(photos / "loop.png")
    os.mkfifo(photos / "pipe.png")
    unit = _unit(tmp_path / "unit", _model())
    out = tmp_path / "p.csv"
    code, _, err = _predict(capsys, "--model", unit, photos, "--out", out)
    assert code == 0, err
    assert [Path(p).name for p in pd.read_csv(out).path] == ["img0.png"]
    warning = next(line for line in err.splitlines() if "left out 3 entries" in line)
    for name, why in [("dangling", "link to nothing"), ("loop", "link loop"), ("pipe", "FIFO")]:
        assert f"{name}.png is a {why}" in warning
    for name, why in [("dangling", "link to nothing"), ("pipe", "FIFO")]:
        assert why in _refused(capsys, "--model", unit, photos / f"{name}.png")


def test_a_fifo_is_never_opened(tmp_path):
    """In a child process, so that a reader blocked on a FIFO fails the test, not hangs it."""
    unit = _unit(tmp_path / "unit", _model())
    fifo_record = _unit(tmp_path / "fifo-record", _model(), None)
    in_a_run = _unit(tmp_path / "run" / "units" / "u-seed-0", _model())
    (tmp_path / "run" / "metrics.json").write_text("{}")
    photos = _images(tmp_path / "photos", 1)
    fifos = [tmp_path / "pipe.keras", tmp_path / "pipe.png", fifo_record / "model.json"]
    for fifo in [*fifos, in_a_run / "unit.json"]:
        os.mkfifo(fifo)
    runs = [
        [str(tmp_path / "pipe.keras"), str(photos)],
        [str(fifo_record), str(photos)],
        [str(unit), str(tmp_path / "pipe.png")],
        [str(in_a_run), str(photos)],  # the run's record is left unread, the model used
    ]
    code = (
        "from mpx_eval.cli import main\n"
        f"for argv in {runs!r}:\n"
        "    print('EXIT', main(['predict', '--model', *argv]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    codes = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("EXIT ")]
    assert codes == ["2", "2", "2", "0"], done.stderr
    for name in ("pipe.keras", "model.json", "pipe.png"):
        assert f"{name} is a FIFO" in done.stderr


# ---- 9. images stream through in batches


def test_images_are_decoded_and_predicted_a_batch_at_a_time(tmp_path, capsys, monkeypatch):
    photos = _images(tmp_path / "photos", 7)
    unit = _unit(tmp_path / "unit", _model())
    monkeypatch.setattr(predict_module, "BATCH", 2)
    decoded, seen = [0], []
    lock = threading.Lock()
    decode, probabilities = predict_module.decode_file, predict_module.class_probabilities

    def counting_decode(*args, **kwargs):
        with lock:
            decoded[0] += 1
        return decode(*args, **kwargs)

    def watching(saved, x):
        with lock:
            seen.append((len(x), decoded[0]))
        return probabilities(saved, x)

    monkeypatch.setattr(predict_module, "decode_file", counting_decode)
    monkeypatch.setattr(predict_module, "class_probabilities", watching)
    assert _predict(capsys, "--model", unit, photos)[0] == 0
    assert [n for n, _ in seen] == [2, 2, 2, 1]
    # while batch k is predicted, at most batch k + 1 has been decoded besides it
    assert all(count <= 2 * (k + 2) for k, (_, count) in enumerate(seen)), seen


# ---- what a unit folder says about a missing model


def test_a_unit_json_that_is_not_an_object_is_one_line(tmp_path, photos, capsys):
    folder = tmp_path / "unit"
    folder.mkdir()
    (folder / "unit.json").write_text('["saved_model"]')
    assert "no model.keras in this folder" in _refused(capsys, "--model", folder, photos)
