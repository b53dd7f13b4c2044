"""The one error type users see: a sentence naming what is wrong and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class UserError(Exception):
    """An error caused by input, configuration or an outside service.

    ``message`` is one sentence that names the file, input or object at fault and what to
    do. ``file``/``line`` place an annotation on the offending file; ``details`` is optional
    Markdown for the job summary.
    """

    message: str
    file: Path | str | None = None
    line: int | None = None
    details: str | None = None

    def __str__(self) -> str:
        return self.message


class BuildError(UserError):
    """A recipe failed to build."""


class StorageError(UserError):
    """An object store refused, lost or mangled an object."""


class PublishError(UserError):
    """The registry repository refused a push or a pull request."""
