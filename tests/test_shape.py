"""The shape of the code stays readable: short functions and files, a package whose top
level shows its layers, and one reader each for config.toml and metrics.json."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import REPO

PACKAGE = REPO / "mpx_eval"
SOURCES = sorted(
    p for folder in ("mpx_eval", "benchmarks", "tests") for p in (REPO / folder).rglob("*.py")
)
#: Cyclomatic complexity as radon counts it: above this a function reads better as its
#: steps; the report, which only arranges what the assessment decided, keeps to less.
MAX_COMPLEXITY = 20
MAX_REPORT_COMPLEXITY = 15
MAX_LINES = 800
MAX_TOP_LEVEL_MODULES = 10


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _complexities(path: Path) -> list[tuple[str, int]]:
    """Every function's and method's complexity, by radon (``radon cc`` counts the same)."""
    from radon.complexity import cc_visit

    found = []
    for block in cc_visit(path.read_text(encoding="utf-8")):
        found.append((block.fullname, block.complexity))
        found += [(m.fullname, m.complexity) for m in getattr(block, "methods", [])]
    return found


def test_no_function_is_too_complex():
    too_complex = {
        f"{_rel(path)}:{name}": value
        for path in SOURCES
        if not _rel(path).startswith("tests/")  # a test's asserts are its steps
        for name, value in _complexities(path)
        if value > (MAX_REPORT_COMPLEXITY if "mpx_eval/report/" in _rel(path) else MAX_COMPLEXITY)
    }
    assert too_complex == {}


def test_the_checker_counts_branches():
    from radon.complexity import cc_visit

    code = "def f(x):\n" + "".join(f"    if x == {i}:\n        return {i}\n" for i in range(25))
    (block,) = cc_visit(code)
    assert block.complexity == 26


def test_no_source_file_is_too_long():
    long = {_rel(p): n for p in SOURCES if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_top_level_holds_few_modules_and_the_layers_are_packages():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert {"data", "training", "rundir", "assessment", "report", "commands"} <= packages


def _tomllib_users() -> list[str]:
    users = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [str(node.module), *(alias.name for alias in node.names)]
            if any(name.split(".")[0] in ("tomllib", "tomli") for name in names):
                users.append(_rel(path))
                break
    return users


def _setting_reads() -> list[str]:
    """Places that look a configuration value up by its name (``run.setting("folds")``)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "setting":
                found.append(f"{_rel(path)}:{node.lineno}")
    return found


def test_nothing_reads_a_setting_by_name_and_only_config_parses_toml():
    assert _setting_reads() == []
    assert _tomllib_users() == ["mpx_eval/config.py"]


@pytest.fixture
def parsers(monkeypatch):
    """The modules that parse metrics.json's or config.toml's text while the report runs."""
    import json
    import sys

    from mpx_eval.config import tomllib

    found: dict[str, set[str]] = {"metrics.json": set(), "config.toml": set()}
    loads, toml_loads = json.loads, tomllib.loads

    def caller() -> str:
        """The module that asked, past the package's one JSON loader (atomic.loads)."""
        frame = sys._getframe(2)
        while frame.f_back is not None and frame.f_globals.get("__name__") == "mpx_eval.atomic":
            frame = frame.f_back
        return frame.f_globals.get("__name__", "?")

    def spy_json(text, *args, **kwargs):
        if isinstance(text, str) and '"comparisons"' in text:
            found["metrics.json"].add(caller())
        return loads(text, *args, **kwargs)

    def spy_toml(text, *args, **kwargs):
        found["config.toml"].add(caller())
        return toml_loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", spy_json)
    monkeypatch.setattr(tomllib, "loads", spy_toml)
    return found


def test_the_report_reads_each_file_through_its_one_reader(tmp_path, parsers):
    from mpx_eval.report import render_run

    from .report.synthetic_run import make_run

    out = make_run(tmp_path / "run", folds=2, n_per_class=8, epochs=3)
    render_run(out)  # the stored aggregates are current: read
    (out / "metrics.json").unlink()
    render_run(out)  # computed again, then read back as a reader would
    assert parsers == {
        "metrics.json": {"mpx_eval.assessment.layout"},
        "config.toml": {"mpx_eval.config"},
    }
