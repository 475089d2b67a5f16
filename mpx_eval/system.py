"""Facts about the machine a run uses: usable CPUs, bfloat16 support and library versions.
No Keras import."""

from __future__ import annotations

import os
import platform

from . import __version__


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


def versions() -> dict[str, str]:
    """Python, mpx_eval and the versions of the libraries that shape results."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version(), "mpx_eval": __version__}
    for dist in ("keras", "tensorflow", "jax", "numpy", "scikit-learn", "scipy", "pandas"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return found
