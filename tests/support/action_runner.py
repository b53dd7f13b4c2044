"""Run entrypoint.py the way the GitHub runner runs a container action.

Environment, workspace folder, ``event.json``, output and summary files: the same names
and contents the runner gives (shared/notes/reference-actions.md §4), so tests exercise
the action's real input and output paths.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "container-repo"
GIT_ID = ["-c", "user.name=Container Dev", "-c", "user.email=dev@example.invalid"]


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}
    return subprocess.run(
        ["git", "-C", str(repo), *GIT_ID, *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def apptainer_bin() -> Path:
    found = shutil.which("apptainer")
    if found:
        return Path(found).parent
    local = ROOT / ".cache" / "apptainer" / "usr" / "bin"
    if (local / "apptainer").exists():
        return local
    raise RuntimeError("apptainer is not installed: run scripts/setup (or scripts/install-apptainer)")


def local_registry(path: Path) -> Path:
    """A registry repository as a local git repository with one commit on ``main``."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("---\nlayout: home\n---\n# Registry\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "registry")
    return path


@dataclass
class ContainerRepo:
    """A container repository checkout whose commits make push events."""

    path: Path

    @classmethod
    def create(cls, path: Path, files: dict[str, str] | None = None) -> ContainerRepo:
        shutil.copytree(EXAMPLE, path)
        for name, text in (files or {}).items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)
        git(path, "init", "-q", "-b", "main")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "recipes")
        return cls(path)

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def commit(self, files: dict[str, str | None], message: str = "change") -> tuple[str, str]:
        """Apply ``files`` (None deletes) and commit; returns (before, after)."""
        before = self.head()
        for name, text in files.items():
            target = self.path / name
            if text is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", message)
        return before, self.head()


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    @property
    def log(self) -> str:
        return self.stdout + self.stderr

    def images(self) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = json.loads(self.outputs.get("images", "[]"))
        return value

    def errors(self) -> list[str]:
        """``::error`` commands, their message unescaped as the runner shows it."""
        found = re.findall(r"^::error[^\n]*$", self.stdout, re.M)
        return [e.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%") for e in found]


def parse_output_file(text: str) -> dict[str, str]:
    """Read ``$GITHUB_OUTPUT`` as the runner does (``name=value`` and heredoc entries)."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            j = lines.index(delimiter, i + 1)
            out[name] = "\n".join(lines[i + 1 : j])
            i = j + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
            i += 1
        else:
            i += 1
    return out


@dataclass
class ActionRunner:
    """Prepares the runner's folders once; each ``run`` is one step execution."""

    base: Path
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    repository: str = "myorg/hello"
    extra_env: dict[str, str] = field(default_factory=dict)
    count: int = 0

    def run(
        self,
        workspace: Path,
        inputs: dict[str, str],
        event_name: str = "push",
        event: dict[str, Any] | None = None,
        sha: str = "",
        timeout: float = 600,
        background: bool = False,
    ) -> Result | subprocess.Popen[str]:
        self.count += 1
        step = self.base / f"step{self.count}"
        for sub in ("file_commands", "workflow", "home", "runner_temp"):
            (step / sub).mkdir(parents=True, exist_ok=True)
        (step / "workflow" / "event.json").write_text(json.dumps(event or {}))
        output = step / "file_commands" / "set_output"
        summary = step / "file_commands" / "step_summary"
        output.touch()
        summary.touch()
        env = {
            # What the runner passes (-e NAME for each); PATH as a job would leave it.
            "PATH": f"utter-nonsense:{apptainer_bin()}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(step / "home"),
            "LD_LIBRARY_PATH": "/nonexistent/lib",
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(step / "workflow" / "event.json"),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_REPOSITORY_OWNER": self.repository.split("/")[0],
            "GITHUB_SHA": sha,
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_RUN_ID": str(1000 + self.count),
            "GITHUB_API_URL": self.api_url,
            "GITHUB_SERVER_URL": self.server_url,
            "GITHUB_ACTOR": "container-dev",
            "GITHUB_ACTOR_ID": "4242",
            "RUNNER_TEMP": str(step / "runner_temp"),
            "RUNNER_OS": "Linux",
            **self.extra_env,
        }
        for name, value in inputs.items():
            env[f"INPUT_{name.upper()}"] = value
        argv = [sys.executable, str(ROOT / "entrypoint.py")]
        if background:
            proc = subprocess.Popen(
                argv, cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            proc.output_file = output  # type: ignore[attr-defined]
            proc.summary_file = summary  # type: ignore[attr-defined]
            return proc
        done = subprocess.run(argv, cwd=workspace, env=env, capture_output=True, text=True, timeout=timeout)
        return Result(
            done.returncode, done.stdout, done.stderr, parse_output_file(output.read_text()), summary.read_text()
        )


def finish(proc: subprocess.Popen[str], timeout: float = 600) -> Result:
    stdout, stderr = proc.communicate(timeout=timeout)
    return Result(
        proc.returncode,
        stdout,
        stderr,
        parse_output_file(proc.output_file.read_text()),  # type: ignore[attr-defined]
        proc.summary_file.read_text(),  # type: ignore[attr-defined]
    )
