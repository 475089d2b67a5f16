"""The data-audit part about image families: sizes, thumbnail strips, label conflicts, and
the seed split's leakage (leaky vs leak-free accuracy), from audit.json and metrics.json."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from ..assessment.leakage import MIN_GROUPS_FOR_INTERVAL
from . import _text as T
from ._artefacts import Run

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


def _cell(entry: dict | None) -> dict:
    if not entry or not entry.get("n"):
        return {"n": 0, "value": "—", "ci": ""}
    return {"n": entry["n"], "value": T.num(entry.get("accuracy")), "ci": T.interval(entry)}


def families_section(run: Run, thumbs: Callable[[str], dict]) -> dict:
    """Everything ``_families.html`` shows; ``state`` is "on", "off" or "absent" (an audit
    written before family detection existed)."""
    audit = run.audit
    setting = run.setting("families")
    if "families" not in audit:
        state = "absent"
    elif audit.get("family_detection") == "off" or setting is False:
        state = "off"
    else:
        state = "on"
    listed = list(audit.get("families") or [])
    sizes = Counter(int(f["size"]) for f in listed)
    strips = []
    for family in sorted(listed, key=lambda f: (-int(f["size"]), int(f["id"])))[:FAMILIES_SHOWN]:
        members = family["members"]
        strips.append(
            {
                "id": family["id"],
                "size": family["size"],
                "labels": ", ".join(family["labels"]),
                "links": _link_text(family.get("links") or []),
                "images": [
                    dict(thumbs(m["path"]), label=m["label"]) for m in members[:THUMBS_PER_FAMILY]
                ],
                "more": max(len(members) - THUMBS_PER_FAMILY, 0),
            }
        )
    conflicts = [
        {
            "family": c["family"],
            "labels": " and ".join(c["labels"]),
            "images": [dict(thumbs(m["path"]), label=m["label"]) for m in c["members"]],
        }
        for c in (audit.get("label_conflicts") or [])
    ]
    leakage = audit.get("seed_leakage")
    seed = None
    if leakage:
        n_val, n_leaky = int(leakage["n_val"]), int(leakage["n_with_sibling_in_train"])
        rows = [
            {
                "model": model,
                "with": _cell(entry.get("with_sibling")),
                "without": _cell(entry.get("without_sibling")),
                "all": _cell(entry.get("all")),
            }
            for model, entry in (run.metrics.get("seed_leakage") or {}).items()
        ]
        seed = {
            "split": leakage["split"],
            "n_val": n_val,
            "n_leaky": n_leaky,
            "share": T.num(n_leaky / n_val * 100, 1) if n_val else "n/a",
            "rows": rows,
            "min_groups": MIN_GROUPS_FOR_INTERVAL,
        }
    pattern = run.setting("group_pattern")
    return {
        "state": state,
        "pattern": pattern,
        "notes": list(audit.get("family_notes") or []),
        "n_families": len(listed),
        "n_images": sum(int(f["size"]) for f in listed),
        "n_total": run.runinfo["dataset"].get("n_images", "n/a"),
        "largest": max(sizes) if sizes else 0,
        "sizes": [{"size": size, "count": count} for size, count in sorted(sizes.items())],
        "strips": strips,
        "conflicts": conflicts[:CONFLICTS_SHOWN],
        "conflicts_more": max(len(conflicts) - CONFLICTS_SHOWN, 0),
        "seed": seed,
    }
