"""The commands behind the command line: ``run`` (:mod:`mpx_eval.commands.run`), ``splits``,
``splits --audit`` and what a finished run prints."""

from .. import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "split_command": ".splits",
        "audit_command": ".split_audit",
        "summary_lines": ".terminal",
        "print_summary": ".terminal",
    },
)
