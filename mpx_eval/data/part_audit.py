"""Leakage across the parts of a given split: image families, duplicates and patient groups
that fall in several parts, and the evaluated images that have a copy on the training side.

The evaluated ("test-like") parts and their training side are decided by :func:`sides`; the
verdict that the terminal and the page show is decided once, by :func:`verdict`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .audit import NEAR_DUPLICATE_BITS, find_duplicates
from .families import Families
from .given_split import Assignment, GivenSplit, role_of
from .grouping import family_audit
from .images import HASH_BITS, ImageSet
from .shortcuts import image_traits, shortcut_audit

#: What audit.json's first key says, changed when a key changes meaning.
FORMAT = "mpx_eval split audit 1"
#: The relations that make two images copies of one photo, as ``via`` names them.
COPY_KINDS = ("family", "exact", "near")


@dataclass(frozen=True)
class Sides:
    """Which parts are evaluated, and for each the parts that count as its training side."""

    evaluated: list[str]
    training: dict[str, list[str]]
    definition: str


def sides(names: list[str], scheme: str) -> Sides:
    """The evaluated parts and their training side.

    With role names, the test parts are evaluated (the val parts when no part is a test
    part) against the train parts (every other part when none is a train part). With folds,
    every part is evaluated in turn against all the others.
    """
    if scheme == "folds":
        training = {n: [o for o in names if o != n] for n in names}
        return Sides(
            list(names),
            training,
            "The parts are folds: each is held out in turn, and its images are checked for "
            "copies in every other part.",
        )
    by_role = defaultdict(list)
    for name in names:
        by_role[role_of(name)].append(name)
    evaluated = by_role["test"] or by_role["val"]
    train = by_role["train"] or [n for n in names if n not in evaluated]
    why = "named as test parts" if by_role["test"] else "since no part is named as a test part"
    text = (
        f"Evaluated (test-like) parts: {', '.join(evaluated)}, {why}; training parts: "
        f"{', '.join(train)}. Each evaluated image is checked for a copy in the training parts."
    )
    return Sides(evaluated, {n: list(train) for n in evaluated}, text)


@dataclass(frozen=True)
class _Relations:
    """Who is a copy of whom (families, identical files, near-duplicate hashes) and who
    shares a patient group."""

    family: np.ndarray | None
    sha256: list[str]
    near: dict[int, set[int]]
    rows_of_family: dict[int, list[int]]
    rows_of_hash: dict[str, list[int]]
    rows_of_group: dict[str, list[int]]
    group: np.ndarray

    def copies(self, i: int) -> dict[int, list[str]]:
        """The other rows that are copies of row ``i``, each with the relations that say so."""
        found: dict[int, list[str]] = defaultdict(list)
        if self.family is not None:
            for j in self.rows_of_family[int(self.family[i])]:
                found[j].append("family")
        for j in self.rows_of_hash[self.sha256[i]]:
            found[j].append("exact")
        for j in self.near.get(i, ()):
            found[j].append("near")
        found.pop(i, None)
        return dict(found)

    def group_members(self, i: int) -> list[int]:
        return [j for j in self.rows_of_group[self.group[i]] if j != i]


def _relations(
    images: ImageSet, families: Families | None, near: list, patient_groups: np.ndarray
) -> _Relations:
    def rows_by(keys) -> dict:
        found = defaultdict(list)
        for i, key in enumerate(keys):
            found[key].append(i)
        return found

    adjacent: dict[int, set[int]] = defaultdict(set)
    for i, j, _ in near:
        adjacent[i].add(j)
        adjacent[j].add(i)
    family = None if families is None else families.family
    return _Relations(
        family=family,
        sha256=images.sha256,
        near=adjacent,
        rows_of_family=rows_by(family.tolist()) if family is not None else {},
        rows_of_hash=rows_by(images.sha256),
        rows_of_group=rows_by(patient_groups.tolist()),
        group=patient_groups,
    )


# --------------------------------------------------------------------------- findings


def _member(images: ImageSet, part: np.ndarray, i: int) -> dict:
    return {
        "path": images.paths[i],
        "part": part[i] or None,
        "label": images.class_names[int(images.labels[i])],
    }


def _parts_of(part: np.ndarray, rows, names: list[str]) -> list[str]:
    """The parts of ``rows``, in the split's order of parts."""
    found = {part[i] for i in rows}
    return [n for n in names if n in found]


def _crossing(
    images: ImageSet, part: np.ndarray, names: list[str], sets: list[tuple[dict, list[int]]]
) -> list[dict]:
    """The sets of rows whose assigned images fall in two parts or more, each with its parts
    and members (an unassigned member has part None)."""
    found = []
    for head, rows in sets:
        parts = _parts_of(part, rows, names)
        if len(parts) > 1:
            members = [_member(images, part, i) for i in rows]
            found.append({**head, "parts": parts, "members": members})
    return found


def crossing_sets(
    images: ImageSet,
    part: np.ndarray,
    names: list[str],
    families: Families | None,
    exact: list[list[int]],
    near: list[tuple[int, int, int]],
    patient_groups: np.ndarray,
) -> dict[str, list[dict]]:
    """Families, patient groups, exact-duplicate sets and near-duplicate pairs that cross
    parts."""
    multi = defaultdict(list)
    for i, g in enumerate(patient_groups.tolist()):
        multi[g].append(i)
    groups = [({"group": str(g)}, rows) for g, rows in sorted(multi.items()) if len(rows) > 1]
    listed = families.members() if families is not None else []
    return {
        "families": _crossing(
            images, part, names, [({"family": int(families.family[r[0]])}, r) for r in listed]
        ),
        "groups": _crossing(images, part, names, groups),
        "exact": _crossing(images, part, names, [({}, rows) for rows in exact]),
        "near": _crossing(images, part, names, [({"distance": d}, [i, j]) for i, j, d in near]),
    }


def _exposed_image(images, part, relations: _Relations, i: int, training: set[str]) -> dict:
    copies = [
        {"path": images.paths[j], "part": part[j], "via": via}
        for j, via in sorted(relations.copies(i).items())
        if part[j] in training
    ]
    members = [
        {"path": images.paths[j], "part": part[j]}
        for j in relations.group_members(i)
        if part[j] in training
    ]
    return {**_member(images, part, i), "copies": copies, "group_members": members}


def _row(part: np.ndarray, names: list[str], name: str, relations: _Relations) -> dict:
    """How many images of part ``name`` have a copy (a patient group member) in each other
    part."""
    rows = np.flatnonzero(part == name).tolist()
    copy_in: dict[str, int] = dict.fromkeys((n for n in names if n != name), 0)
    member_in = dict(copy_in)
    for i in rows:
        for other in {part[j] for j in relations.copies(i)} - {name, ""}:
            copy_in[other] += 1
        for other in {part[j] for j in relations.group_members(i)} - {name, ""}:
            member_in[other] += 1
    return {
        "part": name,
        "n_images": len(rows),
        "with_copy_in": copy_in,
        "with_group_member_in": member_in,
    }


def exposure(
    images: ImageSet, part: np.ndarray, names: list[str], side: Sides, relations: _Relations
) -> dict:
    """Per part, how many of its images have a copy (or a patient group member) in each
    other part; and every evaluated image with a copy or group member on its training side."""
    exposed = []
    for name in side.evaluated:
        training = set(side.training[name])
        for i in np.flatnonzero(part == name).tolist():
            item = _exposed_image(images, part, relations, i, training)
            if item["copies"] or item["group_members"]:
                exposed.append(item)
    table = [_row(part, names, name, relations) for name in names]
    return {"table": table, "images": exposed}


# --------------------------------------------------------------------------- the audit


def _shortcuts(images: ImageSet, rows: np.ndarray) -> dict:
    """The shortcut audit, as a run makes it, of the images the split file assigns."""
    labels = images.labels[rows]
    if len(set(labels.tolist())) < len(images.class_names):
        return {
            "level": None,
            "folds": 0,
            "properties": {},
            "flagged": [],
            "skipped": "a class has no image in the split file",
        }
    paths = [images.paths[i] for i in rows]
    sizes = [images.original_sizes[i] for i in rows]
    traits = image_traits(images.root, paths, sizes, images.thumbnails[rows])
    return shortcut_audit(traits, labels, images.groups[rows], images.class_names)


def _parts_table(images: ImageSet, part: np.ndarray, names: list[str]) -> list[dict]:
    table = []
    for name in names:
        labels = images.labels[part == name]
        counts = {c: int(np.sum(labels == k)) for k, c in enumerate(images.class_names)}
        table.append(
            {"name": name, "role": role_of(name), "n_images": len(labels), "counts": counts}
        )
    return table


def _conflicts_with_parts(
    conflicts: list[dict], images: ImageSet, part: np.ndarray, names: list[str]
) -> list:
    row_of = {p: i for i, p in enumerate(images.paths)}
    for conflict in conflicts:
        rows = [row_of[m["path"]] for m in conflict["members"]]
        conflict["parts"] = _parts_of(part, rows, names)
        for m, i in zip(conflict["members"], rows, strict=True):
            m["part"] = part[i] or None
    return conflicts


def audit_given_split(
    images: ImageSet,
    given: GivenSplit,
    assignment: Assignment,
    families: Families | None,
    patient_groups: np.ndarray,
    *,
    group_pattern: str | None,
) -> dict:
    """Everything ``splits --audit`` reports, as JSON data (keys in docs/split-audit.md).

    ``families``: the detected families (None: detection off); ``patient_groups``: each
    row's ``--group-pattern`` group (its own path without a pattern); ``images.groups``: the
    groups the shortcut audit's folds keep together (families joined with patients).
    """
    part, names = assignment.part, assignment.names
    exact, near = find_duplicates(images)
    relations = _relations(images, families, near, patient_groups)
    side = sides(names, assignment.scheme)
    found_families = family_audit(images, [], families, enabled=families is not None)
    found = {
        "format": FORMAT,
        "split_file": str(given.source),
        "layout": given.layout,
        "data_dir": str(images.root),
        "classes": list(images.class_names),
        "family_detection": found_families["family_detection"],
        "group_pattern": group_pattern,
        "hash_bits": HASH_BITS,
        "near_duplicate_bits": NEAR_DUPLICATE_BITS,
        "scheme": assignment.scheme,
        "parts": _parts_table(images, part, names),
        "sides": {
            "evaluated": side.evaluated,
            "training": side.training,
            "definition": side.definition,
        },
        "exposure": exposure(images, part, names, side, relations),
        "crossing": crossing_sets(images, part, names, families, exact, near, patient_groups),
        "label_conflicts": _conflicts_with_parts(
            found_families["label_conflicts"], images, part, names
        ),
        "families": found_families["families"],
        "family_notes": found_families["family_notes"],
        "files": {
            "n_rows": len(given.parts) + sum(len(r["lines"]) - 1 for r in given.repeated),
            "missing": assignment.missing,
            "unassigned": assignment.unassigned,
            "repeated": given.repeated,
        },
        "shortcuts": _shortcuts(images, assignment.rows()),
    }
    found["verdict"] = verdict(found, grouped=group_pattern is not None)
    return found


def verdict(found: dict, *, grouped: bool) -> dict:
    """The numbers the terminal and the page lead with, and the sentence that says them."""
    side = found["sides"]
    evaluated = [r for r in found["parts"] if r["name"] in side["evaluated"]]
    n_evaluated = sum(r["n_images"] for r in evaluated)
    exposed = found["exposure"]["images"]
    crossing = found["crossing"]
    on = found["family_detection"] == "on"
    counts = {
        "crossing_families": len(crossing["families"]) if on else None,
        "crossing_groups": len(crossing["groups"]) if grouped else None,
        "crossing_exact": len(crossing["exact"]),
        "crossing_near": len(crossing["near"]),
    }
    result = {
        "leaks": any(counts.values()),
        "n_evaluated": n_evaluated,
        "n_with_copy": sum(1 for e in exposed if e["copies"]),
        "n_with_group_member": sum(1 for e in exposed if e["group_members"]) if grouped else None,
        **counts,
        "label_conflicts": len(found["label_conflicts"]) if on else None,
        "flagged_shortcuts": list(found["shortcuts"]["flagged"]),
        "missing_rows": len(found["files"]["missing"]),
        "unassigned_images": len(found["files"]["unassigned"]),
        "repeated_rows": len(found["files"]["repeated"]),
    }
    result["sentence"] = _sentence(result, found)
    return result


def _sentence(result: dict, found: dict) -> str:
    """``12 of 46 test images (26 %) have a copy in train; ...``: the leak in one sentence."""
    folds = found["scheme"] == "folds"
    n, total = result["n_with_copy"], result["n_evaluated"]
    share = f" ({100 * n / total:.0f} %)" if total and n else ""
    if folds:
        what = f"{n} of {total} images{share} have a copy in another part"
    else:
        evaluated = found["sides"]["evaluated"]
        training = found["sides"]["training"][evaluated[0]]
        what = (
            f"{n} of {total} {'/'.join(evaluated)} images{share} have a copy in "
            f"{'/'.join(training)}"
        )
    if result["n_with_group_member"] is not None:
        where = "another part" if folds else "there"
        what += f"; {result['n_with_group_member']} have a patient group member {where}"
    if found["family_detection"] == "off":
        what += " (families not looked for: only identical and near-identical files count)"
    return what
