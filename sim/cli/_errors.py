"""The one error type the CLI turns into a one-line message and an exit code."""

from __future__ import annotations


class CliError(Exception):
    """A user error: printed as one line on stderr, exit code 2 unless told otherwise."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
