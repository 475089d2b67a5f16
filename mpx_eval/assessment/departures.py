"""Every setting of a run that departs from the blog's: what metrics.json lists and every
screen shows above the numbers."""

from __future__ import annotations

from ..config import BUILTIN_MODELS, RunConfig

_SETTING_NAMES = {
    "epochs": "epochs",
    "batch_size": "batch size",
    "image_size": "image size",
    "learning_rate": "learning rate",
    "folds": "folds",
    "validation_split": "seed-split validation fraction",
    "group_pattern": "patient/group grouping",
}


#: The numeric settings compared with the blog's one by one.
_NUMBERS = ("epochs", "batch_size", "learning_rate", "validation_split", "folds")


def _changed(key: str, used, default) -> dict | None:
    if used == default:
        return None
    if key == "folds":
        blog_text = f"the seed split alone; mpx_eval's default adds {default} folds"
    else:
        blog_text = f"{default:g}" if isinstance(default, float) else str(default)
    return {"setting": key, "name": _SETTING_NAMES[key], "used": used, "blog": blog_text}


def departures(config: RunConfig, models: list[str]) -> list[dict]:
    """Every setting of a run that differs from the blog's (the defaults in code), as
    metrics.json records them: the setting, its name in words, the value used and the
    blog's."""
    blog = RunConfig()
    out = [_changed(key, getattr(config, key), getattr(blog, key)) for key in _NUMBERS]
    out = [found for found in out if found is not None]
    size = config.image_size
    if size is not None:
        own = {m: BUILTIN_MODELS[m] for m in models if m in BUILTIN_MODELS}
        if any(s != size for s in own.values()) or not own:
            blog_text = ", ".join(f"{m} {s} px" for m, s in own.items()) or "each model's own"
            out.append(
                {
                    "setting": "image_size",
                    "name": _SETTING_NAMES["image_size"],
                    "used": f"{size} px",
                    "blog": blog_text,
                }
            )
    pattern = config.group_pattern
    if pattern:
        out.append(
            {
                "setting": "group_pattern",
                "name": _SETTING_NAMES["group_pattern"],
                "used": f"by the pattern {pattern}",
                "blog": "none: photos of one patient could fall on both sides",
            }
        )
    repeats = config.repeats
    if repeats > 1:
        out.append(
            {
                "setting": "repeats",
                "name": "repeats of the folds",
                "used": repeats,
                "blog": "none: one seed split",
            }
        )
    return out
