"""What can go wrong, as one family of exceptions that carry their context, and their exit codes.

Each message is a paragraph for a person: what happened, and what to do about it. Tasks turn a
`WorkshopError` into `invoke.Exit(message, code)` through `app.exits.reported()`, so nobody sees a
traceback. The exit codes, as docs/reference.md gives them:

    0    done: every step built, ran and was logged; every check passed
    1    a check failed: a build failed, an image printed the wrong thing, a verify check failed
    2    a file or folder can't be used: the size log, history or sweep table is missing,
         unreadable or incomplete, or an output location can't be written
    3    no Docker Engine answered, or it stopped answering
    4    something took longer than its bound (engine_timeout, build_timeout, run_timeout)
    5    the registry (the setting workshop.registry) can't be reached or refused a push or a read
    64   a setting or an argument can't be used (refused before anything runs)
    130  interrupted, by Ctrl-C or SIGTERM
"""

from __future__ import annotations

__all__ = [
    "BadInput",
    "BaseUnavailable",
    "DataFileError",
    "EngineRefused",
    "EngineUnavailable",
    "RegistryError",
    "SizeLogError",
    "StepFailed",
    "TimedOut",
    "WorkshopError",
]

INTERRUPTED = 130


class WorkshopError(Exception):
    """Base of every error this project reports to a person."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class EngineUnavailable(WorkshopError):
    """No Docker Engine answered, or it stopped answering."""

    exit_code = 3


class EngineRefused(WorkshopError):
    """The engine answered, and said no."""


class TimedOut(WorkshopError):
    """An engine call, a build or an app's run took longer than its bound."""

    exit_code = 4


class RegistryError(WorkshopError):
    """The registry can't be reached, or refused a push or a read."""

    exit_code = 5


class StepFailed(WorkshopError):
    """A step's build or run failed; keeps the failing instruction and the output's tail."""

    def __init__(
        self, message: str, *, instruction: str = "", log_tail: tuple[str, ...] = ()
    ) -> None:
        details = [message]
        if instruction:
            details.append(f"Failing instruction: {instruction}")
        if log_tail:
            details.append(
                "Last lines of its output:\n" + "\n".join(f"  {line}" for line in log_tail)
            )
        super().__init__("\n".join(details))
        self.instruction = instruction
        self.log_tail = log_tail


class BaseUnavailable(WorkshopError):
    """A base image is neither present, nor pullable, nor buildable here."""


class DataFileError(WorkshopError):
    """A file or folder this project reads or writes can't be used; it is left as it was."""

    exit_code = 2


# The size log's errors are data file errors; the name stays for the readers that catch it.
SizeLogError = DataFileError


class BadInput(WorkshopError):
    """A setting or argument that can't be used, refused before anything runs."""

    exit_code = 64
