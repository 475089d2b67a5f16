"""Facts about the machine a run uses: usable CPUs, bfloat16 support, library versions and
the code revision of mpx_eval itself. No Keras import."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from . import __version__

#: The distribution name of mpx_eval (pyproject.toml's ``[project] name``).
DISTRIBUTION = "mpx-eval"
#: How long ``git describe`` may take: it reads a few files, and a run must not wait on a
#: hung network file system to learn its own revision.
GIT_SECONDS = 5.0


def usable_cpus() -> int:
    """CPUs this process may use: the affinity mask, capped by a cgroup CPU quota if set.

    Containers often report the host's cores; using those as threads oversubscribes.
    """
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        count = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, count)


def cpu_has_bf16() -> bool:
    """True when the CPU has bfloat16 instructions (AVX-512 BF16 or AMX), read from Linux's
    /proc/cpuinfo; without them bfloat16 is emulated and slower than float32."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return bool({"avx512_bf16", "amx_bf16"} & set(line.split()))
    except OSError:
        pass
    return False


def code_revision(root: str | Path | None = None) -> str:
    """The revision of the mpx_eval code that runs: ``git describe --tags --always --dirty``
    when the package runs from a git checkout, else the installed distribution's version.

    ``root``: the folder that holds the ``mpx_eval`` package (by default the one this module
    was imported from). It is a checkout when it has a ``.git`` (a folder, or a file in a
    worktree); when git is missing, slow or refuses the folder, the version stands in.
    """
    root = Path(__file__).resolve().parent.parent if root is None else Path(root)
    if (root / ".git").exists():
        described = _git_describe(root)
        if described:
            return described
    return installed_version()


def _git_describe(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "describe", "--tags", "--always", "--dirty"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=GIT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # no git, or it did not answer in time
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and text else None


def installed_version() -> str:
    """The installed distribution's version, or the package's own when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return __version__


def versions() -> dict[str, str]:
    """Python, mpx_eval (its version and code revision) and the versions of the libraries
    that shape results."""
    from importlib.metadata import PackageNotFoundError, version

    found = {
        "python": platform.python_version(),
        "mpx_eval": __version__,
        "mpx_eval_revision": code_revision(),
    }
    for dist in ("keras", "tensorflow", "jax", "numpy", "scikit-learn", "scipy", "pandas"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return found
