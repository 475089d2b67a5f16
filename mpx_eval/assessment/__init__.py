"""What a run's numbers mean: the run-level aggregation into metrics.json (its one writer) and
its typed layout (its one reader), baselines, alarms, the headline intervals, the verdicts and
the departures from the blog's settings."""

from .. import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "aggregate_run": ".aggregate",
        "read_sources": ".aggregate",
        "current_metrics": ".aggregate",
        "RunMetrics": ".layout",
        "read_metrics": ".layout",
        "ComparisonVerdict": ".verdicts",
        "Outcome": ".verdicts",
        "decide": ".verdicts",
        "decide_all": ".verdicts",
    },
)
