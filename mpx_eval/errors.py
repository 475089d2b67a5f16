"""The package's own error type: what the CLI turns into one line on stderr and an exit code."""


class MpxEvalError(Exception):
    """A problem the user can fix (bad input, bad option, unusable folder).

    ``exit_code`` is 2 for usage and data errors, 1 for internal failures.
    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
