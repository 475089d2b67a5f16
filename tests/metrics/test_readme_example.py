"""The metrics example in the README runs as written."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADING = "## Using the metrics in your own project"


def example_code() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(HEADING) :]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match, f"no python code block after {HEADING!r} in README.md"
    return match.group(1)


def test_readme_metrics_example_runs(capsys):
    exec(compile(example_code(), "metrics-readme-example", "exec"), {"__name__": "__example__"})
    printed = capsys.readouterr().out
    assert "AUC" in printed
    assert "corrected t-test p =" in printed
