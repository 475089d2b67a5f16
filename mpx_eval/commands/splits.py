"""The ``splits`` command: write a config's split plan and its leakage audit, and print how
the images fall into the splits. Nothing is trained; no Keras import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..assessment.checkpoints import small_inner_part
from ..atomic import write_csv, write_json
from ..config import RunConfig
from ..data.audit import audit_lines
from ..data.grouping import family_lines
from ..data.images import ImageSet
from ..errors import MpxEvalError
from ..rundir import folder
from ..rundir.records import splits_table
from .inputs import load_for, plan_and_audit


def split_command(cfg: RunConfig, out_csv: str | os.PathLike) -> int:
    """``mpx_eval splits``: write the plan and its audit, print a summary."""
    out_csv = Path(out_csv)
    if out_csv.is_dir():
        raise MpxEvalError(
            f"splits --out {out_csv} is a folder; give a file name, e.g. {out_csv / 'splits.csv'}"
        )
    folder.check_writable(out_csv.parent if str(out_csv.parent) else Path("."))
    folder.refuse_inside_data(out_csv, None if cfg.demo else Path(cfg.data_dir))
    images, notes = load_for(cfg, (), show_progress=True)
    plan, found = plan_and_audit(cfg, images)
    print("\n".join(notes), file=sys.stderr)
    frame = splits_table(images, plan)
    write_csv(frame, out_csv)
    audit_path = out_csv.with_name(out_csv.stem + ".audit.json")
    write_json(audit_path, found)
    grouped = _grouping_text(cfg, images)
    print(f"Split plan ({grouped}, seed {cfg.seed}):")
    counts = frame.groupby(["scheme", "fold", "role"], sort=False).size()
    for split in plan:
        roles = counts.loc[(split.scheme, split.fold)]
        parts = ", ".join(
            f"{role} {roles[role]}" for role in ("train", "val", "test") if role in roles
        )
        print(f"  {split.name}: {parts}")
    small = small_inner_part([len(split.val) for split in plan if split.scheme == "cv"])
    if small:
        # an adapted inner part has its own advice (in the plan notes)
        advice = f"a larger --inner-fraction than {cfg.inner_fraction:g} steadies it"
        print(f"  ! {small}" + ("" if found["plan_notes"] else f" ({advice})"), file=sys.stderr)
    for line in [*audit_lines(found), *family_lines(found)]:
        print(line, file=sys.stderr if "!" in line else sys.stdout)
    print(f"Wrote {out_csv} and {audit_path}")
    return 0


def _grouping_text(cfg: RunConfig, images: ImageSet) -> str:
    """How the cv folds are grouped, for the plan's heading."""
    if not images.grouped():
        return "ungrouped: no image shares a group"
    by = ["image families"] if cfg.families else []
    by += [repr(cfg.group_pattern)] if cfg.group_pattern else []
    return "grouped by " + " and ".join(by)
