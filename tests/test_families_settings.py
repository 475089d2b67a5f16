"""Family detection's settings: each says why it is there, no module of the package binds one
when it is imported, and docs/families.md shows the table that ``FamilySettings`` makes."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from mpx_eval.data import families
from mpx_eval.data.families import FamilySettings, settings_table

from .conftest import REPO

PACKAGE = Path(families.__file__).parent
PAGE = REPO / "docs" / "families.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"
#: Module constants that are implementation, not thresholds: the mirror permutation of SIFT
#: descriptors, the rows projected, distances computed, cells searched and codes grouped at
#: once, the order in which kinds of link are joined, the matches gathered before their
#: first merge and their ranges, the progress weights of the steps, and the cache's file
#: layout and size bound (none of which changes a family).
NOT_SETTINGS = {
    "MIRROR",
    "_PROJECTED_ROWS",
    "_BLOCK",
    "_CELLS_PER_TASK",
    "_PART",
    "_KIND_ORDER",
    "_MERGE_ROWS",
    "_BUCKETS",
    "_GROUP_PART",
    "_WEIGHTS",
    "_SHARD_HEX",
    "MAX_BYTES",
}


def test_every_setting_says_why_in_one_line():
    for f in dataclasses.fields(FamilySettings):
        assert set(f.metadata) <= {"why", "effect"}, f.name
        why, effect = f.metadata.get("why", ""), f.metadata.get("effect", "")
        assert why.strip(), f"{f.name} does not say why it is there"
        assert "\n" not in why + effect and "|" not in why + effect, f.name


def _bound_at_import(source: str) -> list[str]:
    """What a module binds when it is imported that the settings should hold: a function
    default that is not a literal (a constant's or a settings object's value is taken once),
    and a module-level value holding a number or a ``FamilySettings``."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None and not _literal(default):
                    found.append(f"default {ast.unparse(default)} of line {node.lineno}")
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {ast.unparse(t) for t in targets}
            holds = any(
                (isinstance(n, ast.Constant) and type(n.value) in (int, float))
                or (isinstance(n, ast.Name) and n.id == "FamilySettings")
                for n in ast.walk(node.value)
            )
            if holds and not names <= NOT_SETTINGS:
                found.append(f"module value {', '.join(sorted(names))}")
    return found


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def test_no_module_binds_a_setting_when_imported():
    modules = sorted(PACKAGE.glob("*.py"))
    assert {p.stem for p in modules} >= {"settings", "describe", "candidates", "verify", "join"}
    problems = [
        f"{path.name}: {what}"
        for path in modules
        for what in _bound_at_import(path.read_text(encoding="utf-8"))
    ]
    assert not problems, "\n".join(problems)


def test_the_import_check_finds_what_it_looks_for():
    bad = (
        "FEATURES = 200\n"
        "DEFAULTS = FamilySettings()\n"
        "def f(x, n=FEATURES, s=FamilySettings().features, *, k=DEFAULTS): pass\n"
    )
    assert len(_bound_at_import(bad)) == 5
    good = "_Pair = tuple[int, int]\ndef f(x, o=(0, 1), *, skip=0, labels=None): pass\n"
    assert _bound_at_import(good) == []


def test_the_docs_table_is_the_one_family_settings_makes():
    text = PAGE.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1
    table = text[text.index(START) + len(START) : text.index(END)]
    assert table.strip() == settings_table().strip(), (
        f"the settings table of {PAGE.name} is stale: paste the output of "
        "`python -c 'from mpx_eval.data.families import settings_table; "
        "print(settings_table())'` between its markers"
    )


def test_the_table_shows_the_settings_given():
    changed = dataclasses.replace(FamilySettings(), min_inliers=11)
    assert "| `min_inliers` | `11` |" in settings_table(changed)
    assert settings_table(changed) != settings_table()
    assert settings_table().count("\n| `") == len(dataclasses.fields(FamilySettings))
