"""The ``splits --audit FILE.csv`` command: audit a split made elsewhere (a benchmark's
official train/test file, a colleague's folds) for leakage before anything is trained, and
write OUT/audit.json and OUT/index.html. No Keras import.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..atomic import write_json
from ..config import RunConfig
from ..data.given_split import assign, read_given_split
from ..data.grouping import apply_families
from ..data.images import ImageSet
from ..data.part_audit import audit_given_split
from ..data.shortcuts import shortcut_lines
from ..errors import MpxEvalError
from ..rundir import folder
from ..rundir.records import thumbnail_jpeg
from .inputs import load_for

#: What the audit folder holds.
AUDIT_JSON = "audit.json"
AUDIT_PAGE = "index.html"
#: Findings of each kind named one by one in the terminal (audit.json has them all).
SHOWN = 10


def default_out(split_file: Path) -> Path:
    """Where the audit goes without ``--out``: a folder beside the split file, named after it
    (``official.csv`` -> ``official-audit/``)."""
    return split_file.with_name(f"{split_file.stem}-audit")


def _out_folder(cfg: RunConfig, split_file: Path, out: str | None) -> Path:
    """The audit folder, checked before any image is decoded."""
    target = Path(out) if out else default_out(split_file)
    option = "--out" if out else "the audit folder (beside the split file; set --out)"
    if target.suffix.lower() in (".json", ".html", ".csv"):
        raise MpxEvalError(
            f"{option} {target} names a file; give a folder, which receives {AUDIT_JSON} and "
            f"{AUDIT_PAGE}"
        )
    if target.exists() and not target.is_dir():
        raise MpxEvalError(f"{option} {target} is a file; give a folder")
    if folder.is_run_folder(target):
        raise MpxEvalError(
            f"{option} {target} is a run folder, whose {AUDIT_JSON} and {AUDIT_PAGE} are the "
            "run's own; choose another folder"
        )
    folder.check_writable(target)
    folder.refuse_inside_data(target, None if cfg.demo else Path(cfg.data_dir), option=option)
    return target


def _thumbnails(images: ImageSet):
    """An image path's thumbnail as a JPEG data URI (from the decoded set, no re-reading)."""
    from ..report.run import data_uri

    row_of = {p: i for i, p in enumerate(images.paths)}
    made: dict[str, str | None] = {}  # an image shown in several findings is encoded once

    def uri(path: str) -> str | None:
        if path not in made and path in row_of:
            jpeg = thumbnail_jpeg(images.thumbnails[row_of[path]])
            made[path] = data_uri(jpeg, "image/jpeg")
        return made.get(path)

    return uri


def audit_command(cfg: RunConfig, split_file: str, out: str | None = None) -> dict:
    """``mpx_eval splits --audit FILE.csv``: audit the given split, write its audit.json and
    page, print the verdict. Returns the audit (its ``verdict`` says whether it leaks)."""
    given = read_given_split(split_file)
    target = _out_folder(cfg, Path(split_file), out)
    images, notes = load_for(cfg, (), show_progress=True)
    assignment = assign(given, images)
    patient_groups = images.groups.copy()  # before families join them
    families = apply_families(images, enabled=cfg.families)
    found = audit_given_split(
        images, given, assignment, families, patient_groups, group_pattern=cfg.group_pattern
    )
    print("\n".join(notes), file=sys.stderr)
    json_path = target / AUDIT_JSON
    write_json(json_path, found)
    from ..report.split_audit import render_split_audit

    thumbnail = _thumbnails(images) if cfg.images != "none" else None
    page = render_split_audit(found, target / AUDIT_PAGE, thumbnail)
    for line in split_audit_lines(found):
        print(line, file=sys.stderr if line.startswith("  !") else sys.stdout)
    print(f"Wrote {json_path} and {page}")
    return found


# --------------------------------------------------------------------------- terminal


def _named(members: list[dict]) -> str:
    return ", ".join(f"{m['path']} ({m['part'] or 'no part'})" for m in members)


def _listed(items: list, what: str, line) -> list[str]:
    """``  ! <what>:`` then one line per item up to :data:`SHOWN`, and a count of the rest."""
    if not items:
        return []
    lines = [f"  ! {len(items)} {what}:"]
    lines += [f"  !   {line(item)}" for item in items[:SHOWN]]
    if len(items) > SHOWN:
        lines.append(f"  !   ... and {len(items) - SHOWN} more (see audit.json)")
    return lines


def _crossing_lines(found: dict) -> list[str]:
    crossing = found["crossing"]
    return [
        *_listed(
            crossing["families"],
            "image famil(ies) in several parts",
            lambda f: f"family {f['family']}: {_named(f['members'])}",
        ),
        *_listed(
            crossing["groups"],
            "patient group(s) in several parts",
            lambda g: f"group {g['group']} in {', '.join(g['parts'])} ({len(g['members'])} images)",
        ),
        *_listed(
            crossing["exact"],
            "exact-duplicate set(s) in several parts",
            lambda f: _named(f["members"]),
        ),
        *_listed(
            crossing["near"],
            "near-duplicate pair(s) in several parts",
            lambda f: (
                f"{_named(f['members'])}: {f['distance']} of {found['hash_bits']} bits differ"
            ),
        ),
        *_listed(
            found["label_conflicts"],
            "label conflict(s): one photo under several labels",
            lambda c: (
                f"family {c['family']} labelled {' and '.join(c['labels'])}: "
                + ", ".join(f"{m['path']} ({m['label']})" for m in c["members"])
            ),
        ),
    ]


def _file_lines(found: dict) -> list[str]:
    files = found["files"]
    return [
        *_listed(
            files["missing"],
            "row(s) name no image of the data folder (left out)",
            lambda r: f"line {r['line']}: {r['path']} ({r['reason']})",
        ),
        *_listed(files["unassigned"], "image(s) of the data folder in no part", str),
        *_listed(
            files["repeated"],
            "path(s) on several identical rows (kept once)",
            lambda r: f"{r['path']}: lines {', '.join(map(str, r['lines']))}",
        ),
    ]


def _other_sides(found: dict) -> list[str]:
    """Copies between parts the headline leaves out: a val image with a copy in train (the
    checkpoint was chosen on it), a test image with a copy in val."""
    sides = found["sides"]
    training = {t for parts in sides["training"].values() for t in parts}
    lines = []
    for row in found["exposure"]["table"]:
        if row["part"] in training:
            continue
        headline = sides["training"].get(row["part"], [])
        for other, n in row["with_copy_in"].items():
            if n and other not in headline:
                lines.append(
                    f"  ! {row['part']}: {n} of {row['n_images']} images have a copy in {other}"
                )
    return lines


def split_audit_lines(found: dict) -> list[str]:
    """The verdict for the terminal: the parts, one sentence, then the findings; warnings
    start with ``"  ! "``."""
    parts = ", ".join(f"{p['name']} {p['n_images']}" for p in found["parts"])
    v = found["verdict"]
    head = "Split audit: " + (
        "no copy, duplicate or patient group crosses the parts"
        if not v["leaks"]
        else "the split leaks"
    )
    lines = [
        f"Split file {found['split_file']} ({found['layout']}): {parts}",
        f"  {found['sides']['definition']}",
        f"{head}: {v['sentence']}",
        *_other_sides(found),
        *_crossing_lines(found),
        *_file_lines(found),
        *(f"  ! {line}" for line in shortcut_lines(found["shortcuts"])),
    ]
    if found["family_notes"]:
        lines.append(f"  {len(found['family_notes'])} family detection note(s): see the page")
    return lines
