"""The patient-group pattern applied to file names under a time limit, so that a pattern that
backtracks catastrophically stops with a message instead of running for hours.

Python's ``re`` has no timeout and holds the interpreter while it matches, so a thread cannot
be stopped, and a signal alarm works only in the main thread. Checking the pattern itself
for nested repetition would refuse some safe patterns and miss slow ones (``(a|a)*``, or
``.*.*.*.*`` on long names, which is slow without nesting). So the names are matched in a
child interpreter (``python -I -S``, started in about 20 ms) that writes one answer per
name; past the limit the child is stopped, and the name it stopped at is named.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence

from ..errors import MpxEvalError

#: Seconds the child may take to match every file name. An ordinary pattern matches 100,000
#: names in well under a second (start-up included); ``'^(a+)+$'`` on one name of 30 a's
#: and a digit takes minutes.
PATTERN_SECONDS = 5.0

# ``re`` checks for signals while it matches: on SIGTERM the child exits cleanly, and the
# answers it buffered (one line per name) are flushed, which tells where it stopped
_MATCHER = """
import json, re, signal, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
job = json.load(sys.stdin)
regex = re.compile(job["pattern"])
for stem in job["stems"]:
    found = regex.search(stem)
    sys.stdout.write(json.dumps(found.group(1) if found else None) + "\\n")
"""


def first_groups(pattern: str, stems: Sequence[str], *, what: str) -> list[str | None]:
    """The first capture group of ``pattern`` searched in each of ``stems`` (None where it
    does not match or the group takes no part), computed within ``PATTERN_SECONDS`` in all.

    Raises MpxEvalError naming the option (``what``), the name matching stopped at and how
    to write the pattern when the limit is reached.
    """
    job = json.dumps({"pattern": pattern, "stems": list(stems)})
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _MATCHER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        out, err = child.communicate(job, timeout=PATTERN_SECONDS)
    except subprocess.TimeoutExpired:
        out = _stop(child)
        done = out.count("\n")
        stuck = stems[done] if done < len(stems) else ""
        raise MpxEvalError(
            f"{what} {pattern!r} took over {PATTERN_SECONDS:g} s on the file names and was stopped "
            f"(at {stuck!r}, name {done + 1} of {len(stems)}): nested repetition such as "
            "'(a+)+' or '(.*)*' makes a regular expression take exponential time on names it "
            "nearly matches; write it without nested repetition, e.g. '^([^_]+)_'"
        ) from None
    if child.returncode != 0:
        last = err.strip().splitlines()[-1] if err.strip() else f"exit {child.returncode}"
        raise MpxEvalError(f"{what} {pattern!r} could not be applied to the file names: {last}")
    return [json.loads(line) for line in out.splitlines()]


def _stop(child: subprocess.Popen) -> str:
    """Stop the child (SIGTERM, then SIGKILL if it does not exit in a second); return what
    it wrote."""
    child.terminate()
    try:
        out, _ = child.communicate(timeout=1.0)
    except subprocess.TimeoutExpired:
        child.kill()
        out, _ = child.communicate()
    return out
