"""The run configuration: one typed object, defaults in code, loaded from TOML, CLI overrides.

The defaults are the blog's hyper-parameters; ``configs/default.toml`` spells them out.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MpxEvalError
from .summary.checkpoints import DEFAULT_RULE
from .summary.checkpoints import RULES as _CHECKPOINT_RULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

DEVICES = ("auto", "cpu", "gpu")
#: Built-in architectures and their default square input sizes (the blog's lessons).
BUILTIN_MODELS = {"t3": 180, "t4": 224}
_USER_MODEL = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
PRECISIONS = ("auto", "float32", "mixed")
EXECUTORS = ("local", "ray")
SAVE_MODELS = ("none", "seed", "all")
CHECKPOINT_RULES = tuple(_CHECKPOINT_RULES)
ENGINES = ("auto", "sequential", "batched")
#: Which photos the HTML report embeds: every thumbnail it shows (families, audit findings,
#: mistakes, Grad-CAM overlays), or none, for a report that may travel beyond the data's
#: approval (the charts stay).
IMAGES = ("all", "none")

#: File names "<patient>_<shot>.jpg": the patient id is everything before the first underscore.
PATIENT_PATTERN = r"^([^_]+)_"

#: What ``--demo`` changes unless the user set the value explicitly: the demo must finish in
#: minutes on a laptop CPU, so images are 64 px, and with 120 images a batch of 8 gives the
#: model four times the blog's updates per epoch (at batch 32 it barely moves in 50 epochs).
DEMO_SETTINGS: dict[str, Any] = {
    "image_size": 64,
    "batch_size": 8,
    "group_pattern": PATIENT_PATTERN,
}


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides what a run does. Field order is the TOML order."""

    # [data]
    data_dir: str = "data"
    demo: bool = False
    group_pattern: str | None = None
    families: bool = True
    skip_bad_images: bool = False
    external: tuple[str, ...] = ()
    external_map: tuple[str, ...] = ()
    keep_contaminated: bool = False
    # [protocol]
    folds: int = 5
    seed: int = 123
    validation_split: float = 0.2
    inner_fraction: float = 0.125
    repeats: int = 1
    checkpoint: str = DEFAULT_RULE
    target_sensitivity: float | None = None
    target_specificity: float | None = None
    # [training]
    models: tuple[str, ...] = ("t3", "t4")
    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 1e-4
    image_size: int | None = None
    # [runtime]
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    engine: str = "auto"
    executor: str = "local"
    ray_address: str | None = None
    ray_cpus_per_task: int = 1
    max_retries: int = 2
    out: str = "reports"
    save_models: str = "seed"
    # [report]
    images: str = "all"

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def identity(self) -> dict[str, Any]:
        """The settings that change results; a resumed run must match them exactly.

        A field added later is left out at its default, so that runs written before it
        existed keep their identity (and their finished units).
        """
        return {
            name: _plain(getattr(self, name))
            for name in RESULT_FIELDS
            if LATER_DEFAULTS.get(name, object()) != getattr(self, name)
        }

    def to_toml(self) -> str:
        return dump_toml(self)

    @property
    def target(self) -> tuple[str, float] | None:
        """The operating-point target: ("sensitivity" | "specificity", value), or None."""
        for kind in ("sensitivity", "specificity"):
            value = getattr(self, f"target_{kind}")
            if value is not None:
                return kind, float(value)
        return None

    @property
    def folds_per_repeat(self) -> int | None:
        """k of a run that repeats its k folds, else None (one repeat)."""
        return self.folds if self.repeats > 1 else None


#: Which TOML table each field lives in.
SECTIONS: dict[str, tuple[str, ...]] = {
    "data": (
        "data_dir",
        "demo",
        "group_pattern",
        "families",
        "skip_bad_images",
        "external",
        "external_map",
        "keep_contaminated",
    ),
    "protocol": (
        "folds",
        "seed",
        "validation_split",
        "inner_fraction",
        "repeats",
        "checkpoint",
        "target_sensitivity",
        "target_specificity",
    ),
    "training": ("models", "epochs", "batch_size", "learning_rate", "image_size"),
    "runtime": (
        "device",
        "precision",
        "threads",
        "engine",
        "executor",
        "ray_address",
        "ray_cpus_per_task",
        "max_retries",
        "out",
        "save_models",
    ),
    "report": ("images",),
}

#: Fields that do not change what a unit estimates (where and how it ran, where it is
#: written). The thread count can change the last bits of a sum and so, over many epochs,
#: a unit's exact numbers; unit.json records it, and finished units stay valid.
#: The operating-point targets only change how finished units are read, never the units.
#: The external sets enter a run's identity by their content (the run adds their
#: fingerprint), not by where they lie; which of their images count only changes the reading.
NON_RESULT_FIELDS = frozenset(SECTIONS["runtime"]) - {"precision"} | {
    "data_dir",
    "external",
    "external_map",
    "keep_contaminated",
    "images",
    "target_sensitivity",
    "target_specificity",
}
RESULT_FIELDS = tuple(
    f.name for f in dataclasses.fields(RunConfig) if f.name not in NON_RESULT_FIELDS
)
#: Fields added after runs were written: at these values they are omitted from the identity
#: and from config.toml, so those runs' artefacts and resumption stay exactly as they were.
#: (Runs written before ``checkpoint`` existed chose each fold's epoch by "val-accuracy".)
LATER_DEFAULTS: dict[str, Any] = {
    "repeats": 1,
    "checkpoint": "val-accuracy",
    "external": (),
    "external_map": (),
    "keep_contaminated": False,
}


def _field_types() -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(RunConfig)}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _check_type(key: str, value: Any, where: str) -> Any:
    """Coerce a TOML/CLI value to the field's type, or raise naming the key."""
    kind = _field_types()[key]
    optional = "None" in kind
    if value is None:
        if optional:
            return None
        raise MpxEvalError(f"{where}: '{key}' must be set")
    base = kind.replace(" | None", "")
    ok: bool
    if base == "bool":
        ok = isinstance(value, bool)
    elif base == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif base == "str":
        ok = isinstance(value, str)
    elif base.startswith("tuple"):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    else:  # pragma: no cover - a new field type was added without a rule here
        raise TypeError(f"no type rule for {key}: {kind}")
    if not ok:
        expected = {
            "tuple[str, ...]": "a list of strings",
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "str": "a string",
        }[base]
        raise MpxEvalError(
            f"{where}: '{key}' must be {expected}, got {type(value).__name__} {value!r}"
        )
    return value


#: NumPy's RandomState, which the blog's seed split uses, takes seeds below 2**32.
MAX_SEED = 2**32 - 1

#: Repeats beyond this add units, not information: 10 x 10-fold is the usual ceiling
#: (Bouckaert & Frank 2004), and a plan of 100,000 repeats took minutes to write.
MAX_REPEATS = 100


def check_image_size(value: Any, what: str) -> None:
    """The one rule for input sizes, whether from --image-size, a config or a builder's
    ``default_image_size``: an integer from 16 to 2048 pixels."""
    if not isinstance(value, int) or isinstance(value, bool) or not 16 <= value <= 2048:
        raise MpxEvalError(f"{what} must be between 16 and 2048 pixels (an integer), got {value!r}")


def check_folds(value: int, what: str) -> None:
    """The one rule for fold counts, whether from --folds, a config or ``make_plan``: 0 (the
    seed split alone) or at least 2, since one fold would test on the images it trained on."""
    if value < 0 or value == 1:
        raise MpxEvalError(f"{what} must be 0 (seed split only) or at least 2, got {value}")


def compile_group_pattern(pattern: str, what: str) -> re.Pattern:
    """The one rule for group patterns, whether from --group-pattern, a config or the data
    loader: a regular expression that compiles and has a capture group (the group id)."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise MpxEvalError(f"{what} {pattern!r} does not compile: {exc}") from None
    if compiled.groups < 1:
        raise MpxEvalError(f"{what} {pattern!r} needs a capture group, e.g. '^([^_]+)_'")
    return compiled


def validate(cfg: RunConfig) -> None:
    """Raise MpxEvalError for values no run can use, naming the option."""
    check_folds(cfg.folds, "folds")
    if not 1 <= cfg.repeats <= MAX_REPEATS:
        raise MpxEvalError(
            f"repeats must be an integer from 1 to {MAX_REPEATS}, got {cfg.repeats}; "
            "10 repeats of the folds already measure the split-to-split spread"
        )
    if cfg.repeats > 1 and cfg.folds == 0:
        raise MpxEvalError(f"repeats {cfg.repeats} needs cross-validation; set folds to 2 or more")
    _check_numbers(cfg)
    _check_targets(cfg)
    _check_choices(cfg)
    _check_models(cfg.models)
    if cfg.group_pattern is not None:
        compile_group_pattern(cfg.group_pattern, "group_pattern")
    external_mapping(cfg.external_map)


def external_mapping(entries: tuple[str, ...]) -> dict[str, str]:
    """``external_map`` entries (``"FOLDER=CLASS"``) as {external folder: training class};
    raises naming the entry when one is not of that form or names a folder twice."""
    mapping: dict[str, str] = {}
    for entry in entries:
        folder, sep, target = (part.strip() for part in entry.partition("="))
        if not sep or not folder or not target:
            raise MpxEvalError(
                f"external_map entry {entry!r} must be FOLDER=CLASS, e.g. Chickenpox=Others"
            )
        if folder in mapping and mapping[folder] != target:
            raise MpxEvalError(
                f"external_map maps folder {folder!r} twice ({mapping[folder]} and {target})"
            )
        mapping[folder] = target
    return mapping


def _check_numbers(cfg: RunConfig) -> None:
    for name in ("epochs", "batch_size", "ray_cpus_per_task"):
        if getattr(cfg, name) < 1:
            raise MpxEvalError(f"{name} must be a positive integer, got {getattr(cfg, name)}")
    if cfg.threads is not None and cfg.threads < 1:
        raise MpxEvalError(f"threads must be a positive integer, got {cfg.threads}")
    if cfg.max_retries < 0:
        raise MpxEvalError(f"max_retries must be 0 or more, got {cfg.max_retries}")
    if cfg.image_size is not None:
        check_image_size(cfg.image_size, "image_size")
    if not (cfg.learning_rate > 0 and math.isfinite(cfg.learning_rate)):
        raise MpxEvalError(
            f"learning_rate must be a positive finite number, got {cfg.learning_rate}"
        )
    if not 0 <= cfg.seed <= MAX_SEED:
        raise MpxEvalError(f"seed must be between 0 and {MAX_SEED}, got {cfg.seed}")
    if cfg.seed + cfg.repeats - 1 > MAX_SEED:  # repeat r splits with seed + r - 1
        raise MpxEvalError(
            f"seed {cfg.seed} with {cfg.repeats} repeats needs seeds up to "
            f"{cfg.seed + cfg.repeats - 1}, past {MAX_SEED}; choose a seed of at most "
            f"{MAX_SEED - cfg.repeats + 1}"
        )
    for name in ("validation_split", "inner_fraction"):
        value = getattr(cfg, name)
        if not 0 < value < 0.5:
            raise MpxEvalError(f"{name} must be between 0 and 0.5, got {value}")


def _check_targets(cfg: RunConfig) -> None:
    targets = [
        n for n in ("target_sensitivity", "target_specificity") if getattr(cfg, n) is not None
    ]
    if len(targets) > 1:
        raise MpxEvalError("give target_sensitivity or target_specificity, not both")
    for name in targets:
        value = getattr(cfg, name)
        if not (0 < value < 1):
            raise MpxEvalError(f"{name} must be between 0 and 1 (exclusive), got {value}")


def _check_choices(cfg: RunConfig) -> None:
    for name, allowed in (
        ("device", DEVICES),
        ("precision", PRECISIONS),
        ("engine", ENGINES),
        ("executor", EXECUTORS),
        ("save_models", SAVE_MODELS),
        ("checkpoint", CHECKPOINT_RULES),
        ("images", IMAGES),
    ):
        if getattr(cfg, name) not in allowed:
            raise MpxEvalError(
                f"{name} must be one of {', '.join(allowed)}, got {getattr(cfg, name)!r}"
            )


def _check_models(models: tuple[str, ...]) -> None:
    if not models:
        raise MpxEvalError("models must name at least one model")
    for name in models:
        if name not in BUILTIN_MODELS and not _USER_MODEL.match(name):
            raise MpxEvalError(
                f"unknown model {name!r}: use {', '.join(BUILTIN_MODELS)} or "
                "package.module:function"
            )
    if len(set(models)) != len(models):
        raise MpxEvalError(f"models lists a model twice: {', '.join(models)}")


def _load_toml_file(path: Path) -> dict[str, Any]:
    """A config file's TOML tables; every way of not being one is one line naming it."""
    if path.exists() and not path.is_file() and not path.is_dir():
        # a FIFO or a device would block the read, or never end
        raise MpxEvalError(f"config file {path} is not a regular file; give a TOML file")
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except RecursionError:
        raise MpxEvalError(f"config file {path} is nested too deeply to be a config") from None
    except FileNotFoundError:
        raise MpxEvalError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise MpxEvalError(f"config file {path} is a folder, not a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise MpxEvalError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise MpxEvalError(
            f"config file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise MpxEvalError(f"config file {path} cannot be read ({exc.strerror})") from None
    return raw


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file into flat ``{field: value}``, naming any unknown key or bad type."""
    path = Path(path)
    raw = _load_toml_file(path)
    flat: dict[str, Any] = {}
    for section, table in raw.items():
        if section not in SECTIONS:
            raise MpxEvalError(
                f"config file {path}: unknown section [{section}] "
                f"(known: {', '.join(f'[{s}]' for s in SECTIONS)})"
            )
        if not isinstance(table, dict):
            raise MpxEvalError(f"config file {path}: '{section}' must be a table [{section}]")
        for key, value in table.items():
            if key not in SECTIONS[section]:
                home = next((s for s, keys in SECTIONS.items() if key in keys), None)
                hint = f" (it belongs in [{home}])" if home else ""
                raise MpxEvalError(f"config file {path}: unknown key '{key}' in [{section}]{hint}")
            flat[key] = _check_type(key, value, f"config file {path}")
    return flat


def resolve(
    *,
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Defaults, then the config file, then ``--demo`` settings, then command-line overrides.

    ``--demo`` only fills the settings that neither the file nor the command line set.
    """
    from_file = read_toml(config_file) if config_file is not None else {}
    explicit: dict[str, Any] = dict(from_file)
    for key, value in (overrides or {}).items():
        explicit[key] = _check_type(key, value, f"option --{key.replace('_', '-')}")
    values = dict(explicit)
    if values.get("demo"):
        for key, value in DEMO_SETTINGS.items():
            values.setdefault(key, value)
    try:
        return RunConfig(**values)
    except MpxEvalError as exc:
        # a value the file set (and no option replaced) is named with the file
        key = str(exc).split(" ", 1)[0]
        if key in from_file and key not in (overrides or {}):
            raise MpxEvalError(f"config file {config_file}: {exc}") from None
        raise


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value)
    if not any(c == "'" or _control(c) for c in text):
        return f"'{text}'"
    # a basic string: backslash, quote and every control character escaped (TOML allows
    # none of them raw, and a CR or DEL in a path made the whole file unreadable)
    return '"' + "".join(_escaped(c) for c in text) + '"'


def _control(c: str) -> bool:
    return ord(c) < 0x20 or ord(c) == 0x7F


def _escaped(c: str) -> str:
    if c in ('"', "\\"):
        return "\\" + c
    return f"\\u{ord(c):04x}" if _control(c) else c


def dump_toml(cfg: RunConfig) -> str:
    """The resolved config as TOML that ``--config`` reads back to an equal object."""
    lines = ["# Resolved mpx_eval configuration (unset options are omitted)."]
    for section, keys in SECTIONS.items():
        lines.append(f"\n[{section}]")
        for key in keys:
            value = getattr(cfg, key)
            if key == "data_dir" and cfg.demo and value == RunConfig.data_dir:
                # a demo reads no data folder; the default is left out so that the file
                # does not point at a folder that was never used
                lines.append("# data_dir: not used, --demo draws its images into the cache")
                continue
            if value is not None and LATER_DEFAULTS.get(key, object()) != value:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class RecordedConfig:
    """A run folder's config.toml read back: the run's configuration, the file's text, and
    the fields the file did not record (a folder written before they existed), which hold
    their defaults."""

    config: RunConfig
    text: str
    unrecorded: frozenset[str]

    @property
    def save_models_choice(self) -> str | None:
        """The ``--save-models`` choice the run recorded; None for a run from before the
        option, which kept no model."""
        return None if "save_models" in self.unrecorded else self.config.save_models


def _recorded_error(path: Path, message: str) -> MpxEvalError:
    return MpxEvalError(f"{path} {message}; it may be truncated or written by another version")


def config_from_toml_text(text: str, where: str = "config.toml") -> tuple[RunConfig, frozenset]:
    """A configuration written by :func:`dump_toml`, and the fields it did not record.

    Keys this version does not know are left out (a newer writer's); a known key with a
    value of the wrong type raises ``MpxEvalError`` naming ``where``.
    """
    raw = tomllib.loads(text)
    fields = _field_types()
    values = {
        key: _check_type(key, value, where)
        for table in raw.values()
        if isinstance(table, dict)
        for key, value in table.items()
        if key in fields
    }
    unrecorded = frozenset(fields) - set(values)
    # a field the writer did not know yet had the value it stood for then
    values.update({k: v for k, v in LATER_DEFAULTS.items() if k in unrecorded})
    try:
        config = RunConfig(**values)
    except MpxEvalError as exc:
        raise MpxEvalError(f"{where}: {exc}") from None
    return config, unrecorded


def read_recorded(path: str | Path) -> RecordedConfig:
    """Read a run folder's config.toml: the one reader of the file.

    Raises
    ------
    MpxEvalError
        Naming the file, when it is missing, not UTF-8 TOML, or holds values no run can use.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise _recorded_error(path, "is not a regular file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MpxEvalError(f"{path} is missing") from None
    except UnicodeDecodeError as exc:
        raise _recorded_error(path, f"is not UTF-8 text ({exc})") from None
    try:
        config, unrecorded = config_from_toml_text(text, str(path))
    except tomllib.TOMLDecodeError as exc:
        raise _recorded_error(path, f"is not valid TOML ({exc})") from None
    except RecursionError:
        raise _recorded_error(path, "is nested too deeply to be a config") from None
    return RecordedConfig(config, text, unrecorded)


__all__ = [
    "DEMO_SETTINGS",
    "LATER_DEFAULTS",
    "RESULT_FIELDS",
    "RecordedConfig",
    "RunConfig",
    "dump_toml",
    "read_recorded",
    "read_toml",
    "resolve",
]
