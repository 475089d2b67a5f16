"""The methods section: the run's protocol in a paper's words, written from what the run folder
recorded, and a checklist of reporting items that says where the run records each.

One structure, rendered twice: ``_methods.html`` shows it on the page and
:func:`methods_markdown` writes it as the run folder's ``methods.md``. Sentences are plain
text; a file name, pattern or setting in them is marked as code with :func:`code`, so that
each rendering can set it apart and escape the rest in its own way.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import PurePath

from ...assessment.operating import RULE_THRESHOLD
from ...assessment.verdicts import declared_test
from ...summary.checkpoints import RULES, SEED_SPLIT_RULE
from .. import text as T
from ..run import Run
from .checklist import FOR_THE_AUTHORS, checklist
from .comparison import size_mix
from .external import external_methods

_OPEN, _CLOSE = "\ue000", "\ue001"
_CODE = re.compile(f"{_OPEN}([^{_OPEN}{_CLOSE}]*){_CLOSE}")

#: Layers past this many are counted by type instead of listed one by one.
LAYERS_LISTED = 30
#: Image sizes named in the data paragraph, most frequent first.
SIZES_LISTED = 3

_BACKENDS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
_BUILTIN = "mpx_eval.training.models:"


def code(value: object) -> str:
    """``value`` marked as code (a file name, a pattern, a setting) inside a sentence."""
    text = str(value).replace(_OPEN, "").replace(_CLOSE, "")
    return f"{_OPEN}{text}{_CLOSE}"


def parts(paragraph: str) -> list[dict]:
    """A sentence as its pieces: ``{"text": ..., "code": bool}`` in order."""
    pieces = [p.replace(_OPEN, "").replace(_CLOSE, "") for p in _CODE.split(paragraph)]
    return [{"text": p, "code": i % 2 == 1} for i, p in enumerate(pieces) if p]


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{T.integer(n)} {one if n == 1 else many or one + 's'}"


def _span(values: Iterable[int]) -> str:
    """``84`` or ``84–87``."""
    values = [int(v) for v in values]
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def _class_counts(run: Run) -> str:
    counts = run.runinfo["dataset"]["counts"]
    return ", ".join(f"{cls} {T.integer(counts.get(cls, 0))}" for cls in run.classes)


def _is_demo(run: Run) -> bool:
    return bool(run.runinfo.get("demo") or run.runinfo["dataset"].get("demo"))


def _grouped(run: Run) -> bool:
    dataset = run.runinfo["dataset"]
    groups = dataset.get("n_groups")
    return isinstance(groups, int) and groups < int(dataset["n_images"])


# --------------------------------------------------------------------------- data


def _source(run: Run) -> str:
    dataset = run.runinfo["dataset"]
    n = int(dataset["n_images"])
    if _is_demo(run):
        return (
            f"The images are synthetic: {_plural(n, 'picture')} drawn by mpx_eval's demo "
            f"generator to try the tool out ({_class_counts(run)}). They are not medical "
            "images, and nothing in this run says anything about any skin condition."
        )
    folder = PurePath(str(dataset.get("root") or "")).name or "(not recorded)"
    text = (
        f"The data set is the image folder {code(folder)}, one sub-folder per class: "
        f"{_plural(n, 'image')} in {len(run.classes)} classes ({_class_counts(run)})."
    )
    fingerprint = str(dataset.get("fingerprint") or "")
    if fingerprint:
        text += (
            f" runinfo.json records a fingerprint of its image files, beginning "
            f"{code(fingerprint[:16])}, which identifies the exact files used."
        )
    return text


def _preparation(run: Run) -> str:
    sizes = Counter(run.runinfo["dataset"].get("sizes_seen") or {})
    text = (
        "Each image was decoded, turned upright by its EXIF orientation, converted to RGB "
        "and resized to the model's input size (bilinear, without keeping its aspect ratio)."
    )
    if sizes:
        common = ", ".join(
            f"{size.replace('x', '×')} ({T.integer(n)})"
            for size, n in sizes.most_common(SIZES_LISTED)
        )
        more = len(sizes) - min(len(sizes), SIZES_LISTED)
        text += f" The files' pixel sizes: {common}" + (
            f", and {_plural(more, 'other size')}." if more else "."
        )
    return text


def _exclusions(run: Run) -> str:
    dataset = run.runinfo["dataset"]
    skipped = list(dataset.get("skipped") or [])
    unread = list(dataset.get("unread") or [])
    if not skipped and not unread:
        return "No file was excluded: every image file in the class folders was decoded and used."
    sentences = []
    if skipped:
        reasons = Counter(str(item.get("reason", "")).split(" (")[0] for item in skipped)
        listed = "; ".join(f"{reason}: {n}" for reason, n in reasons.most_common())
        sentences.append(
            f"{_plural(len(skipped), 'image file')} could not be read and "
            f"{'was' if len(skipped) == 1 else 'were'} left out ({listed})."
        )
    if unread:
        sentences.append(
            f"{_plural(len(unread), 'file')} in the class folders "
            f"{'was' if len(unread) == 1 else 'were'} not read, being of a type mpx_eval "
            "does not read as an image (by the extension)."
        )
    return " ".join(sentences) + " runinfo.json lists the files."


def _patients(run: Run) -> str:
    pattern = run.config.group_pattern
    if not pattern:
        return (
            "No patient identifier was given (no file-name pattern), so each image counted "
            "as a patient of its own."
        )
    return (
        f"Images of one patient were grouped by the regular expression {code(pattern)} on "
        "each file name without its extension: its first capture group is the patient "
        "identifier, and a name it does not match is a patient of its own."
    )


def _link_kinds(families: list[dict]) -> str:
    kinds = Counter(str(link.get("kind")) for f in families for link in f.get("links") or [])
    words = {
        "exact": "identical files",
        "near": "near-identical perceptual hashes",
        "geometric": "geometric matches of local (SIFT) features",
    }
    found = [f"{words[k]} ({T.integer(kinds[k])})" for k in words if kinds.get(k)]
    return ", ".join(found)


def _families(run: Run) -> str:
    audit = run.audit
    if "families" not in audit:
        return "Copies of one photo (image families) were not looked for: the run predates it."
    if audit.get("family_detection") == "off" or not run.config.families:
        return (
            "The detection of copies of one photo (image families) was switched off, so "
            "copies of one photo could fall on both sides of a split."
        )
    listed = list(audit.get("families") or [])
    if not listed:
        return "The automatic detection of copies of one photo (image families) found none."
    images = sum(int(f["size"]) for f in listed)
    text = (
        "Copies of one photo (image families: flipped, turned, resized or re-compressed "
        f"copies) were detected automatically: {_plural(len(listed), 'family', 'families')} "
        f"holding {_plural(images, 'image')}, the largest {int(max(f['size'] for f in listed))}"
    )
    kinds = _link_kinds(listed)
    text += f"; their links: {kinds}." if kinds else "."
    conflicts = len(audit.get("label_conflicts") or [])
    if conflicts:
        text += (
            f" {_plural(conflicts, 'family', 'families')} held images of different classes "
            "(label conflicts, listed in audit.json)."
        )
    return text


def _groups(run: Run) -> str:
    dataset = run.runinfo["dataset"]
    if not _grouped(run):
        return "No two images shared a patient or a family: every image was a group of its own."
    multi = run.audit.get("n_multi_image_groups")
    several = f", {T.integer(multi)} of them with several images" if multi else ""
    families = bool(run.audit.get("families")) and run.config.families
    if families and run.config.group_pattern:
        joined = "The patient groups joined with the image families"
    else:
        joined = "The image families" if families else "The patient groups"
    text = f"{joined} gave {_plural(int(dataset['n_groups']), 'split group')}{several}."
    exact = len(run.audit.get("exact_duplicates") or [])
    near = len(run.audit.get("near_duplicates") or [])
    if "exact_duplicates" in run.audit:
        bits = run.audit.get("near_duplicate_bits")
        within = f" (perceptual hashes within {bits} bits)" if bits is not None else ""
        text += (
            f" The duplicate audit found {_plural(exact, 'set')} of identical files and "
            f"{_plural(near, 'near-duplicate pair')}{within}."
        )
    return text


def _shortcuts(run: Run) -> str:
    """The shortcut audit in one or two sentences (nothing for an audit written before it)."""
    found = run.audit.get("shortcuts")
    if not found:
        return ""
    if found.get("skipped"):
        return f"The shortcut audit was not run: {found['skipped']}."
    measured = (
        "Nine file properties that could reveal the class without the lesion (width, height, "
        "aspect ratio, file format, estimated JPEG quality, colourfulness, brightness, EXIF "
        "camera, plain borders) were each given alone to a small classifier, cross-validated "
        f"over {found['folds']} grouped folds; a property counted as a possible shortcut at "
        f"an AUC of {found['level']:.2f} or more with a 95 % interval excluding 0.5."
    )
    flagged = [found["properties"][key]["sentence"] for key in found.get("flagged", [])]
    if not flagged:
        return measured + " None did."
    return measured + " " + " ".join(sentence.split(" Suggestion:")[0] for sentence in flagged)


def _data(run: Run) -> list[str]:
    paragraphs = [
        _source(run),
        _preparation(run) + " " + _exclusions(run),
        " ".join((_patients(run), _families(run), _groups(run))),
    ]
    return [*paragraphs, _shortcuts(run)] if _shortcuts(run) else paragraphs


# --------------------------------------------------------------------------- partitioning


def _roles(run: Run, scheme: str) -> dict[str, str]:
    """Per role (train, val, test), the span of its image counts over the scheme's splits."""
    rows = run.splits[run.splits["scheme"] == scheme]
    if rows.empty:
        return {}
    counts = rows.groupby(["fold", "role"]).size().unstack(fill_value=0)
    return {role: _span(counts[role]) for role in counts.columns}


def _folds(run: Run) -> str:
    config = run.config
    grouped = _grouped(run)
    text = (
        f"Performance was estimated by {config.folds}-fold cross-validation, stratified by "
        "class"
        + (
            " and grouped, so that each split group (a patient with the families of its "
            f"photos) lay in one fold only (scikit-learn's {code('StratifiedGroupKFold')}"
            if grouped
            else f" (scikit-learn's {code('StratifiedKFold')}"
        )
        + f", shuffled with seed {config.seed})."
    )
    if config.repeats > 1:
        text += (
            f" The folds were drawn {config.repeats} times, with seeds {config.seed} to "
            f"{config.seed + config.repeats - 1}: {config.folds * config.repeats} test folds "
            "in all, each image tested once per repeat."
        )
    return text + (
        " Each fold was the test set once; the models scored on it never saw its images, "
        "in training or in any choice."
    )


def _inner(run: Run) -> str:
    config = run.config
    sizes = _roles(run, "cv")
    chooses = "the checkpoint" + (
        " and the operating-point threshold" if config.target and run.positive else ""
    )
    text = (
        f"From each training fold a stratified{', grouped' if _grouped(run) else ''} part of "
        f"{T.fraction(config.inner_fraction)} was held out as the inner validation part; it "
        f"alone chose {chooses}, and the rest trained the model."
    )
    if sizes:
        text += (
            f" Per fold: {sizes.get('train', '0')} training, {sizes.get('val', '0')} inner "
            f"validation and {sizes.get('test', '0')} test images."
        )
    return text


def _seed_split(run: Run) -> str:
    config = run.config
    sizes = _roles(run, "seed")
    counted = (
        f": {sizes.get('train', '0')} training and {sizes.get('val', '0')} validation images"
        if sizes
        else ""
    )
    opening = (
        "For comparison with the blog's procedure only, each model was also trained"
        if config.folds
        else "Each model was trained"
    )
    text = (
        f"{opening} on one split that reproduces Keras's "
        f"{code('image_dataset_from_directory')} with a validation split of "
        f"{T.fraction(config.validation_split)} and seed {config.seed}{counted}, drawn "
        "without regard to patients or families. Its validation images both chose the "
        "checkpoint and scored it, so its figures are optimistic"
        + ("; no conclusion rests on them." if config.folds else ".")
    )
    leakage = run.audit.get("seed_leakage")
    if leakage and int(leakage.get("n_val") or 0):
        text += (
            f" {T.integer(leakage['n_with_sibling_in_train'])} of its "
            f"{T.integer(leakage['n_val'])} validation images had a copy or a group member in "
            "its training part."
        )
    return text


def _partitioning(run: Run) -> list[str]:
    if not run.config.folds:
        return [
            "No cross-validation was run (0 folds): every figure comes from the seed split "
            "below, whose validation images also chose the checkpoint.",
            _seed_split(run),
        ]
    return [_folds(run) + " " + _inner(run), _seed_split(run)]


# --------------------------------------------------------------------------- models


def _layer_word(layer: dict) -> str:
    kind = str(layer.get("type", "layer"))
    shape = layer.get("output_shape") or []
    if kind.startswith(("Conv", "Dense")) and shape and isinstance(shape[-1], int):
        return f"{kind} ({shape[-1]})"
    return kind


def _layers(layers: list[dict]) -> str:
    if len(layers) <= LAYERS_LISTED:
        return " → ".join(_layer_word(layer) for layer in layers)
    kinds = Counter(str(layer.get("type", "layer")) for layer in layers)
    return f"{len(layers)} layers: " + ", ".join(f"{n} {k}" for k, n in kinds.most_common())


def _model(name: str, info: dict) -> str:
    builder = str(info.get("builder") or name)
    who = (
        f"the blog's {name.upper()} network"
        if builder.startswith(_BUILTIN)
        else f"a network built by {code(builder)}"
    )
    shape = "×".join(str(s) for s in info.get("input_shape") or []) or "(not recorded)"
    text = f"{code(name)}: {who}, input {shape}, {T.integer(info.get('params'))} parameters"
    layers = list(info.get("layers") or [])
    return text + (f"; layers {_layers(layers)}." if layers else ".")


def _models(run: Run) -> list[str]:
    described = [_model(name, info) for name, info in run.models.items()]
    counted = _plural(len(described), "model")
    intro = (
        f"{counted} {'was' if len(described) == 1 else 'were'} evaluated, each ending in one "
        "output per class that a softmax turns into class probabilities. Parameter counts are "
        "those at the input size used and with this number of classes."
    )
    return [intro, *described]


# --------------------------------------------------------------------------- training


def _rule(run: Run) -> str:
    """The checkpoint rule the run's cv used, as metrics.json records it."""
    rules = {e.optimism.rule for e in run.metrics.models.values() if e.optimism is not None}
    return rules.pop() if len(rules) == 1 else run.config.checkpoint


def _chosen(run: Run) -> str:
    spans = []
    for name in run.names():
        epochs = [e for (scheme, _), e in run.chosen_epochs(name).items() if scheme == "cv"]
        if epochs:
            spans.append(f"{name} {_span(epochs)}")
    return f" The epochs kept: {'; '.join(spans)}." if spans else ""


def _optimisation(run: Run) -> str:
    config = run.config
    sizes = sorted({int(m["input_shape"][0]) for m in run.models.values() if m.get("input_shape")})
    size = " and ".join(f"{s}×{s}" for s in sizes) or "the models' input size"
    return (
        "Each unit (one model on one split) trained a newly built model on the split's "
        f"training part: images at {size} px, the Adam optimiser at a learning rate of "
        f"{config.learning_rate:g}, batches of {config.batch_size}, {config.epochs} epochs, "
        "the training images shuffled every epoch, the loss the cross-entropy of the class "
        "labels, no data augmentation. Initial weights, shuffling and dropout were seeded "
        f"per unit from the run seed ({config.seed}) and the split."
    )


def _checkpoint(run: Run) -> str:
    rule = _rule(run)
    described = RULES[rule].description if rule in RULES else rule
    if not run.config.folds:
        return (
            f"On the seed split the kept weights were those of the epoch chosen by "
            f"{code(SEED_SPLIT_RULE)} on its own validation images, as in the blog."
        )
    return (
        f"The weights kept in each fold were chosen by the checkpoint rule {code(rule)}, "
        f"fixed before the run ({described}). It read the inner validation part only: no "
        "test fold influenced which epoch was kept. The test-fold accuracy at the epochs "
        "every other rule would have kept is reported beside, for sensitivity to the rule; "
        f"the seed split kept the blog's rule ({code(SEED_SPLIT_RULE)}) on its own "
        f"validation images.{_chosen(run)}"
    )


def _environment(run: Run) -> str:
    info = run.runinfo
    device = info.get("device") or {}
    backend = str(info.get("backend") or "")
    where = str(device.get("kind") or "").upper() or "a device not recorded"
    if device.get("name") and str(device.get("name")) != where:
        where += f" ({device['name']})"
    if device.get("threads"):
        where += f" with {device['threads']} threads"
    engines = sorted({str(u.get("engine")) for u in run.units.values() if u.get("engine")})
    engine = ", ".join(engines) or str(info.get("engine") or "")
    text = f"Training ran on {where}"
    if backend:
        text += f", Keras on the {_BACKENDS.get(backend, backend)} backend"
    if info.get("precision_policy"):
        text += f", precision policy {code(info['precision_policy'])}"
    if engine:
        text += f", the {engine} training engine"
    return text + "."


def _incomplete(run: Run) -> str:
    planned = list(run.runinfo.get("units_planned") or [])
    missing = [u for u in planned if u not in run.units]
    diverged = run.units.diverged()
    sentences = []
    if missing:
        sentences.append(
            f"{len(planned) - len(missing)} of the {len(planned)} planned units finished; "
            "everything here rests on those."
        )
    if diverged:
        sentences.append(
            f"{_plural(len(diverged), 'unit')} diverged (a non-finite loss) and "
            f"{'is' if len(diverged) == 1 else 'are'} left out of the fold statistics."
        )
    return " ".join(sentences)


def _training(run: Run) -> list[str]:
    last = " ".join(filter(None, (_environment(run), _incomplete(run))))
    return [_optimisation(run), _checkpoint(run), last]


# --------------------------------------------------------------------------- decision rule


def _target(run: Run) -> str:
    target = run.config.target
    if target is None:
        return ""
    kind, value = target
    if run.positive is None:
        return (
            f" The target {kind} of {T.num(value, 2)} was not applied: operating points need "
            "two classes."
        )
    how = (
        "the highest threshold whose inner sensitivity reaches it"
        if kind == "sensitivity"
        else "the lowest threshold whose inner specificity reaches it"
    )
    return (
        f" An operating point at a target {kind} of {T.num(value, 2)} was also set: each fold "
        f"chose its threshold on its inner validation part ({how}), and its test fold was "
        "scored at that threshold."
    )


def _readouts(run: Run) -> str:
    clinical = [
        a.clinical
        for name in run.names()
        if (a := run.assessment(name)) is not None and a.clinical is not None
    ]
    if not clinical:
        return ""
    first = clinical[0]
    spec = T.num(first.sensitivity_at_specificity.fixed, 2)
    sens = T.num(first.specificity_at_sensitivity.fixed, 2)
    return (
        f" The sensitivity at a specificity of {spec} and the specificity at a sensitivity of "
        f"{sens} were read off the pooled ROC curve; their thresholds are chosen on the test "
        "images themselves, so they describe the curve, not a rule fixed in advance. "
        "Likelihood ratios and net benefit (decision curves) are given at the decision rule."
    )


def _decision(run: Run) -> list[str]:
    positive = run.positive
    if positive is not None:
        text = (
            f"An image was called {positive} when its predicted probability of {positive} was "
            f"at least {RULE_THRESHOLD:g}, the more probable of the two classes; sensitivity, "
            f"specificity and the predictive values treat {positive} as the positive class."
        )
    else:
        text = (
            f"Each image was assigned the class with the highest predicted probability "
            f"(argmax over {len(run.classes)} classes). There is no positive class: recall is "
            "reported per class, F1 as the macro average, and AUC and average precision "
            "one-vs-rest, macro-averaged."
        )
    return [text + _target(run) + _readouts(run)]


# --------------------------------------------------------------------------- metrics


#: Metric labels that open with a name, kept capitalised inside a sentence.
_NAMES = ("Matthews", "Cohen", "Brier", "AUC", "F1")


def _in_sentence(metric: str, positive: str | None) -> str:
    """A metric's report label as it reads inside a sentence: ``calibration error (ECE)``."""
    label = T.metric_label(metric, positive).replace(" (lower is better)", "")
    head, comma, tail = label.partition(", ")
    label = f"{head} ({tail})" if comma and "(" not in label else label
    return label if label.startswith(_NAMES) else label[:1].lower() + label[1:]


def _metric_list(run: Run) -> str:
    labels = [_in_sentence(name, run.positive) for name in run.metrics.metrics]
    return ", ".join(dict.fromkeys(labels))  # two names can read alike (F1 with 3 classes)


def _interval_methods(run: Run) -> dict[str, list[str]]:
    """Each interval method the run recorded, with the metrics it served (in order)."""
    methods: dict[str, list[str]] = {}
    for name in run.names():
        entry = run.entry(name)
        part = entry.cv or entry.seed_split
        for metric, interval in (part.ci if part is not None else {}).items():
            label = _in_sentence(metric, run.positive)
            listed = methods.setdefault(interval.method, [])
            if label not in listed:
                listed.append(label)
    return methods


def _method_words(method: str, n_resamples: int) -> str:
    if method.startswith("percentile"):
        return f"percentile bootstrap of {T.integer(n_resamples)} resamples{method[10:]}"
    return method


def _intervals(run: Run) -> str:
    level = f"{100 * run.metrics.confidence_level:g} %"
    methods = _interval_methods(run)
    if not methods:
        return f"Intervals are {level} confidence intervals."
    listed = "; ".join(
        f"for {', '.join(labels)}, {_method_words(method, run.metrics.n_resamples)}"
        for method, labels in methods.items()
    )
    text = (
        f"Every pooled metric has a {level} confidence interval (methods as metrics.json "
        f"records them): {listed}."
    )
    if any(
        a is not None and "exact" in str(a.headline.accuracy.method or "")
        for a in map(run.assessment, run.names())
    ):
        text += (
            " Where the accuracy's interval had no width, the headline gives the exact "
            "binomial (Clopper–Pearson) interval instead."
        )
    return text


def _pooling(run: Run) -> str:
    if not run.config.folds:
        return (
            "Every metric was computed on the seed split's validation images, at the "
            "checkpoint those images chose."
        )
    baseline = run.metrics.baseline
    text = (
        "Every metric was computed once on the pooled test folds: each image predicted by "
        "the model of the fold that held it out, at the kept checkpoint. Fold means, with "
        "Student's t intervals over the folds, are given beside."
    )
    if baseline is not None:
        text += (
            f" Each model was set against the majority-class baseline (always answering "
            f"{baseline.class_}: accuracy {T.num(baseline.accuracy)}, AUC 0.5)."
        )
    return text


def _metrics(run: Run) -> list[str]:
    return [f"The metrics: {_metric_list(run)}. " + _pooling(run) + " " + _intervals(run)]


# --------------------------------------------------------------------------- comparison


def _comparison(run: Run) -> list[str]:
    comparisons = run.metrics.comparisons
    if len(run.names()) < 2:
        return ["One model only: no comparison was made."]
    if not comparisons:
        return [
            "No paired comparison was possible: it needs cross-validated predictions of both "
            "models on the same test images."
        ]
    primary, alpha = declared_test(run.metrics)
    declared = run.metrics.primary_test
    name = declared.name if declared is not None else "corrected resampled t-test"
    tests = T.comparison_tests(comparisons[0], primary=primary, alpha=alpha)
    secondary = [t["name"] for t in tests if t["role"] == "secondary"]
    text = (
        "The models were compared pairwise on the test images both had, paired by fold and "
        f"image. The primary test, declared before the run, was the {name}, at α = {alpha:g}; "
        "its p-value alone decided whether a difference was reported, and a pair in which a "
        "model raised an alarm (one class predicted, constant scores, not above the "
        "baseline) was not read as a comparison of designs."
    )
    if secondary:
        text += f" Secondary tests, reported without deciding anything: {'; '.join(secondary)}."
    effects = comparisons[0].effects
    if effects is not None:
        listed = [
            f"{what} (method: {effect.method})"
            for what, effect in (
                ("the paired accuracy difference on the pooled test images", effects.accuracy),
                ("the paired AUC difference", effects.roc_auc),
                ("the mean of the per-fold accuracy differences", effects.fold_mean_accuracy),
            )
            if effect is not None
        ]
        level = f"{100 * run.metrics.confidence_level:g} %"
        text += f" Effect sizes, each with its {level} interval: {'; '.join(listed)}."
    mix = size_mix(run)
    return [text + (" " + mix if mix else "")]


# --------------------------------------------------------------------------- software


def _software(run: Run) -> list[str]:
    info = run.runinfo
    versions = {str(k): str(v) for k, v in (info.get("versions") or {}).items()}
    version = versions.get("mpx_eval") or str(info.get("mpx_eval") or "(version not recorded)")
    revision = versions.get("mpx_eval_revision")
    text = f"The run used mpx_eval {version}" + (
        f" at code revision {code(revision)}"
        if revision
        else " (its code revision was not recorded)"
    )
    backend = str(info.get("backend") or "")
    libraries = [("Python", "python"), ("Keras", "keras")]
    if backend in versions:
        libraries.append((_BACKENDS.get(backend, backend), backend))
    libraries += [("NumPy", "numpy"), ("scikit-learn", "scikit-learn"), ("SciPy", "scipy")]
    libraries.append(("pandas", "pandas"))
    found = [f"{label} {versions[key]}" for label, key in libraries if key in versions]
    if found:
        text += ", with " + ", ".join(found[:-1]) + (" and " if len(found) > 1 else "") + found[-1]
    return [
        text + ".",
        f"The settings are in {code('config.toml')} and the command in {code('runinfo.json')}; "
        f"the numbers are in {code('metrics.json')}, the predictions in "
        f"{code('predictions.csv')} and the split plan in {code('splits.csv')}, all in the "
        "run folder.",
    ]


# --------------------------------------------------------------------------- the section


def _subsections(run: Run) -> list[tuple[str, str, list[str]]]:
    return [
        ("methods-data", "Data", _data(run)),
        ("methods-partitioning", "Partitioning", _partitioning(run)),
        ("methods-models", "Models", _models(run)),
        ("methods-training", "Training", _training(run)),
        ("methods-decision", "Decision rule and operating points", _decision(run)),
        ("methods-metrics", "Metrics and uncertainty", _metrics(run)),
        ("methods-comparison", "Comparison", _comparison(run)),
        ("methods-external", "External validation", external_methods(run, code)),
        ("methods-software", "Software", _software(run)),
    ]


def methods_section(run: Run) -> dict:
    """The context of ``_methods.html`` (the ``methods`` key): the subsections that have
    paragraphs (as :func:`parts`), the reporting checklist and what is left to the authors."""
    return {
        "title": "Methods",
        "note": (
            "Written by mpx_eval from the files of this run folder (also saved as "
            "methods.md beside this page). Check every sentence before using it."
        ),
        "subsections": [
            {
                "anchor": anchor,
                "title": title,
                "paragraphs": [parts(p) for p in paragraphs if p],
            }
            for anchor, title, paragraphs in _subsections(run)
            if paragraphs
        ],
        "checklist": checklist(run),
        "authors": list(FOR_THE_AUTHORS),
    }


# --------------------------------------------------------------------------- markdown

_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>|#])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def _md_text(text: str) -> str:
    """Plain text with Markdown's special characters escaped."""
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _md_code(text: str) -> str:
    """A code span that holds any text, backticks included."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_parts(pieces: list[dict]) -> str:
    return "".join(_md_code(p["text"]) if p["code"] else _md_text(p["text"]) for p in pieces)


def _md_where(where: list[dict]) -> str:
    return ", ".join(
        f"[{w['text']}](index.html{w['href']})" if w["href"] else _md_code(w["text"]) for w in where
    )


def methods_markdown(run: Run) -> str:
    """The methods section as Markdown: the run folder's ``methods.md``."""
    section = methods_section(run)
    lines = [f"# {section['title']}", "", f"_{_md_text(section['note'])}_", ""]
    for sub in section["subsections"]:
        lines += [f"## {sub['title']}", ""]
        for paragraph in sub["paragraphs"]:
            lines += [_md_parts(paragraph), ""]
    lines += [
        "## Reporting checklist",
        "",
        "| Item | Guidelines | What the run records | Where |",
        "| --- | --- | --- | --- |",
    ]
    for row in section["checklist"]:
        cells = (row["item"], row["guidelines"], row["recorded"])
        lines.append(
            "| " + " | ".join(_md_text(c) for c in cells) + f" | {_md_where(row['where'])} |"
        )
    lines += ["", "### To be written by the authors", ""]
    lines += [f"- {_md_text(item)}" for item in section["authors"]]
    return "\n".join(lines) + "\n"


__all__ = ["methods_markdown", "methods_section"]
