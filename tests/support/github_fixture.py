"""Start/stop the GitHub test server (``tests/support/github_server.py``) and drive its admin API.

``tests/conftest.py`` imports :func:`github_server` as a fixture::

    from tests.support.github_fixture import github_server  # noqa: F401

A test then gets a started :class:`GitHubServer`; at teardown the server is stopped and the test fails
if any response the server produced did not match GitHub's OpenAPI description.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.openapi import OpenAPIMissing, require_openapi_json

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class GitHubServerError(RuntimeError):
    pass


class GitHubServer:
    """A running test server process, and a client for its ``/_admin/`` API."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.state_dir: Path | None = None
        self.log_path: Path | None = None

    # -- process ------------------------------------------------------------------------------
    def start(self, state_dir: Path) -> GitHubServer:
        """Start the server with its state (bare repositories, assets, log) in ``state_dir``."""
        openapi_json = require_openapi_json()
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.state_dir / "port"
        port_file.unlink(missing_ok=True)
        self.log_path = self.state_dir / "server.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.github_server",
                    "--state-dir",
                    str(self.state_dir / "state"),
                    "--port",
                    "0",
                    "--port-file",
                    str(port_file),
                    "--openapi",
                    str(openapi_json),
                ],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise GitHubServerError(f"github test server exited ({self.process.returncode}):\n{self.log()}")
            if port_file.is_file() and (text := port_file.read_text().strip()):
                self.port = int(text)
                if self._port_open() and self._healthy():
                    return self
            time.sleep(0.05)
        self.stop()
        raise GitHubServerError(f"github test server did not become ready in {START_TIMEOUT}s:\n{self.log()}")

    def _port_open(self) -> bool:
        assert self.port is not None
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def _healthy(self) -> bool:
        try:
            return bool(self.admin("GET", "/health").get("ok"))
        except (OSError, GitHubServerError):
            return False

    def stop(self) -> None:
        """Stop the process by its PID: SIGTERM, wait, SIGKILL if it does not exit."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

    def log(self) -> str:
        """The server's stdout/stderr so far."""
        if self.log_path is None or not self.log_path.is_file():
            return ""
        return self.log_path.read_text(errors="replace")

    # -- URLs ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``GITHUB_SERVER_URL``: ``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise GitHubServerError("github test server is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """``GITHUB_API_URL``: ``http://127.0.0.1:PORT/api/v3``."""
        return f"{self.url}/api/v3"

    @property
    def uploads_url(self) -> str:
        return f"{self.url}/api/uploads"

    def git_url(self, owner: str, repo: str) -> str:
        """Clone URL of a repository (``http://127.0.0.1:PORT/owner/repo.git``)."""
        return f"{self.url}/{owner}/{repo}.git"

    # -- admin API ----------------------------------------------------------------------------
    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call ``/_admin{path}``; returns the decoded JSON answer (raises on HTTP errors)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/_admin{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise GitHubServerError(f"admin {method} {path} -> {e.code}: {detail}") from None

    def create_repo(
        self,
        owner: str,
        name: str,
        *,
        private: bool = False,
        default_branch: str = "main",
        files: dict[str, str] | None = None,
        fork_of: str | None = None,
        description: str | None = None,
        owner_type: str = "User",
    ) -> dict[str, Any]:
        """Create a bare repository; ``files`` become an initial commit on ``default_branch``.

        ``fork_of="owner/name"`` makes a fork (a copy of that repository's branches).
        Returns the repository JSON (as ``GET /repos/{owner}/{repo}``; ``clone_url`` is the git URL).
        """
        spec: dict[str, Any] = {
            "owner": owner,
            "name": name,
            "private": private,
            "default_branch": default_branch,
            "files": files or {},
            "owner_type": owner_type,
            "description": description,
        }
        if fork_of:
            spec["fork_of"] = fork_of
            if default_branch == "main":
                spec.pop("default_branch")
        result: dict[str, Any] = self.admin("POST", "/repos", spec)
        return result

    def commit(
        self,
        owner: str,
        repo: str,
        branch: str,
        files: dict[str, str | None],
        message: str = "Update files",
        start: str | None = None,
    ) -> str:
        """Commit ``files`` (None deletes a file) on ``branch``; a new branch starts at ``start``
        (default: the default branch).  Returns the commit sha."""
        body = {"branch": branch, "files": files, "message": message, "from": start}
        return str(self.admin("POST", f"/repos/{owner}/{repo}/commits", body)["sha"])

    def branches(self, owner: str, repo: str) -> dict[str, str]:
        """Branch name -> commit sha."""
        result: dict[str, str] = self.admin("GET", f"/repos/{owner}/{repo}/branches")
        return result

    def add_token(
        self,
        token: str,
        login: str,
        permissions: dict[str, str] | None = None,
        *,
        reject_push: bool = False,
    ) -> None:
        """Register a token of user ``login``.

        ``permissions`` maps ``"owner/repo"`` (or ``"*"``) to ``pull``/``triage``/``push``/``maintain``/
        ``admin``.  A user is admin of repositories under its own login; public repositories are readable
        by everyone.
        """
        self.admin(
            "POST",
            "/tokens",
            {"token": token, "login": login, "permissions": permissions or {}, "reject_push": reject_push},
        )

    def reject_pushes(self, token: str, reject: bool = True) -> None:
        """Make git pushes authenticated with ``token`` fail with GitHub's 403 (or allow them again)."""
        self.admin("POST", "/reject-push", {"token": token, "reject": reject})

    def pulls(self, owner: str, repo: str, state: str = "all") -> list[dict[str, Any]]:
        """Pull requests of a repository (GitHub's full pull request JSON), oldest first."""
        result: list[dict[str, Any]] = self.admin("GET", f"/repos/{owner}/{repo}/pulls?state={state}")
        return result

    def pull(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", f"/repos/{owner}/{repo}/pulls/{number}")
        return result

    def merge(
        self, owner: str, repo: str, number: int, method: str = "merge", login: str | None = None
    ) -> dict[str, Any]:
        """Merge a pull request (``method``: ``merge`` commit, ``squash`` or ``fast-forward``).

        Returns ``{"sha": new base sha, "pull": pull request JSON}``."""
        result: dict[str, Any] = self.admin(
            "POST", f"/repos/{owner}/{repo}/pulls/{number}/merge", {"method": method, "login": login}
        )
        return result

    def releases(self, owner: str, repo: str) -> list[dict[str, Any]]:
        """All releases of a repository (drafts included)."""
        result: list[dict[str, Any]] = self.admin("GET", f"/repos/{owner}/{repo}/releases")
        return result

    def fail_next(self, path: str, status: int, count: int = 1, method: str | None = None) -> None:
        """Answer the next ``count`` requests to ``path`` (exact URL path, e.g. ``/api/v3/repos/o/r/pulls``;
        query ignored) with ``status`` (optionally only for ``method``)."""
        self.admin("POST", "/faults", {"path": path, "status": status, "count": count, "method": method})

    def schema_errors(self) -> list[dict[str, Any]]:
        """Responses that did not match GitHub's OpenAPI description (each was answered with a 500)."""
        result: list[dict[str, Any]] = self.admin("GET", "/schema-errors")
        return result

    def unimplemented(self) -> list[dict[str, Any]]:
        """Requests for endpoints the server does not implement (answered with GitHub's 404)."""
        result: list[dict[str, Any]] = self.admin("GET", "/unimplemented")
        return result

    def requests(self) -> list[dict[str, Any]]:
        """Access log: ``{"method", "path", "url", "status", "login"}`` per request (admin calls excluded)."""
        result: list[dict[str, Any]] = self.admin("GET", "/requests")
        return result

    def clear_requests(self) -> None:
        self.admin("DELETE", "/requests")

    def assert_no_schema_errors(self) -> None:
        errors = self.schema_errors()
        if errors:
            lines = [f"{e['method']} {e['path']} -> {e['status']}: {'; '.join(e['errors'])}" for e in errors]
            raise AssertionError(
                "the GitHub test server produced responses that do not match GitHub's OpenAPI description:\n"
                + "\n".join(lines)
            )


@pytest.fixture
def github_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubServer]:
    """A started GitHub test server; stopped at teardown, failing the test on schema errors."""
    try:
        require_openapi_json()
    except OpenAPIMissing as e:
        pytest.fail(str(e), pytrace=False)
    server = GitHubServer().start(tmp_path_factory.mktemp("github"))
    try:
        yield server
        errors = server.schema_errors()
    finally:
        server.stop()
    if errors:
        lines = [f"{e['method']} {e['path']} -> {e['status']}: {'; '.join(e['errors'])}" for e in errors]
        pytest.fail(
            "the GitHub test server produced responses that do not match GitHub's OpenAPI description:\n"
            + "\n".join(lines),
            pytrace=False,
        )
