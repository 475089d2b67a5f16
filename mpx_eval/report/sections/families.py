"""Section 5's part about image families: sizes, thumbnail strips, label conflicts, and the
seed split's leakage (leaky vs leak-free accuracy), from audit.json and metrics.json."""

from __future__ import annotations

from collections import Counter

from ...assessment.layout import LeakagePart
from ...assessment.leakage import MIN_GROUPS_FOR_INTERVAL
from .. import text as T
from ..run import Run

#: Families shown as thumbnail strips (largest first), thumbnails per strip, and label
#: conflicts shown with thumbnails: enough to see what the detector joined, and a small page.
FAMILIES_SHOWN = 6
THUMBS_PER_FAMILY = 10
CONFLICTS_SHOWN = 24


def _link_text(links: list[dict]) -> str:
    """``1 exact, 3 near-duplicate (0–2 hash bits differ)``: how a family's links were found."""
    names = {"exact": "exact", "near": "near-duplicate", "geometric": "geometric"}
    parts = []
    for kind in ("exact", "near", "geometric"):
        scores = [float(link["score"]) for link in links if link.get("kind") == kind]
        if not scores:
            continue
        text = f"{len(scores)} {names[kind]}"
        if kind != "exact":
            # a near-duplicate's score is a Hamming distance (whole bits)
            digits = 0 if kind == "near" else 2
            low, high = (T.num(v, digits) for v in (min(scores), max(scores)))
            span = low if low == high else f"{low}–{high}"
            text += f" ({span} hash bits differ)" if kind == "near" else f" (score {span})"
        parts.append(text)
    return ", ".join(parts) or "no link recorded"


def _cell(entry: LeakagePart | None) -> dict:
    if entry is None or not entry.n:
        return {"n": 0, "value": "—", "ci": ""}
    return {"n": entry.n, "value": T.num(entry.accuracy), "ci": T.interval(entry)}


def _state(run: Run) -> str:
    """ "on", "off" or "absent" (an audit written before family detection existed)."""
    if "families" not in run.audit:
        return "absent"
    if run.audit.get("family_detection") == "off" or not run.config.families:
        return "off"
    return "on"


def _strip(run: Run, family: dict) -> dict:
    """A family's thumbnail strip, with how its links were found."""
    members = family["members"]
    return {
        "id": family["id"],
        "size": family["size"],
        "labels": ", ".join(family["labels"]),
        "links": _link_text(family.get("links") or []),
        "images": [
            dict(run.thumbnail(m["path"]), label=m["label"]) for m in members[:THUMBS_PER_FAMILY]
        ],
        "more": max(len(members) - THUMBS_PER_FAMILY, 0),
    }


def _seed_leakage(run: Run) -> dict | None:
    """The seed split's validation images with a copy in its training part, and each
    model's accuracy on them and on the rest."""
    leakage = run.audit.get("seed_leakage")
    if not leakage:
        return None
    n_val, n_leaky = int(leakage["n_val"]), int(leakage["n_with_sibling_in_train"])
    rows = [
        {
            "model": model,
            "with": _cell(entry.with_sibling),
            "without": _cell(entry.without_sibling),
            "all": _cell(entry.all),
        }
        for model, entry in run.metrics.seed_leakage.items()
    ]
    return {
        "split": leakage["split"],
        "n_val": n_val,
        "n_leaky": n_leaky,
        "share": T.num(n_leaky / n_val * 100, 1) if n_val else "n/a",
        "rows": rows,
        "min_groups": MIN_GROUPS_FOR_INTERVAL,
    }


def families_section(run: Run) -> dict:
    """Everything ``_families.html`` shows."""
    audit = run.audit
    listed = list(audit.get("families") or [])
    sizes = Counter(int(f["size"]) for f in listed)
    largest_first = sorted(listed, key=lambda f: (-int(f["size"]), int(f["id"])))
    conflicts = [
        {
            "family": c["family"],
            "labels": " and ".join(c["labels"]),
            "images": [dict(run.thumbnail(m["path"]), label=m["label"]) for m in c["members"]],
        }
        for c in (audit.get("label_conflicts") or [])
    ]
    return {
        "state": _state(run),
        "pattern": run.config.group_pattern,
        "notes": list(audit.get("family_notes") or []),
        "n_families": len(listed),
        "n_images": sum(int(f["size"]) for f in listed),
        "n_total": run.runinfo["dataset"].get("n_images", "n/a"),
        "largest": max(sizes) if sizes else 0,
        "sizes": [{"size": size, "count": count} for size, count in sorted(sizes.items())],
        "strips": [_strip(run, family) for family in largest_first[:FAMILIES_SHOWN]],
        "conflicts": conflicts[:CONFLICTS_SHOWN],
        "conflicts_more": max(len(conflicts) - CONFLICTS_SHOWN, 0),
        "seed": _seed_leakage(run),
    }
