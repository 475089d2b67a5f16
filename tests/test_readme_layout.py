"""README's "Layout of the code" table names every module of the package, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Layout of the code")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _named(section: str) -> set[str]:
    """Package paths in the table's first column; a bare file name after a path is a
    sibling in the same package (`mpx_eval/cli.py`, `__main__.py`)."""
    named: set[str] = set()
    for cell in re.findall(r"^\| (.+?) \|", section, flags=re.M):
        for item in re.findall(r"`([^`]+)`", cell):
            if item.startswith("mpx_eval/"):
                named.add(item)
            elif "/" not in item:
                named.add(f"mpx_eval/{item}")
    return named


def test_the_layout_table_names_every_module_and_package():
    package = ROOT / "mpx_eval"
    modules = {f"mpx_eval/{p.name}" for p in package.glob("*.py") if p.name != "__init__.py"}
    packages = {f"mpx_eval/{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert _named(_layout_section()) == modules | packages
