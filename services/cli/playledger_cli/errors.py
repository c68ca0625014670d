"""The CLI's one error: a message for the terminal and the exit code it ends with."""

from __future__ import annotations

from typing import IO

import click

from playledger_cli.exitcodes import ExitCode


class CliError(click.ClickException):
    """Shown as one ``playledger: …`` line on stderr; the process exits with ``code``."""

    def __init__(self, message: str, exit_code: int = ExitCode.ERROR) -> None:
        super().__init__(message)
        self.code = exit_code
        self.status: int | None = None
        """The HTTP status when the error is the API's answer."""

    def show(self, file: IO[str] | None = None) -> None:
        click.echo(f"playledger: {self.format_message()}", err=file is None, file=file)


class LostAnswerError(CliError):
    """The request was sent but its answer never came: it may have taken effect."""
