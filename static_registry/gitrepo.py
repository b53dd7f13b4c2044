"""git, run as a subprocess with credentials that never touch argv, config files or logs.

The token travels as an ``http.<url>.extraheader`` set through ``GIT_CONFIG_COUNT``/
``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` environment variables (git ≥ 2.31): not in the
command line (visible in ``ps``), not in ``.git/config`` (left behind in workspaces), and
scoped to the registry's host.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import UserError

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class GitError(Exception):
    def __init__(self, argv: Sequence[str], status: int, stderr: str) -> None:
        super().__init__(f"git {' '.join(argv)} exited with {status}: {stderr.strip()}")
        self.argv = list(argv)
        self.status = status
        self.stderr = stderr


def git_executable() -> str:
    found = shutil.which("git") or shutil.which("git", path=SAFE_PATH)
    if not found:
        raise UserError("git is not installed or not on PATH; install git.")
    return found


def auth_config(url: str, token: str) -> dict[str, str]:
    """Environment that makes git send ``token`` to ``url``'s host, and only there."""
    if not token:
        return {}
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return {}
    scope = f"{parts.scheme}://{parts.netloc}/"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {f"http.{scope}.extraheader": f"AUTHORIZATION: basic {basic}"}


def config_env(config: Mapping[str, str]) -> dict[str, str]:
    env = {"GIT_CONFIG_COUNT": str(len(config))}
    for i, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


@dataclass
class Git:
    """A git work tree plus the environment every git call in it runs with."""

    path: Path
    config: dict[str, str] = field(default_factory=dict)
    executable: str = field(default_factory=git_executable)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "INPUT_"))}
        # The runner mounts workspaces owned by another user; git refuses those without
        # safe.directory. Identity and prompts are pinned so nothing waits for a terminal.
        config = {"safe.directory": "*", "core.askPass": "", "credential.helper": "", **self.config}
        env.update(config_env(config))
        env.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_ASKPASS="/bin/false" if Path("/bin/false").exists() else "false",
            GIT_CONFIG_NOSYSTEM="1",
            LC_ALL="C",
        )
        home = env.get("HOME", "")
        if not home or not os.path.isdir(home):
            env["HOME"] = str(self.path)
        return env

    def run(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.executable, *args],
            cwd=self.path,
            env=self.env(),
            capture_output=True,
            text=True,
            input=stdin,
            check=False,
        )
        if check and proc.returncode != 0:
            raise GitError(args, proc.returncode, proc.stderr)
        return proc

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def rev(self, ref: str) -> str | None:
        proc = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return proc.stdout.strip() or None if proc.returncode == 0 else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.run("merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0

    def tree(self, ref: str) -> str:
        return self.out("rev-parse", f"{ref}^{{tree}}")
