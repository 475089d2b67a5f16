"""The page of ``splits --audit``: the audit of a given split (its audit.json) as one
self-contained HTML file in the report's style, with thumbnails of the copies that cross parts.

It arranges what :func:`mpx_eval.data.part_audit.audit_given_split` decided; it decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .. import __version__
from ..atomic import write_text
from .render import environment
from .sections.audit import AUDIT_FINDINGS_SHOWN, shortcuts

#: A thumbnail as a data URI for an image path, or None (no photos on the page).
Thumbnail = Callable[[str], str | None]

#: Parts named in a finding's caption; an unassigned image is named so.
UNASSIGNED = "no part"


def _thumb(path: str, thumbnail: Thumbnail | None, note: str | None) -> dict:
    uri = thumbnail(path) if thumbnail else None
    name = path.rsplit("/", 1)[-1]  # the class folder is in the note or the heading
    return {"path": path, "name": name, "uri": uri, "hidden": thumbnail is None, "note": note}


def _members(members: list[dict], thumbnail: Thumbnail | None, *, label: bool) -> list[dict]:
    def note(m: dict) -> str:
        where = m["part"] or UNASSIGNED
        return f"{where} · {m['label']}" if label and m.get("label") else where

    return [_thumb(m["path"], thumbnail, note(m)) for m in members]


def _findings(found: list[dict], thumbnail: Thumbnail | None, *, label: bool = False) -> dict:
    """The first findings of a kind with their thumbnails, and how many more there are."""
    shown = [
        {**f, "images": _members(f["members"], thumbnail, label=label)}
        for f in found[:AUDIT_FINDINGS_SHOWN]
    ]
    return {"shown": shown, "more": max(len(found) - AUDIT_FINDINGS_SHOWN, 0)}


def _exposed(found: dict, thumbnail: Thumbnail | None) -> dict:
    """Evaluated images with a copy on their training side, each beside its copies."""
    with_copy = [e for e in found["exposure"]["images"] if e["copies"]]
    shown = []
    for e in with_copy[:AUDIT_FINDINGS_SHOWN]:
        images = [_thumb(e["path"], thumbnail, f"{e['part']} · {e['label']}")]
        images += [
            _thumb(c["path"], thumbnail, f"{c['part']} · {', '.join(c['via'])}")
            for c in e["copies"]
        ]
        shown.append({"path": e["path"], "part": e["part"], "images": images})
    return {"shown": shown, "more": max(len(with_copy) - AUDIT_FINDINGS_SHOWN, 0)}


def _matrix(found: dict) -> dict:
    """Rows: parts; columns: the other parts; cells: images of the row's part with a copy
    (and, with patient groups, a group member) in the column's part."""
    names = [p["name"] for p in found["parts"]]
    grouped = found["verdict"]["n_with_group_member"] is not None
    rows = []
    for entry in found["exposure"]["table"]:
        cells = []
        for other in names:
            if other == entry["part"]:
                cells.append("—")
                continue
            text = str(entry["with_copy_in"][other])
            if grouped:
                text += f" / {entry['with_group_member_in'][other]}"
            cells.append(text)
        rows.append({"part": entry["part"], "n": entry["n_images"], "cells": cells})
    return {"names": names, "rows": rows, "grouped": grouped}


def _summary(v: dict) -> list[tuple[str, str]]:
    """The verdict's numbers as rows of a two-column table."""

    def count(value: int | None, off: str) -> str:
        return off if value is None else str(value)

    return [
        ("Families crossing parts", count(v["crossing_families"], "not looked for")),
        ("Patient groups crossing parts", count(v["crossing_groups"], "no --group-pattern")),
        ("Exact-duplicate sets crossing parts", str(v["crossing_exact"])),
        ("Near-duplicate pairs crossing parts", str(v["crossing_near"])),
        ("Label conflicts (a family with several labels)", count(v["label_conflicts"], "—")),
        ("Shortcut properties flagged", str(len(v["flagged_shortcuts"]))),
        ("Rows whose image is not in the data folder", str(v["missing_rows"])),
        ("Images of the data folder in no part", str(v["unassigned_images"])),
        ("Rows repeating an earlier row", str(v["repeated_rows"])),
    ]


def split_audit_context(found: dict, thumbnail: Thumbnail | None) -> dict:
    """What the template shows, from a split audit's JSON data."""
    crossing = found["crossing"]
    embedded: set[str] = set()

    def counted(path: str) -> str | None:
        uri = thumbnail(path) if thumbnail else None
        if uri:
            embedded.add(path)
        return uri

    thumbs = counted if thumbnail else None
    context = {
        "version": __version__,
        "found": found,
        "verdict": found["verdict"],
        "summary": _summary(found["verdict"]),
        "matrix": _matrix(found),
        "exposed": _exposed(found, thumbs),
        "families": _findings(crossing["families"], thumbs, label=True),
        "groups": _findings(crossing["groups"], thumbs),
        "exact": _findings(crossing["exact"], thumbs),
        "near": _findings(crossing["near"], thumbs),
        "conflicts": _findings(found["label_conflicts"], thumbs, label=True),
        "shortcuts": shortcuts(found["shortcuts"]) if found["shortcuts"].get("level") else None,
        "photos": thumbnail is not None,
    }
    return {**context, "n_photos": len(embedded)}


def render_split_audit(found: dict, path: str | Path, thumbnail: Thumbnail | None) -> Path:
    """Write the page of a split audit to ``path``; ``thumbnail`` gives each image's data
    URI (None: a page without photos, to share beyond the data's approval)."""
    path = Path(path)
    html = (
        environment()
        .get_template("split_audit.html")
        .render(**split_audit_context(found, thumbnail))
    )
    write_text(path, html)
    return path
