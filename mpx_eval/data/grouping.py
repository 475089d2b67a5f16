"""Split groups: detected image families joined with patient groups, and what they reveal.

Copies of one photo (a family) and photos of one patient (a ``--group-pattern`` group) must
never straddle a cv split; this module turns both relations into one group per image, and
audits families: their members, label conflicts, and the seed split's leakage through them.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import numpy as np

from ..progress import format_seconds
from .families import Families, find_families
from .images import ImageSet
from .splits import Split

#: Families listed one by one in a terminal summary (audit.json has them all).
SUMMARY_CONFLICTS_SHOWN = 10

#: Seconds between progress lines in a log (not a terminal): detection on a few thousand
#: photos takes minutes, and a log that says nothing until the end looks hung.
LOG_EVERY_SECONDS = 30.0


def split_groups(patient_groups: np.ndarray, family: np.ndarray) -> np.ndarray:
    """The group each image is split by: connected pieces of "same patient group" or "same
    family". A piece holding one patient group keeps its id; a piece joining several is
    named after its first group in row order, ``"<id>+<n>"`` with n the others joined, so
    every name stays unique and tells where the group comes from.
    """
    n = len(patient_groups)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    for keys in (patient_groups.tolist(), np.asarray(family).tolist()):
        first_row: dict = {}
        for i, key in enumerate(keys):
            j = first_row.setdefault(key, i)
            ri, rj = root(i), root(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    pieces: dict[int, dict[str, None]] = {}
    for i, group in enumerate(patient_groups.tolist()):
        pieces.setdefault(root(i), {})[group] = None  # a dict keeps first-seen order
    names = {r: list(groups) for r, groups in pieces.items()}
    out = np.empty(n, dtype=object)
    for i in range(n):
        first, *others = names[root(i)]
        out[i] = f"{first}+{len(others)}" if others else first
    return out


class DetectionProgress:
    """One line while work over a set's images runs (family detection unless ``label``
    says otherwise): share of the work done, elapsed, ETA. Redrawn in place on a terminal;
    in a log a line every ``LOG_EVERY_SECONDS`` and the final one."""

    def __init__(
        self,
        n_images: int,
        *,
        stream: TextIO | None = None,
        label: str | None = None,
    ):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.label = label or f"Finding image families among {n_images} images"
        self.started = time.perf_counter()
        self._last = 0.0 if self.tty else self.started  # a log gets no line at the start
        self._width = 0

    def from_cache(self, n_images: int) -> None:
        """Say that the result for ``n_images`` came from the cache, nothing recomputed."""
        self._write(f"Image families: from the cache ({n_images:,} images)", final=True)

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        interval = 0.2 if self.tty else LOG_EVERY_SECONDS
        if done < total and now - self._last < interval:
            return
        self._last = now
        elapsed = now - self.started
        share = done / total if total else 1.0
        line = f"{self.label}: {share:.0%} | elapsed {format_seconds(elapsed)}"
        if done < total:
            eta = elapsed / done * (total - done) if done else None
            line += f" | ETA {format_seconds(eta)}" if eta is not None else " | ETA estimating"
        self._write(line, final=done >= total)

    def _write(self, line: str, *, final: bool) -> None:
        if self.tty:
            self.stream.write("\r" + line + " " * max(0, self._width - len(line)))
            self._width = len(line)
            if final:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def apply_families(images: ImageSet, *, enabled: bool, quiet: bool = False) -> Families | None:
    """Detect the families of ``images`` (when ``enabled``) and make ``images.groups`` the
    group every split keeps on one side: families joined with the patient groups.

    Returns the families, or None when detection is off (the groups are then unchanged).
    """
    try:
        if not enabled or len(images) == 0:
            return None
        progress = None if quiet else DetectionProgress(len(images))
        families = find_families(images, progress=progress)
        images.groups = split_groups(images.groups, families.family)
        return families
    finally:
        images.family_view = None  # only detection reads the grey copies: free them


def _val_with_sibling_in_train(images: ImageSet, split: Split) -> np.ndarray:
    """Rows of ``split.val`` whose split group also has a row in ``split.train``."""
    in_train = set(images.groups[split.train].tolist())
    return np.array([i for i in split.val.tolist() if images.groups[i] in in_train], dtype=np.int64)


def family_audit(
    images: ImageSet, plan: list[Split], families: Families | None, *, enabled: bool
) -> dict:
    """The audit.json keys about families: ``family_detection``, ``family_notes``,
    ``families`` (each: id, members with path and label, labels, links with kind and
    score), ``label_conflicts`` and ``seed_leakage`` (None when nothing tells siblings
    apart: detection off and no shared patient group)."""
    label_of = [images.class_names[k] for k in images.labels.tolist()]
    listed: list[dict] = []
    conflicts: list[dict] = []
    if families is not None:
        links_of: dict[int, list] = {}
        for link in families.links:
            links_of.setdefault(int(families.family[link.a]), []).append(link)
        for rows in families.members():
            fam = int(families.family[rows[0]])
            labels = sorted({label_of[i] for i in rows})
            entry = {
                "id": fam,
                "size": len(rows),
                "group": str(images.groups[rows[0]]),
                "members": [{"path": images.paths[i], "label": label_of[i]} for i in rows],
                "labels": labels,
                "links": [
                    {
                        "a": images.paths[link.a],
                        "b": images.paths[link.b],
                        "kind": link.kind,
                        "score": float(link.score),
                    }
                    for link in links_of.get(fam, [])
                ],
            }
            listed.append(entry)
            if len(labels) > 1:
                conflicts.append(
                    {
                        "family": fam,
                        "labels": labels,
                        "members": entry["members"],
                    }
                )
    seed = next((s for s in plan if s.scheme == "seed"), None)
    leakage = None
    # without detection and without shared groups no sibling is known: nothing to measure
    if seed is not None and (enabled or images.grouped()):
        leaky = _val_with_sibling_in_train(images, seed)
        leakage = {
            "split": seed.name,
            "n_val": len(seed.val),
            "n_with_sibling_in_train": len(leaky),
            "with_sibling_in_train": [images.paths[i] for i in leaky.tolist()],
        }
    return {
        "family_detection": "on" if enabled else "off",
        "family_notes": list(families.notes) if families is not None else [],
        "families": listed,
        "label_conflicts": conflicts,
        "seed_leakage": leakage,
    }


def family_lines(found: dict) -> list[str]:
    """Terminal lines about families; warnings start with ``"  ! "``."""
    if found.get("family_detection") == "off":
        lines = [
            "Family detection off (--families off): copies of one photo may fall on both "
            "sides of a split"
        ]
    else:
        listed = found.get("families") or []
        if listed:
            n_images = sum(f["size"] for f in listed)
            largest = max(f["size"] for f in listed)
            lines = [
                f"Image families: {len(listed)} famil{'y' if len(listed) == 1 else 'ies'} of "
                f"copies ({n_images} images, largest {largest}); every cv fold keeps each on "
                "one side"
            ]
        else:
            lines = ["Image families: no image is a copy of another"]
        notes = found.get("family_notes") or []
        if notes:  # the notes themselves are in audit.json and the report's families section
            lines.append(
                f"    {len(notes)} detection note{'s' if len(notes) != 1 else ''}: see the "
                "report's image families section (or audit.json's family_notes)"
            )
    leakage = found.get("seed_leakage")
    if leakage and leakage["n_with_sibling_in_train"]:
        lines.append(
            f"  ! seed split: {leakage['n_with_sibling_in_train']} of {leakage['n_val']} "
            "validation images have a copy or group member in its training part"
        )
    conflicts = found.get("label_conflicts") or []
    for conflict in conflicts[:SUMMARY_CONFLICTS_SHOWN]:
        members = ", ".join(f"{m['path']} ({m['label']})" for m in conflict["members"])
        lines.append(
            f"  ! label conflict: family {conflict['family']} is labelled "
            f"{' and '.join(conflict['labels'])}: {members}"
        )
    if len(conflicts) > SUMMARY_CONFLICTS_SHOWN:
        lines.append(
            f"  ! ... and {len(conflicts) - SUMMARY_CONFLICTS_SHOWN} more label conflicts "
            "(see audit.json)"
        )
    return lines
