"""The reporting checklist of the methods section: the items of TRIPOD+AI, CLAIM and STARD-AI
that a run folder can fill, where the run records each, and the items left to the authors.

Only CLAIM's item numbers are given (7 data sources, 20 data partitions, 25–26 training and
the choice of the final model, 28 metrics); the other items are named by their topic, since
their numbers differ between versions of the guidelines.
"""

from __future__ import annotations

from ..run import Run


def _where(*places: str) -> list[dict]:
    """Report anchors (``#overview``) as links, run files as names."""
    return [{"text": p, "href": p if p.startswith("#") else None} for p in places]


def checklist(run: Run) -> list[dict]:
    """The reporting items a run can fill, each with the guidelines that ask for it, what
    the run records for it and where: report anchors and run files."""
    rows = [
        ("Data sources", "TRIPOD+AI, CLAIM 7, STARD-AI",
         "data folder (name only), classes, images per class, fingerprint of the files; "
         "demo data said so", ("#methods-data", "#overview", "runinfo.json")),
        ("Data preprocessing and quality checks", "TRIPOD+AI, CLAIM",
         "decoding and resizing, files left out, identical and near-duplicate files",
         ("#methods-data", "#audit", "runinfo.json", "audit.json")),
        ("Sample size", "TRIPOD+AI, CLAIM, STARD-AI",
         "images, split groups and image families per class (how the size was arrived at "
         "is for the authors)", ("#overview", "runinfo.json")),
        ("Data partitions", "CLAIM 20",
         "how images were assigned to folds, the parts' sizes, stratification, seeds",
         ("#methods-partitioning", "#overview", "config.toml", "splits.csv")),
        ("Level at which partitions are disjoint", "CLAIM",
         "patients and image families never on both sides of a cv split; the split audit",
         ("#audit", "#families", "audit.json", "splits.csv")),
        ("Model description", "TRIPOD+AI, CLAIM",
         "architecture, input size, layers and parameter counts",
         ("#methods-models", "#comparison", "models.json")),
        ("Training and selection of the final model", "TRIPOD+AI, CLAIM 25–26",
         "optimiser, learning rate, batch size, epochs, seeds; the checkpoint rule read on "
         "inner validation data only",
         ("#methods-training", "#models", "config.toml", "metrics.json", "history.csv")),
        ("Model output and decision threshold", "TRIPOD+AI, STARD-AI",
         "class probabilities; the decision rule; operating points and where their "
         "thresholds were chosen", ("#methods-decision", "#verdict", "metrics.json")),
        ("Performance metrics", "TRIPOD+AI, CLAIM 28, STARD-AI",
         "metrics pooled over the test folds, per fold and per class, against the "
         "majority-class baseline", ("#headline", "#models", "metrics.json", "predictions.csv")),
        ("Uncertainty of the estimates", "TRIPOD+AI, CLAIM, STARD-AI",
         "confidence intervals with their level and methods",
         ("#methods-metrics", "#headline", "metrics.json")),
    ]  # fmt: skip
    if len(run.names()) > 1:
        rows.append(
            ("Comparison of models", "TRIPOD+AI, CLAIM",
             "the primary test declared in advance, secondary tests, effect sizes",
             ("#methods-comparison", "#comparison", "metrics.json"))
        )  # fmt: skip
    if run.metrics.external is not None:
        rows.append(
            ("External validation", "TRIPOD+AI, CLAIM",
             "the external sets, their copies of training images (left out or kept), the "
             "figures per fold model, of the ensemble and of the seed-split model, the gap "
             "to the internal figures", ("#methods-external", "#external", "external.json",
                                         "external_predictions.csv", "metrics.json"))
        )  # fmt: skip
    rows += [
        ("Software and code availability", "TRIPOD+AI, CLAIM",
         "mpx_eval version and code revision, library versions, settings and command",
         ("#methods-software", "#reproduce", "runinfo.json", "config.toml")),
        ("Computing environment", "CLAIM",
         "backend, device, precision, engine and training times", ("#overview", "runinfo.json")),
    ]  # fmt: skip
    return [
        {"item": item, "guidelines": refs, "recorded": recorded, "where": _where(*places)}
        for item, refs, recorded, places in rows
    ]


#: Reporting items no run folder can fill: the authors write them.
FOR_THE_AUTHORS = (
    "Ethics approval, consent, and permission to use the images",
    "How and where the images were collected: setting, dates, devices, eligibility of the "
    "participants",
    "Participant characteristics beyond image counts (age, sex, skin type, stage of disease), "
    "overall and per partition",
    "The reference standard: how each label was established, by whom, and how reliably",
    "How missing data were handled, beyond the files left out",
    "How the sample size was arrived at",
    "Intended use, clinical setting and target population",
    "External validation on data from another source, when the run had none (--external)",
    "Performance across subgroups of participants (fairness)",
    "Funding, conflicts of interest, protocol, registration and data availability",
)


__all__ = ["FOR_THE_AUTHORS", "checklist"]
