"""The methods section and methods.md: written from what the run recorded, for two and for
three classes; escaped in both renderings; known to the run folder as its own file. Also the
code revision that runinfo.json records, and the citation metadata."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from mpx_eval import __version__
from mpx_eval import system as S
from mpx_eval.assessment.aggregate import current_metrics, read_sources
from mpx_eval.report import render_run
from mpx_eval.report.render import environment
from mpx_eval.report.run import read_run
from mpx_eval.report.sections.methods import methods_markdown, methods_section
from mpx_eval.rundir import folder, records

from .synthetic_run import XSS, make_run

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]


def _with_versions(out: Path) -> Path:
    """The run's runinfo.json with this machine's versions, as a real run records them."""
    runinfo = json.loads((out / "runinfo.json").read_text(encoding="utf-8"))
    runinfo["versions"] = S.versions()
    records.write_runinfo(out, runinfo)
    return out


def _run(out: Path):
    sources = read_sources(out)
    return read_run(sources, current_metrics(sources))


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    out = make_run(tmp_path_factory.mktemp("methods") / "binary", folds=3, epochs=4)
    return _run(_with_versions(out))


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory):
    out = make_run(
        tmp_path_factory.mktemp("methods") / "three",
        classes=("Monkeypox", "Others", XSS),
        folds=2,
        epochs=3,
        n_per_class=10,
        demo=False,
    )
    return _run(_with_versions(out))


def _text(section: dict) -> str:
    """Every paragraph of the section as plain text (code marks dropped)."""
    return " ".join(
        "".join(part["text"] for part in paragraph)
        for sub in section["subsections"]
        for paragraph in sub["paragraphs"]
    )


def _interval_methods(run) -> set[str]:
    return {
        interval.method
        for entry in run.metrics.models.values()
        for interval in (entry.cv.ci if entry.cv else {}).values()
    }


def _assert_clean(markdown: str) -> None:
    for word in ("None", "nan", "NaN", "n/a"):
        assert not re.search(rf"\b{re.escape(word)}\b", markdown), word
    assert "{" not in markdown and "}" not in markdown


# --------------------------------------------------------------------------- what it says


def test_binary_methods_say_what_the_run_recorded(binary):
    markdown = methods_markdown(binary)
    text = _text(methods_section(binary))
    dataset = binary.runinfo["dataset"]
    for cls, n in dataset["counts"].items():
        assert f"{cls} {n}" in text
    assert f"{dataset['n_images']} pictures" in text  # demo data, said as such
    assert "synthetic" in text and "not medical images" in text
    config = binary.config
    assert f"{config.folds}-fold cross-validation" in text
    assert f"{config.epochs} epochs" in text and f"batches of {config.batch_size}" in text
    assert f"seed {config.seed}" in text and "12.5 %" in text
    assert f"the checkpoint rule {binary.metrics.models['t3'].optimism.rule}" in text
    for method in _interval_methods(binary):
        assert method.removeprefix("percentile") in text
    assert "95 % confidence interval" in text
    assert binary.metrics.primary_test.name in text
    assert "at least 0.5" in text and "Monkeypox as the positive class" in text
    versions = binary.runinfo["versions"]
    assert versions["mpx_eval_revision"] == S.code_revision()
    assert f"code revision `{versions['mpx_eval_revision']}`" in markdown
    assert f"Python {versions['python']}" in text
    for key in ("numpy", "scikit-learn", "keras"):
        if key in versions:
            assert versions[key] in text
    assert f"{binary.models['t3']['params']:,} parameters" in text and "Conv2D (16)" in text
    _assert_clean(markdown)


def test_three_class_methods_have_no_positive_class(three_classes):
    markdown = methods_markdown(three_classes)
    text = _text(methods_section(three_classes))
    assert "argmax over 3 classes" in text and "There is no positive class" in text
    assert "AUC (one-vs-rest, macro)" in text
    assert "positive class." not in text.replace("There is no positive class", "")
    assert "specificity" not in text and "predictive value" not in text
    for cls, n in three_classes.runinfo["dataset"]["counts"].items():
        assert f"{cls} {n}" in text
    for method in _interval_methods(three_classes):
        assert method.removeprefix("percentile") in text
    assert "2-fold cross-validation" in text and "3 epochs" in text
    _assert_clean(markdown.replace(r"\<img src=x onerror=alert(1)\>", "XSS"))


def test_a_seed_split_alone_is_not_called_a_comparison(seed_only_run):
    markdown = (seed_only_run.out / "methods.md").read_text(encoding="utf-8")
    assert "No cross-validation was run (0 folds)" in markdown
    assert "Each model was trained on one split" in markdown
    assert "for comparison" not in markdown.lower() and "also trained" not in markdown
    _assert_clean(markdown)


def test_the_data_folder_is_named_not_its_path(three_classes):
    text = _text(methods_section(three_classes))
    root = three_classes.runinfo["dataset"]["root"]
    assert Path(root).name in text and root not in text
    assert str(three_classes.out) not in methods_markdown(three_classes)


def test_names_from_the_data_are_escaped_in_markdown_and_html(three_classes):
    markdown = methods_markdown(three_classes)
    assert not re.search(r"(?<!\\)<", markdown)  # every < escaped
    assert r"\<img src=x onerror=alert(1)\>" in markdown
    html = (
        environment()
        .get_template("_methods.html")
        .render(methods=methods_section(three_classes), number={"methods": 8})
    )
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<code>^([^_]+)_</code>" in html  # a pattern set apart as code
    assert 'id="methods-partitioning"' in html and '<a href="#comparison">' in html


def test_the_checklist_points_to_sections_and_files_and_leaves_the_rest_to_the_authors(binary):
    section = methods_section(binary)
    rows = {row["item"]: row for row in section["checklist"]}
    partitions = rows["Data partitions"]
    assert "CLAIM 20" in partitions["guidelines"]
    assert {w["text"] for w in partitions["where"]} >= {"splits.csv", "config.toml"}
    assert any(w["href"] == "#overview" for w in partitions["where"])
    assert any("Ethics approval" in item for item in section["authors"])
    markdown = methods_markdown(binary)
    assert "[#comparison](index.html#comparison)" in markdown
    assert "### To be written by the authors" in markdown


# --------------------------------------------------------------------------- methods.md


def test_a_render_writes_methods_md_beside_the_page(tmp_path):
    out = _with_versions(make_run(tmp_path / "run", folds=2, n_per_class=10, epochs=3))
    render_run(out)
    written = (out / "methods.md").read_text(encoding="utf-8")
    assert written == methods_markdown(_run(out))
    assert written.startswith("# Methods\n") and "## Partitioning" in written
    stamp = (out / "methods.md").stat().st_mtime_ns
    render_run(out)  # the same run: the file is left as it was
    assert (out / "methods.md").stat().st_mtime_ns == stamp


def test_methods_md_is_one_of_the_run_files_overwrite_removes(tmp_path):
    out = make_run(tmp_path / "run", folds=2, n_per_class=10, epochs=3)
    render_run(out)
    assert (out / "methods.md").is_file()
    folder.clear_run(out)
    assert not (out / "methods.md").exists()


# --------------------------------------------------------------------------- code revision


def _installed() -> str:
    try:
        return version("mpx-eval")
    except PackageNotFoundError:
        return __version__


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_checkout_gives_its_git_revision(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "file.txt").write_text("one\n")
    _git(tmp_path, "add", "file.txt")
    _git(tmp_path, "commit", "-q", "-m", "one")
    _git(tmp_path, "tag", "v9.8.7")
    assert S.code_revision(tmp_path) == "v9.8.7"
    (tmp_path / "file.txt").write_text("two\n")
    assert S.code_revision(tmp_path) == "v9.8.7-dirty"


def test_outside_a_checkout_the_installed_version_stands_in(tmp_path):
    assert S.code_revision(tmp_path) == _installed()


@pytest.mark.parametrize("failure", [FileNotFoundError("git"), subprocess.TimeoutExpired("git", 5)])
def test_without_a_working_git_the_installed_version_stands_in(tmp_path, monkeypatch, failure):
    (tmp_path / ".git").mkdir()

    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(S.subprocess, "run", broken)
    assert S.code_revision(tmp_path) == _installed()


def test_a_git_that_refuses_the_folder_gives_the_installed_version(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()  # not a repository: git describe fails
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert S.code_revision(tmp_path) == _installed()


def test_runinfo_versions_record_the_revision():
    assert S.versions()["mpx_eval_revision"] == S.code_revision()


# --------------------------------------------------------------------------- citation


def _cff(key: str) -> str:
    text = (REPO / "CITATION.cff").read_text(encoding="utf-8")
    found = re.search(rf"^{key}: (.+)$", text, flags=re.MULTILINE)
    assert found, key
    return found.group(1).strip()


def test_citation_metadata_follows_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert _cff("cff-version") == "1.2.0"
    assert _cff("title") == "mpx_eval" and _cff("type") == "software"
    assert _cff("version") == project["version"]
    assert _cff("license") == project["license"]
    text = (REPO / "CITATION.cff").read_text(encoding="utf-8")
    assert f"  - name: {project['authors'][0]['name']}" in text
