"""``splits --audit FILE.csv``: a split made elsewhere audited without training: planted
copies (exact, rotated, cropped, recoloured), a patient group and a label conflict across its
parts are each reported, a clean split reports none, and a malformed file is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from mpx_eval.cli import main
from mpx_eval.data.given_split import PLAN_CV, ordered_parts, part_scheme, read_given_split
from mpx_eval.data.part_audit import sides
from mpx_eval.errors import MpxEvalError
from tests.helpers.photos import photo_like

SIZE = 48
PATIENTS = "^([^_]+)_"
ORIGINALS = 5


def _photo(seed: int, label: int) -> Image.Image:
    """A photo-like image at SIZE px (see ``photo_like``)."""
    return photo_like(seed, label).resize((SIZE, SIZE), Image.Resampling.BILINEAR)


#: The planted copies: name -> (original, how it was made). Names carry no family, and each
#: its own patient id under PATIENTS.
COPIES = {
    "Monkeypox/E1_0.png": ("Monkeypox/M1_0.png", "exact"),
    "Monkeypox/R2_0.png": ("Monkeypox/M2_0.png", "rotated"),
    "Monkeypox/C3_0.png": ("Monkeypox/M3_0.png", "cropped"),
    "Others/H4_0.png": ("Others/O4_0.png", "recoloured"),
}
#: A copy of an Others photo filed under Monkeypox: a label conflict.
CONFLICT = ("Monkeypox/X1_0.png", "Others/O1_0.png")
#: Two distinct photos of one patient.
PATIENT = ("Others/P9_0.png", "Others/P9_1.png")


def _make(photo: Image.Image, how: str) -> Image.Image:
    if how == "rotated":
        return photo.rotate(90)
    if how == "cropped":
        return photo.crop((4, 4, SIZE - 6, SIZE - 6))
    if how == "recoloured":
        return ImageEnhance.Color(photo).enhance(0.4)
    return photo


def _tree(root: Path, *, conflict: bool) -> Path:
    """Originals M0..M4 and O0..O4, the planted copies, one patient's two photos and, with
    ``conflict``, a relabelled copy."""
    photos = {}
    for label, (name, short) in enumerate((("Monkeypox", "M"), ("Others", "O"))):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(ORIGINALS):
            photos[f"{name}/{short}{k}_0.png"] = _photo(100 * label + k, label)
    photos[PATIENT[0]] = _photo(900, 1)
    photos[PATIENT[1]] = _photo(901, 1)
    for copy, (original, how) in COPIES.items():
        photos[copy] = _make(photos[original], how)
    if conflict:
        photos[CONFLICT[0]] = photos[CONFLICT[1]].resize((40, 40), Image.Resampling.BILINEAR)
    for path, img in photos.items():
        img.save(root / path)
    return root


def _csv(path: Path, rows: dict[str, str], *, header: str = "path,part") -> Path:
    path.write_text(header + "\n" + "".join(f"{p},{part}\n" for p, part in rows.items()))
    return path


def _all_paths(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))


def _leaky(root: Path) -> dict[str, str]:
    """Originals in train, their copies (and the patient's second photo) in test."""
    test = {*COPIES, CONFLICT[0], PATIENT[1], "Monkeypox/M4_0.png", "Others/O3_0.png"}
    return {p: "test" if p in test else "train" for p in _all_paths(root)}


def _audit(tmp_path: Path, root: Path, csv: Path, *extra: str) -> tuple[int, dict, Path]:
    out = tmp_path / f"audit-{csv.stem}"
    args = ["splits", "--audit", str(csv), "--data-dir", str(root), "--out", str(out), *extra]
    code = main(args)
    found = json.loads((out / "audit.json").read_text()) if (out / "audit.json").exists() else {}
    return code, found, out


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """The audit of the leaky plan on the tree with a label conflict, with --group-pattern."""
    tmp = tmp_path_factory.mktemp("leaky")
    root = _tree(tmp / "data", conflict=True)
    csv = _csv(tmp / "official.csv", _leaky(root))
    code, found, out = _audit(tmp, root, csv, "--group-pattern", PATIENTS)
    return code, found, out


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory) -> Path:
    return _tree(tmp_path_factory.mktemp("clean") / "data", conflict=False)


# --------------------------------------------------------------------------- findings


def _paths(entry: dict) -> set[str]:
    return {m["path"] for m in entry["members"]}


def test_each_planted_copy_across_parts_is_reported(leaky):
    code, found, _ = leaky
    assert code == 0  # the audit ran: leaks fail a build only with --fail-on-leak
    crossing = found["crossing"]
    families = [_paths(f) for f in crossing["families"]]
    for copy, (original, _) in COPIES.items():
        assert any({copy, original} <= f for f in families), copy
    assert [_paths(f) for f in crossing["exact"]] == [{"Monkeypox/E1_0.png", "Monkeypox/M1_0.png"}]
    assert [(g["group"], g["parts"]) for g in crossing["groups"]] == [("P9", ["train", "test"])]


def test_test_images_with_a_copy_in_training_are_counted_and_named(leaky):
    _, found, _ = leaky
    exposed = {e["path"]: e for e in found["exposure"]["images"]}
    with_copy = {p for p, e in exposed.items() if e["copies"]}
    assert with_copy == {*COPIES, CONFLICT[0]}
    assert {c["path"] for c in exposed["Monkeypox/R2_0.png"]["copies"]} == {"Monkeypox/M2_0.png"}
    assert exposed["Monkeypox/E1_0.png"]["copies"][0]["via"] == ["family", "exact"]
    assert [m["path"] for m in exposed[PATIENT[1]]["group_members"]] == [PATIENT[0]]
    verdict = found["verdict"]
    assert verdict["leaks"] is True
    assert (verdict["n_evaluated"], verdict["n_with_copy"], verdict["n_with_group_member"]) == (
        8,
        5,
        1,
    )
    assert verdict["sentence"].startswith("5 of 8 test images (62 %) have a copy in train")
    assert found["sides"]["evaluated"] == ["test"]
    assert found["sides"]["training"] == {"test": ["train"]}


def test_a_label_conflict_is_reported_with_its_parts(leaky):
    _, found, _ = leaky
    (conflict,) = found["label_conflicts"]
    assert conflict["labels"] == ["Monkeypox", "Others"]
    assert {m["path"]: m["part"] for m in conflict["members"]} == {
        CONFLICT[0]: "test",
        CONFLICT[1]: "train",
    }
    assert found["verdict"]["label_conflicts"] == 1


def test_the_page_shows_the_verdict_with_thumbnails(leaky):
    _, found, out = leaky
    page = (out / "index.html").read_text()
    assert "The split leaks" in page and found["verdict"]["sentence"] in page
    assert page.count("data:image/jpeg;base64,") >= 10  # thumbnails of the crossing copies
    assert "report.css" not in page and "<style>" in page  # self-contained


def test_terminal_lines_warn_about_each_kind(tmp_path, clean_root, capsys):
    csv = _csv(tmp_path / "s.csv", _leaky(clean_root))
    code, _, _ = _audit(tmp_path, clean_root, csv, "--group-pattern", PATIENTS, "--fail-on-leak")
    assert code == 3
    captured = capsys.readouterr()
    assert "Split audit: the split leaks: 4 of 7 test images (57 %) have a copy in train" in (
        captured.out
    )
    for what in ("image famil(ies)", "patient group(s)", "exact-duplicate set(s)"):
        assert any(line.startswith("  ! ") and what in line for line in captured.err.splitlines())


def test_a_clean_split_reports_nothing_and_passes_fail_on_leak(tmp_path, clean_root, capsys):
    clean = {}
    for path in _all_paths(clean_root):
        source = COPIES.get(path, (path, ""))[0]
        clean[path] = "test" if source in {"Monkeypox/M2_0.png", "Others/O3_0.png"} else "train"
    assert set(clean.values()) == {"train", "test"}
    csv = _csv(tmp_path / "clean.csv", clean)
    code, found, out = _audit(tmp_path, clean_root, csv, "--group-pattern", PATIENTS)
    assert code == 0
    assert found["crossing"] == {"families": [], "groups": [], "exact": [], "near": []}
    assert found["exposure"]["images"] == [] and found["label_conflicts"] == []
    assert found["verdict"]["leaks"] is False
    assert "no copy, duplicate or patient group crosses the parts" in capsys.readouterr().out
    assert (
        "No copy, duplicate or patient group crosses the parts" in (out / "index.html").read_text()
    )
    code, _, _ = _audit(tmp_path, clean_root, csv, "--group-pattern", PATIENTS, "--fail-on-leak")
    assert code == 0


def test_folds_are_each_held_out_against_the_others(tmp_path, clean_root):
    rows = {p: str(i % 3) for i, p in enumerate(_all_paths(clean_root))}
    code, found, _ = _audit(tmp_path, clean_root, _csv(tmp_path / "folds.csv", rows))
    assert code == 0 and found["scheme"] == "folds"
    assert found["sides"]["evaluated"] == ["0", "1", "2"]
    assert found["sides"]["training"]["1"] == ["0", "2"]
    crossing = [f for f in found["crossing"]["families"] if len(f["parts"]) > 1]
    exposed = {e["path"] for e in found["exposure"]["images"] if e["copies"]}
    assert exposed == {p for f in crossing for p in _paths(f)}  # both sides are evaluated
    assert found["verdict"]["sentence"].startswith(f"{len(exposed)} of {len(rows)} images")
    assert found["verdict"]["n_with_group_member"] is None  # no --group-pattern


def test_families_off_still_finds_identical_files(tmp_path, clean_root):
    csv = _csv(tmp_path / "s.csv", _leaky(clean_root))
    code, found, _ = _audit(tmp_path, clean_root, csv, "--families", "off")
    assert code == 0 and found["family_detection"] == "off"
    assert found["verdict"]["crossing_families"] is None
    assert [_paths(f) for f in found["crossing"]["exact"]] == [
        {"Monkeypox/E1_0.png", "Monkeypox/M1_0.png"}
    ]
    assert "families not looked for" in found["verdict"]["sentence"]


def test_mpx_eval_own_plan_is_read_as_its_cv_folds(tmp_path, clean_root):
    plan = tmp_path / "plan.csv"
    args = ["splits", "--data-dir", str(clean_root), "--folds", "2", "--out", str(plan)]
    assert main([*args, "--group-pattern", PATIENTS]) == 0
    code, found, _ = _audit(tmp_path, clean_root, plan, "--group-pattern", PATIENTS)
    assert code == 0 and found["layout"] == PLAN_CV
    assert [p["name"] for p in found["parts"]] == ["cv-1", "cv-2"]
    # the cv folds mpx_eval plans keep every family and patient on one side
    assert found["verdict"]["leaks"] is False


# --------------------------------------------------------------------------- rows and files


def test_missing_unassigned_and_repeated_rows_are_listed(tmp_path, clean_root, capsys):
    rows = _leaky(clean_root)
    del rows["Others/O2_0.png"]
    csv = tmp_path / "s.csv"
    text = "path,part\n" + "".join(f"{p},{part}\n" for p, part in rows.items())
    text += "Others/ghost.png,test\nMonkeypox/M0_0.png,train\n"
    csv.write_text(text)
    code, found, out = _audit(tmp_path, clean_root, csv)
    assert code == 0
    files = found["files"]
    assert [(r["path"], r["line"], r["reason"]) for r in files["missing"]] == [
        ("Others/ghost.png", len(rows) + 2, "no such file in the data folder"),
    ]
    assert files["unassigned"] == ["Others/O2_0.png"]
    assert files["repeated"] == [
        {
            "path": "Monkeypox/M0_0.png",
            "part": "train",
            "lines": [list(rows).index("Monkeypox/M0_0.png") + 2, len(rows) + 3],
        }
    ]
    assert files["n_rows"] == len(rows) + 2
    err = capsys.readouterr().err
    assert "  ! 1 row(s) name no image of the data folder (left out):" in err
    assert "  !   Others/O2_0.png" in err
    assert "Others/ghost.png" in (out / "index.html").read_text()


def _bad(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


BAD_FILES = [
    ("empty", "", "is empty; expected a header line 'path,part'"),
    ("header", "file,split\na.png,train\n", "line 1: the header names file, split; expected"),
    ("no-part", "path,part\nMonkeypox/M0_0.png,\n", "line 2: no part for Monkeypox/M0_0.png"),
    ("short-row", "path,part\nMonkeypox/M0_0.png\n", "line 2: no part for Monkeypox/M0_0.png"),
    ("no-path", "path,part\n,train\n", "line 2: no path; give every row"),
    ("absolute", "path,part\n/data/M0_0.png,train\n", "line 2: path '/data/M0_0.png' is absolute"),
    (
        "backslash",
        "path,part\nMonkeypox\\M0.png,train\n",
        "line 2: path 'Monkeypox\\\\M0.png' uses",
    ),
    ("parent", "path,part\n../x/M0.png,train\n", "line 2: path '../x/M0.png' leaves the data"),
    (
        "two-parts",
        "path,part\nA/a.png,train\nA/b.png,test\nA/a.png,test\n",
        "lines 2 and 4 put A/a.png in both train and test",
    ),
    ("one-part", "path,part\nA/a.png,train\nA/b.png,train\n", "puts every image in one part"),
    (
        "typo",
        "path,part\nA/a.png,train\nA/b.png,tset\nA/c.png,test\n",
        "line 3: part 'tset' is not a role name while other rows use test, train",
    ),
    ("header-only", "path,part\n", "has a header but no rows"),
    ("latin-1", "path,part\nA/é.png,train\n".encode("latin-1"), "is not UTF-8 text"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_malformed_split_file_is_one_line(tmp_path, clean_root, capsys, name, text, message):
    csv = _bad(tmp_path, f"{name}.csv", text)
    code, _, out = _audit(tmp_path, clean_root, csv)
    assert code == 2 and not out.exists()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"mpx_eval: error: split file {csv}")
    assert message in lines[0]


def test_paths_that_match_no_image_are_one_line_after_decoding(tmp_path, clean_root, capsys):
    csv = _csv(tmp_path / "s.csv", {"data/Monkeypox/M0_0.png": "train", "x/y.png": "test"})
    code, _, out = _audit(tmp_path, clean_root, csv)
    assert code == 2 and not (out / "audit.json").exists()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "none of its 2 paths is an image of the data folder" in line
    assert "paths are relative to the data folder, e.g. Monkeypox/C3_0.png" in line


def test_a_missing_split_file_is_one_line(tmp_path, clean_root, capsys):
    code, _, _ = _audit(tmp_path, clean_root, tmp_path / "absent.csv")
    assert code == 2
    assert "absent.csv does not exist; give a CSV" in capsys.readouterr().err


def test_reading_keeps_order_synonyms_and_a_byte_order_mark(tmp_path):
    csv = _bad(
        tmp_path, "s.csv", "\ufeffPath , Part,label\n./A/a.png, Holdout ,x\nA/b.png,TRAIN,y\n"
    )
    given = read_given_split(csv)
    assert given.parts == {"A/a.png": "Holdout", "A/b.png": "TRAIN"}
    assert given.names == ["TRAIN", "Holdout"]
    assert part_scheme(["site-a", "site-b"]) == part_scheme(["0", "1"]) == "folds"
    assert ordered_parts({"cv-10", "cv-2", "cv-1"}) == ["cv-1", "cv-2", "cv-10"]
    assert ordered_parts({"10", "-1", "2"}) == ["-1", "2", "10"]
    with pytest.raises(MpxEvalError, match="line 2: part '0' is not a role name"):
        read_given_split(_bad(tmp_path, "t.csv", "path,part\nA/a.png,0\nA/b.png,train\n"))


def test_without_a_test_part_the_validation_part_is_evaluated():
    side = sides(["train", "val"], "roles")
    assert (side.evaluated, side.training) == (["val"], {"val": ["train"]})
    assert "since no part is named as a test part" in side.definition
    side = sides(["train", "val", "test"], "roles")
    assert (side.evaluated, side.training) == (["test"], {"test": ["train"]})


# --------------------------------------------------------------------------- where it writes


def test_the_default_folder_is_beside_the_split_file(tmp_path, clean_root, capsys):
    csv = _csv(tmp_path / "official.csv", _leaky(clean_root))
    args = ["splits", "--audit", str(csv), "--data-dir", str(clean_root), "--images", "none"]
    assert main(args) == 0
    page = (tmp_path / "official-audit" / "index.html").read_text()
    assert "data:image" not in page and "No photos" in page
    assert (tmp_path / "official-audit" / "audit.json").is_file()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("inside", "is inside the data folder"),
        ("run", "is a run folder"),
        ("file", "names a file; give a folder"),
        ("folds", "--folds plans a split and means nothing with --audit"),
    ],
)
def test_it_never_writes_where_it_must_not(tmp_path, clean_root, capsys, where, message):
    before = sorted(p.name for p in clean_root.iterdir())
    csv = _csv(tmp_path / "s.csv", _leaky(clean_root))
    extra: list[str] = []
    if where == "inside":
        csv = _csv(clean_root / "official.csv", _leaky(clean_root))
    elif where == "run":
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "runinfo.json").write_text("{}")
        extra = ["--out", str(tmp_path / "run")]
    elif where == "file":
        extra = ["--out", str(tmp_path / "audit.json")]
    else:
        extra = ["--folds", "3"]
    try:
        code = main(["splits", "--audit", str(csv), "--data-dir", str(clean_root), *extra])
    finally:
        if where == "inside":
            csv.unlink()
    assert code == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in clean_root.iterdir()) == before
    assert not (tmp_path / "run" / "index.html").exists()


def test_splits_without_out_or_audit_says_what_it_needs(capsys):
    assert main(["splits", "--data-dir", "x"]) == 2
    assert "splits needs --out FILE.csv, or --audit FILE.csv" in capsys.readouterr().err
    assert main(["splits", "--data-dir", "x", "--out", "p.csv", "--fail-on-leak"]) == 2
    assert "--fail-on-leak works with --audit FILE.csv only" in capsys.readouterr().err


def test_with_a_validation_part_its_copies_are_said_apart_from_the_headline(
    tmp_path, clean_root, capsys
):
    parts = {"Monkeypox/R2_0.png": "val", "Monkeypox/C3_0.png": "test", "Others/O0_0.png": "val"}
    rows = {p: parts.get(p, "train") for p in _all_paths(clean_root)}
    code, found, _ = _audit(tmp_path, clean_root, _csv(tmp_path / "tvt.csv", rows))
    assert code == 0 and [p["name"] for p in found["parts"]] == ["train", "val", "test"]
    assert found["sides"]["evaluated"] == ["test"]
    assert found["verdict"]["sentence"].startswith(
        "1 of 1 test images (100 %) have a copy in train"
    )
    assert "  ! val: 1 of 2 images have a copy in train" in capsys.readouterr().err
