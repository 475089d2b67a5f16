"""Calling users' model code: its ``sys.exit()`` or ``KeyboardInterrupt`` is that model's
error, while a real Ctrl-C still stops the whole run (exit 130).

A real Ctrl-C is told apart by the SIGINT handler :func:`watching_ctrl_c` installs: it notes
the signal before raising ``KeyboardInterrupt`` as Python's own handler does.
"""

from __future__ import annotations

import importlib
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from ..errors import MpxEvalError

_pressed = False


def _on_sigint(signum, frame) -> None:
    global _pressed
    _pressed = True
    raise KeyboardInterrupt


@contextmanager
def watching_ctrl_c() -> Iterator[None]:
    """Note real Ctrl-C presses for the ``with`` block (main thread, default handler only:
    an ignored SIGINT stays ignored)."""
    global _pressed
    _pressed = False
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


#: What user code may raise that ``except Exception`` does not catch.
ESCAPES = (SystemExit, KeyboardInterrupt)


def is_users(exc: BaseException) -> bool:
    """True for an exception of the model's code: any ``Exception``, ``SystemExit``, and a
    ``KeyboardInterrupt`` that no Ctrl-C caused."""
    if isinstance(exc, KeyboardInterrupt):
        return not _pressed
    return isinstance(exc, (Exception, SystemExit))


def describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"the model's code called sys.exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "the model's code raised KeyboardInterrupt (no Ctrl-C was pressed)"
    return f"{type(exc).__name__}: {exc}"


def import_module(name: str, what: str) -> ModuleType:
    """Import the user's module ``name``; what its import raises (an error, ``sys.exit()``, a
    ``KeyboardInterrupt`` no Ctrl-C caused) becomes one line that starts with ``what``."""
    try:
        return importlib.import_module(name)
    except BaseException as exc:  # any import-time failure of user code is the user's to fix
        if not is_users(exc):
            raise
        raise MpxEvalError(f"{what}: cannot import {name} ({describe(exc)})") from None
