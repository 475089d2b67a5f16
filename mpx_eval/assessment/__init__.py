"""What a run's numbers mean: the run-level aggregation into metrics.json, baselines, alarms,
the headline intervals, the verdicts and the departures from the blog's settings."""
