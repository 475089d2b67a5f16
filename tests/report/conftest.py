"""Rendered synthetic runs shared by the report tests (each variant is rendered once)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from mpx_eval.report import render_run

from .synthetic_run import XSS, make_run


class Page(HTMLParser):
    """The parts of a rendered page the tests look at: tags with attributes, ids, text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text_parts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    @property
    def ids(self) -> set[str]:
        return {attrs["id"] for _, attrs in self.tags if "id" in attrs}

    def images(self) -> list[dict]:
        return [attrs for tag, attrs in self.tags if tag == "img"]


class Rendered:
    def __init__(self, out: Path):
        self.out = out
        self.index = render_run(out)
        self.html = self.index.read_text(encoding="utf-8")
        self.page = Page(self.html)


def _render(factory, name: str, **options) -> Rendered:
    out = make_run(factory.mktemp(name) / "run", **options)
    return Rendered(out)


@pytest.fixture(scope="session")
def binary_run(tmp_path_factory) -> Rendered:
    """Two classes, T3 and T4, three folds and the seed split, demo data."""
    return _render(tmp_path_factory, "binary")


@pytest.fixture(scope="session")
def three_class_run(tmp_path_factory) -> Rendered:
    """Three classes, one of them (and one file) named like an HTML injection."""
    return _render(
        tmp_path_factory, "three", classes=("Monkeypox", "Others", XSS), odd_file=True, demo=False
    )


@pytest.fixture(scope="session")
def one_model_run(tmp_path_factory) -> Rendered:
    return _render(tmp_path_factory, "one", models=("t4",), folds=2)


@pytest.fixture(scope="session")
def seed_only_run(tmp_path_factory) -> Rendered:
    return _render(tmp_path_factory, "seed", folds=0)


@pytest.fixture(scope="session")
def partial_run(tmp_path_factory) -> Rendered:
    return _render(tmp_path_factory, "partial", drop_units=("t3-cv-3", "t4-cv-3", "t4-seed-0"))


@pytest.fixture(scope="session")
def three_model_run(tmp_path_factory) -> Rendered:
    return _render(tmp_path_factory, "three-models", models=("t3", "t4", "mypkg.nets:wide"))


@pytest.fixture(scope="session")
def alarm_run(tmp_path_factory) -> Rendered:
    """Not a demo, 6 epochs; t4 scores every image alike (always Others), t3 predicts no
    Monkeypox on folds 1 and 2."""
    return _render(
        tmp_path_factory, "alarm", demo=False, constant=("t4",), all_negative={"t3": (1, 2)}
    )


@pytest.fixture(scope="session")
def mixed_size_run(tmp_path_factory) -> Rendered:
    """T3 at 180 px and T4 at 224 px, as the default run has them."""
    return _render(tmp_path_factory, "mixed", sizes={"t3": 180, "t4": 224})
