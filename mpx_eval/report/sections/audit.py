"""Section 5, "Data audit": exact and near duplicates, groups on both sides of a split, with
the parts of the split they fall in, and each model's most confident mistakes."""

from __future__ import annotations

from collections import defaultdict

from ...data.shortcuts import PROPERTIES, format_value
from ...rundir.kept import GRADCAM_WRONG
from .. import curves as C
from .. import text as T
from ..run import Run

#: Wrong predictions shown per model: those each unit explains with a heatmap.
MISCLASSIFIED_PER_MODEL = GRADCAM_WRONG
#: Findings of each kind shown with thumbnails (the rest are listed as text): a small page.
AUDIT_FINDINGS_SHOWN = 24

_ROLE_ORDER = ("train", "val", "test")


def _pair_name(roles: set[str]) -> str:
    ordered = [r for r in _ROLE_ORDER if r in roles]
    return " / ".join(ordered) if ordered else "—"


def audit_section(run: Run, evaluated: dict[str, C.EvalRows | None]) -> dict:
    """Everything section 5 shows but the families: duplicates, shared groups that straddle
    a split, and each model's most confident mistakes."""
    audit = run.audit
    leaks = audit["leaks"]
    exact, near = _duplicates(run)
    group_list = _group_leaks(run, leaks)
    return {
        "hash_bits": audit.get("hash_bits", "n/a"),
        "near_bits": audit.get("near_duplicate_bits", "n/a"),
        "n_multi": audit.get("n_multi_image_groups", "n/a"),
        "n_leaks": len(leaks),
        "table": _leak_table(leaks),
        "exact": exact[:AUDIT_FINDINGS_SHOWN],
        "exact_more": max(len(exact) - AUDIT_FINDINGS_SHOWN, 0),
        "near": near[:AUDIT_FINDINGS_SHOWN],
        "near_more": max(len(near) - AUDIT_FINDINGS_SHOWN, 0),
        "groups": group_list[:AUDIT_FINDINGS_SHOWN],
        "groups_more": group_list[AUDIT_FINDINGS_SHOWN:],
        "errors": _mistakes(run, evaluated),
        "shortcuts": shortcuts(audit.get("shortcuts")),
    }


def shortcuts(found: dict | None) -> dict | None:
    """The shortcut audit as the page shows it: every property's AUC alone, and for each
    flagged one its sentence and by-class table. None for an audit.json written before the
    shortcut audit existed."""
    if not found:
        return None
    rows = []
    for key, result in found.get("properties", {}).items():
        label = PROPERTIES[key][0] if key in PROPERTIES else key
        if result.get("constant"):
            rows.append({"label": label, "auc": "the same for every image", "flagged": False})
            continue
        auc = f"{T.num(result['auc'], 2)} ({T.num(result['low'], 2)}–{T.num(result['high'], 2)})"
        rows.append({"label": label, "auc": auc, "flagged": result["flagged"]})
    flagged = []
    for key in found.get("flagged", []):
        result = found["properties"][key]
        number = PROPERTIES[key][1] == "number"
        flagged.append(
            {
                "sentence": result["sentence"],
                "number": number,
                "by_class": [_class_row(row, number) for row in result["by_class"]],
            }
        )
    return {
        "level": T.num(found.get("level", 0.7), 2),
        "folds": found.get("folds"),
        "skipped": found.get("skipped"),
        "rows": rows,
        "flagged": flagged,
        "method": next(
            (r.get("method") for r in found.get("properties", {}).values() if r.get("method")), None
        ),
    }


def _class_row(row: dict, number: bool) -> dict:
    if number:
        q1, median, q3 = (format_value(row[k]) for k in ("q1", "median", "q3"))
        spread = f"{median} ({q1}–{q3})"
        return {"class": row["class"], "n": row["n"], "value": spread}
    values = ", ".join(f"{v['value']} {v['share']:.0%}" for v in row["top"])
    return {"class": row["class"], "n": row["n"], "value": values}


def _duplicates(run: Run) -> tuple[list[dict], list[dict]]:
    """Exact and near duplicates, each with the splits where they leak."""
    audit = run.audit
    by_paths: dict[tuple[str, frozenset], list[dict]] = defaultdict(list)
    for leak in audit["leaks"]:
        key = frozenset(item["path"] for item in leak["items"])
        by_paths[(leak["kind"], key)].append(leak)

    def where(kind: str, paths) -> list[str]:
        found = by_paths.get((kind, frozenset(paths)), [])
        return [
            f"{leak['split']} ({_pair_name({i['role'] for i in leak['items']})})" for leak in found
        ]

    exact = []
    for members in audit["exact_duplicates"]:
        paths = [m["path"] for m in members]
        exact.append(
            {
                "images": [dict(run.thumbnail(m["path"]), group=m.get("group")) for m in members],
                "where": where("exact", paths),
            }
        )
    near = []
    for pair in audit["near_duplicates"]:
        paths = [pair["a"]["path"], pair["b"]["path"]]
        near.append(
            {
                "images": [
                    dict(run.thumbnail(item["path"]), group=item.get("group"))
                    for item in (pair["a"], pair["b"])
                ],
                "distance": pair["distance"],
                "where": where("near", paths),
            }
        )
    return exact, near


def _group_leaks(run: Run, leaks: list[dict]) -> list[dict]:
    """Groups found on both sides of a split, by group id; the first shown with images."""
    groups: dict[str, dict] = {}
    for leak in leaks:
        if leak["kind"] != "group":
            continue
        entry = groups.setdefault(
            str(leak.get("group", "?")),
            {"group": str(leak.get("group", "?")), "roles": {}, "splits": []},
        )
        entry["splits"].append(leak["split"])
        for item in leak["items"]:
            entry["roles"].setdefault(item["path"], []).append(
                f"{leak['split']}: {item['role'] or 'unused'}"
            )
    group_list = sorted(groups.values(), key=lambda g: g["group"])
    for entry in group_list[:AUDIT_FINDINGS_SHOWN]:
        entry["images"] = [
            dict(run.thumbnail(path), roles=", ".join(roles))
            for path, roles in entry["roles"].items()
        ]
    return group_list


def _leak_table(leaks: list[dict]) -> list[dict]:
    """One row per split with leaks: their count of each kind, by the roles they join."""
    splits = sorted(
        {leak["split"] for leak in leaks}, key=lambda s: (not s.startswith("seed"), len(s), s)
    )
    table = []
    for split in splits:
        row = {"split": split}
        for kind in ("exact", "near", "group"):
            found = [leak for leak in leaks if leak["split"] == split and leak["kind"] == kind]
            pairs = defaultdict(int)
            for leak in found:
                pairs[_pair_name({i["role"] for i in leak["items"]})] += 1
            row[kind] = ", ".join(f"{n} ({p})" for p, n in sorted(pairs.items())) or "0"
        table.append(row)
    return table


def _mistakes(run: Run, evaluated: dict[str, C.EvalRows | None]) -> list[dict]:
    """Each model's most confident wrong predictions, with their images."""
    errors = []
    for name, rows in evaluated.items():
        if rows is None:
            continue
        items = C.misclassified(rows, MISCLASSIFIED_PER_MODEL)
        for item in items:
            item.update(run.thumbnail(item["path"]))
            item["confidence_text"] = T.num(item["confidence"])
            item["true_probability_text"] = T.num(item["true_probability"])
        errors.append(
            {
                "name": name,
                "where": "test-fold images"
                if rows.scheme == "cv"
                else "seed-split validation images",
                "n_wrong": int((rows.predicted != rows.labels).sum()),
                "n": len(rows.frame),
                "mistakes": items,
            }
        )
    return errors
