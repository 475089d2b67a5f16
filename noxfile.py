"""Sessions: ``nox -s tests`` (the default) and ``nox -s lint``.

Arguments after ``--`` go to pytest: ``nox -s tests -- -m slow`` runs the full-size runs
that the default session skips, ``nox -s tests -- -k audit`` a subset.
"""

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, integration and doctests on CPU; Ray and the browser check included."""
    session.install("-e", ".[run,test,ray]")
    session.run(
        "pytest",
        "--strict-markers",
        "--strict-config",
        *session.posargs,
        env={"MPLBACKEND": "Agg", "CUDA_VISIBLE_DEVICES": "-1"},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules, import order and complexity limits (see pyproject.toml)."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "mpx_eval", "tests", "benchmarks", "noxfile.py")
