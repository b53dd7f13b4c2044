"""The GitHub Actions runner's side channels: log groups, annotations, outputs, summary.

Outside the runner (the CLI on a laptop or in GitLab CI) the same calls print plain
headings and ``error:`` lines, so the pipeline never asks where it runs.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO


def escape_data(value: str) -> str:
    """Workflow-command message escaping (actions/runner ActionCommand.cs)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str | int | None) -> str:
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items() if v not in (None, ""))
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


def heredoc(name: str, value: str) -> str:
    """One ``$GITHUB_OUTPUT`` entry; the delimiter is random so no value can end it early."""
    while True:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in value:
            break
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


@dataclass
class Runner:
    """Where messages, outputs and the summary go."""

    github: bool = False
    """True inside GitHub Actions: speak in workflow commands and file commands."""
    log: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    output_file: Path | None = None
    summary_file: Path | None = None
    workspace: Path | None = None
    outputs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls) -> Runner:
        env = os.environ
        github = env.get("GITHUB_ACTIONS") == "true"
        output = env.get("GITHUB_OUTPUT")
        summary = env.get("GITHUB_STEP_SUMMARY")
        workspace = env.get("GITHUB_WORKSPACE")
        return cls(
            github=github,
            output_file=Path(output) if github and output else None,
            summary_file=Path(summary) if github and summary else None,
            workspace=Path(workspace) if workspace else None,
        )

    def info(self, message: str) -> None:
        self.log.write(message + "\n")
        self.log.flush()

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.github:
            self.info(f"::group::{escape_data(title)}")
        else:
            self.info(f"── {title} ──")
        try:
            yield
        finally:
            if self.github:
                self.info("::endgroup::")

    def _relative(self, file: Path | str | None) -> str | None:
        if file is None:
            return None
        path = Path(file)
        if self.workspace is not None and path.is_absolute():
            try:
                return path.relative_to(self.workspace).as_posix()
            except ValueError:
                pass
        return path.as_posix()

    def annotate(
        self,
        level: str,
        message: str,
        file: Path | str | None = None,
        line: int | None = None,
        title: str | None = None,
    ) -> None:
        if self.github:
            self.info(workflow_command(level, message, file=self._relative(file), line=line, title=title))
        else:
            where = self._relative(file)
            prefix = f"{where}:{line}: " if where and line and not message.startswith(where) else ""
            self.err.write(f"{level}: {prefix}{message}\n")
            self.err.flush()

    def error(
        self, message: str, file: Path | str | None = None, line: int | None = None, title: str | None = None
    ) -> None:
        self.annotate("error", message, file, line, title)

    def warning(self, message: str, file: Path | str | None = None, line: int | None = None) -> None:
        self.annotate("warning", message, file, line)

    def set_output(self, name: str, value: str) -> None:
        self.outputs[name] = value
        if self.output_file is not None:
            with self.output_file.open("a", encoding="utf-8") as f:
                f.write(heredoc(name, value))

    def summary(self, markdown: str) -> None:
        if self.summary_file is not None:
            with self.summary_file.open("a", encoding="utf-8") as f:
                f.write(markdown.rstrip("\n") + "\n")
