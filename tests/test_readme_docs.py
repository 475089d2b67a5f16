"""The README is a short guide; the figures it quotes come from the docs/ pages it links.

Every paragraph, list item or table row of README.md that links a ``docs/*.md`` page is read
for figures: decimals (``0.46``, ``88.7``) and numbers with a unit or a ratio word (``865 MB``,
``53 s``, ``1.5 times``, ``95 %``), not bare integers (list ordinals, ``5 folds``). Each must
appear as a number on the page the item links, so that a benchmark measured again is changed
in one place and a README figure that no page backs fails here. Figures in a benchmark's
units (seconds, bytes, images per second, ratios) must sit in such an item.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 400

#: A link to a page under docs/ (an anchor after it is allowed).
DOCS_LINK = re.compile(r"\]\((docs/[\w./-]+?\.md)(?:#[\w-]*)?\)")
#: A number, not inside a longer number or a name (``t4``, ``cv-2K``, ``AVX-512``), with the
#: unit or ratio word that may follow it.
FIGURE = re.compile(
    r"(?<![\w.,/-])(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?P<unit>\s?(?:%|×(?!\d)|times\b|ms\b|s\b|min\b|minutes\b|[KMG]i?B\b|img/s|px\b))?"
)
#: Units that make a figure a measurement of speed, size or a ratio: such a figure comes from
#: a benchmark, so the README item quoting it must link the page it comes from.
BENCHMARK_UNIT = re.compile(r"^\s?(?:×|times|ms|s|min|minutes|[KMG]i?B|img/s)$")
#: What is not prose: inline code and link targets.
_CODE = re.compile(r"`[^`]*`")
_TARGET = re.compile(r"\]\([^)]*\)")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s")


def blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of every paragraph, list item and table row outside code
    fences; a heading is a block of its own."""
    found: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    fenced = False

    def close() -> None:
        if current:
            found.append((start, "\n".join(current)))
            current.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            close()
            fenced = not fenced
            continue
        if fenced:
            continue
        own_block = line.startswith(("|", "#"))
        if not line.strip() or own_block or _ITEM.match(line):
            close()
        if not line.strip():
            continue
        if not current:
            start = number
        current.append(line)
        if own_block:
            close()
    close()
    return found


def figures(block: str) -> list[tuple[str, str]]:
    """(number, unit) of every figure in a block's prose: decimals, and numbers with a unit."""
    prose = _TARGET.sub("]", _CODE.sub(" ", block))
    out = []
    for match in FIGURE.finditer(prose):
        number, unit = match.group("number"), match.group("unit") or ""
        if "." in number or unit:
            out.append((number, unit))
    return out


def on_page(number: str, page: str) -> bool:
    """Whether ``number`` occurs on ``page`` as a whole number (``1.75`` not in ``11.75``)."""
    return re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d]|[.,]\d)", page) is not None


def unsupported(readme: str, read_page: Callable[[str], str | None]) -> list[str]:
    """Figures of linked README items that none of the linked pages holds, in words."""
    problems = []
    for line, block in blocks(readme):
        pages = sorted(set(DOCS_LINK.findall(block)))
        if not pages:
            continue
        texts = [text for text in map(read_page, pages) if text is not None]
        for number, unit in figures(block):
            if not any(on_page(number, text) for text in texts):
                problems.append(
                    f"README.md line {line}: {number}{unit} is not on {' or '.join(pages)}"
                )
    return problems


def unlinked(readme: str) -> list[str]:
    """Figures in a benchmark's units in README items that link no docs page."""
    problems = []
    for line, block in blocks(readme):
        if DOCS_LINK.search(block):
            continue
        for number, unit in figures(block):
            if BENCHMARK_UNIT.match(unit):
                problems.append(
                    f"README.md line {line}: {number}{unit} quotes a measurement without "
                    "linking the docs page it comes from"
                )
    return problems


def _read(path: str) -> str | None:
    page = ROOT / path
    return page.read_text(encoding="utf-8") if page.is_file() else None


def _readme() -> str:
    return README.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the repository


def test_the_readme_is_at_most_400_lines():
    n = len(_readme().splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; move details to docs/"


def test_docs_holds_at_least_two_pages():
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert len(pages) >= 2, pages


def test_the_changelog_exists_with_an_unreleased_section():
    changelog = ROOT / "CHANGELOG.md"
    assert changelog.is_file()
    assert "## [Unreleased]" in changelog.read_text(encoding="utf-8")


def test_every_docs_page_the_readme_links_exists():
    linked = sorted(set(DOCS_LINK.findall(_readme())))
    assert linked, "README.md links no docs/ page"
    missing = [path for path in linked if not (ROOT / path).is_file()]
    assert not missing, f"README.md links missing pages: {', '.join(missing)}"


def test_the_figures_the_readme_quotes_are_on_the_pages_it_links():
    readme = _readme()
    quoted = [f for _, block in blocks(readme) if DOCS_LINK.search(block) for f in figures(block)]
    assert quoted, "no README item that links a docs page quotes a figure: the check is empty"
    problems = unsupported(readme, _read)
    assert not problems, "\n".join(problems)


def test_measurements_in_the_readme_link_their_page():
    problems = unlinked(_readme())
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- the check itself


PAGE = "| T4 training | 241.7 img/s |\n| throughput, mpx_eval ÷ blog | **1.75** |\n"


def _one_page(text: str) -> Callable[[str], str | None]:
    return lambda path: text if path == "docs/performance.md" else None


def test_the_check_finds_a_figure_the_page_does_not_hold():
    readme = (
        "Intro.\n\n"
        "- **Speed.** mpx_eval trains T4 1.57 times as fast as the blog's script\n"
        "  ([performance](docs/performance.md)).\n"
    )
    assert unsupported(readme, _one_page(PAGE)) == [
        "README.md line 3: 1.57 times is not on docs/performance.md"
    ]
    assert unsupported(readme.replace("1.57", "1.75"), _one_page(PAGE)) == []
    assert unsupported(readme.replace("1.57", "1.7"), _one_page(PAGE)) != []  # not a prefix
    assert unsupported(readme, lambda path: None) != []  # a missing page backs nothing


def test_the_check_reads_figures_not_ordinals_names_or_code():
    block = (
        "1. T4 at 224 px trains 241.7 img/s on 2,142 images in `--folds 5`, 22,175,138 params,\n"
        "   5 folds, 95 % intervals, t4-cv-2, AVX-512, 224×224×3, "
        "[x](docs/a.md#speed-2.5) and 865 MB."
    )
    assert figures(block) == [
        ("224", " px"),
        ("241.7", " img/s"),
        ("95", " %"),
        ("865", " MB"),
    ]
    assert [text.split("\n")[0] for _, text in blocks("a\nb\n\n| r | 1 |\n- c\n  d\n")] == [
        "a",
        "| r | 1 |",
        "- c",
    ]


def test_the_check_wants_a_link_beside_a_measurement():
    assert unlinked("The demo takes 63 s.\n\nIt peaks at 2.4 GB ([p](docs/performance.md)).\n") == [
        "README.md line 1: 63 s quotes a measurement without linking the docs page it comes from"
    ]
    assert unlinked("Checkpoint on its 20 %, 1e-4, 64×64 images, 0.2.\n") == []
