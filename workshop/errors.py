"""What can go wrong, as one family of exceptions that carry their context.

Each message is a paragraph for a person: what happened, and what to do about it. Tasks turn a
`WorkshopError` into `invoke.Exit(message, code)`, so nobody sees a traceback.
"""

from __future__ import annotations

__all__ = [
    "BadInput",
    "BaseUnavailable",
    "EngineRefused",
    "EngineUnavailable",
    "SizeLogError",
    "StepFailed",
    "WorkshopError",
]


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


class SizeLogError(WorkshopError):
    """The size log can't be read or written; it is left as it was."""

    exit_code = 2


class BadInput(WorkshopError):
    """A setting or argument that can't be used, refused before anything runs."""

    exit_code = 2
