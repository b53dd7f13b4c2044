"""A GitHub (Enterprise Server style) test server: REST API, uploads, git smart HTTP, release downloads.

Run it as ``python -m tests.support.github_server --state-dir DIR [--port 0] [--port-file FILE]``
(from the repository root) or as a script.  URL layout, as on GitHub Enterprise Server:

* ``/api/v3/...``                          REST API (``GITHUB_API_URL=http://127.0.0.1:PORT/api/v3``)
* ``/api/uploads/repos/...``               release asset uploads (the ``upload_url`` of releases)
* ``/<owner>/<repo>.git/...``              git smart HTTP (``git http-backend`` as CGI)
* ``/<owner>/<repo>/releases/download/<tag>/<name>``   release asset downloads (``browser_download_url``)
* ``/_admin/...``                          test control API (not GitHub's; see ``tests/support/github_fixture.py``)

Every JSON body sent under ``/api/`` is validated against GitHub's OpenAPI description
(``tests/support/openapi.py``); a body that does not validate is answered with a 500 instead and recorded
(``GET /_admin/schema-errors``).  Requests for endpoints not implemented here get GitHub's 404 and are
recorded (``GET /_admin/unimplemented``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode

if __package__ in (None, ""):  # run as a script: make ``tests.support`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.openapi import OpenAPI

MAX_ASSET_SIZE = 2 * 1024**3  # GitHub: "Each file included in a release must be under 2 GiB"
MAX_JSON_BODY = 10 * 1024**2
CHUNK = 1024 * 1024
LEVELS = {"pull": 1, "triage": 2, "push": 3, "maintain": 4, "admin": 5}
REST_DOCS = "https://docs.github.com/rest"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "GitHub",
    "GIT_AUTHOR_EMAIL": "noreply@github.com",
    "GIT_COMMITTER_NAME": "GitHub",
    "GIT_COMMITTER_EMAIL": "noreply@github.com",
}

JSON = Any


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pull_label(pull: Pull) -> str:
    """``owner:branch`` of a pull request's head."""
    return f"{pull.head_repo.split('/')[0]}:{pull.head_ref}"


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


class ApiError(Exception):
    """Abort the request with a GitHub-shaped JSON error."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


class GitError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# state
# ---------------------------------------------------------------------------------------------
@dataclass
class Token:
    token: str
    login: str
    permissions: dict[str, str]  # "owner/repo" or "*" -> pull/triage/push/maintain/admin
    reject_push: bool = False


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    private: bool
    default_branch: str
    path: Path
    created_at: str
    description: str | None = None
    fork_of: str | None = None
    next_number: int = 1
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Pull:
    id: int
    number: int
    repo: str  # base repository full name
    head_repo: str  # head repository full name
    head_ref: str
    base_ref: str
    title: str
    body: str | None
    user: str
    draft: bool
    maintainer_can_modify: bool
    created_at: str
    updated_at: str
    created_seq: int
    updated_seq: int
    state: str = "open"
    closed_at: str | None = None
    merged_at: str | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    frozen: dict[str, Any] | None = None  # git facts fixed when the pull request was closed


@dataclass
class Asset:
    id: int
    release_id: int
    name: str
    label: str | None
    content_type: str
    size: int
    digest: str
    path: Path
    uploader: str
    created_at: str
    updated_at: str
    download_count: int = 0


@dataclass
class Release:
    id: int
    repo: str
    tag_name: str
    target_commitish: str
    name: str | None
    body: str | None
    draft: bool
    prerelease: bool
    author: str
    created_at: str
    published_at: str | None
    assets: list[Asset] = field(default_factory=list)


@dataclass
class Fault:
    path: str
    status: int
    count: int
    method: str | None = None
    message: str = "Server Error"


class State:
    """Everything the server knows; bare git repositories live below ``state_dir/repos``."""

    def __init__(self, state_dir: Path, openapi: OpenAPI) -> None:
        self.dir = state_dir
        self.repos_dir = state_dir / "repos"
        self.assets_dir = state_dir / "assets"
        self.repos_dir.mkdir(parents=True, exist_ok=True)
        self.assets_dir.mkdir(parents=True, exist_ok=True)
        self.openapi = openapi
        self.lock = threading.RLock()
        self.ids = itertools.count(1000)
        self.seq = itertools.count(1)
        self.users: dict[str, dict[str, Any]] = {}
        self.repos: dict[str, Repo] = {}
        self.tokens: dict[str, Token] = {}
        self.pulls: dict[str, list[Pull]] = {}
        self.releases: dict[int, Release] = {}
        self.assets: dict[int, Asset] = {}
        self.faults: list[Fault] = []
        self.schema_errors: list[dict[str, Any]] = []
        self.unimplemented: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.base_url = ""

    # -- users, tokens, permissions -----------------------------------------------------------
    def user(self, login: str, kind: str | None = None) -> dict[str, Any]:
        with self.lock:
            if login not in self.users:
                self.users[login] = {"id": next(self.ids), "type": kind or "User", "created_at": now_iso()}
            elif kind:
                self.users[login]["type"] = kind
            return self.users[login]

    def level(self, token: Token | None, repo: Repo) -> int:
        """Permission level of a token on a repository (0: cannot see it)."""
        level = 0
        if token is not None:
            named = token.permissions.get(repo.full_name) or token.permissions.get("*")
            level = LEVELS[named] if named else 0
            if token.login == repo.owner:  # users administer their own repositories
                level = LEVELS["admin"]
        if not repo.private:
            level = max(level, LEVELS["pull"])
        return level

    # -- git ----------------------------------------------------------------------------------
    def git_run(
        self,
        repo: Repo | Path,
        *args: str,
        stdin_data: bytes | None = None,
        ok: tuple[int, ...] = (0,),
        env: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """Run git in a repository (with a clean environment); returns (exit code, stdout)."""
        path = repo.path if isinstance(repo, Repo) else repo
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.dir),
            "GIT_CONFIG_NOSYSTEM": "1",
            **GIT_IDENTITY,
            **(env or {}),
        }
        proc = subprocess.run(
            ["git", "-C", str(path), *args], check=False, input=stdin_data, capture_output=True, env=full_env
        )
        if proc.returncode not in ok:
            raise GitError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
        return proc.returncode, proc.stdout.decode(errors="surrogateescape")

    def git(
        self,
        repo: Repo | Path,
        *args: str,
        stdin_data: bytes | None = None,
        ok: tuple[int, ...] = (0,),
        env: dict[str, str] | None = None,
    ) -> str:
        return self.git_run(repo, *args, stdin_data=stdin_data, ok=ok, env=env)[1]

    def branches(self, repo: Repo) -> dict[str, str]:
        out = self.git(repo, "for-each-ref", "--format=%(objectname) %(refname:strip=2)", "refs/heads/")
        return {name: sha for sha, name in (line.split(" ", 1) for line in out.splitlines())}

    def resolve(self, repo: Repo, rev: str) -> str | None:
        out = self.git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", ok=(0, 1, 128))
        return out.strip() or None

    def commit_files(
        self,
        repo: Repo,
        branch: str,
        files: dict[str, str | None],
        message: str,
        start: str | None = None,
    ) -> str:
        """Commit files (None deletes) on top of ``branch`` (or ``start`` when the branch is new)."""
        with self.lock:
            parent = self.resolve(repo, f"refs/heads/{branch}") or (self.resolve(repo, start) if start else None)
            with tempfile.TemporaryDirectory(dir=self.dir) as tmp:
                index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
                if parent:
                    self.git(repo, "read-tree", parent, env=index)
                for name, content in files.items():
                    if content is None:
                        removal = f"0 {'0' * 40}\t{name}\n".encode()
                        self.git(repo, "update-index", "--index-info", stdin_data=removal, env=index)
                        continue
                    blob = self.git(repo, "hash-object", "-w", "--stdin", stdin_data=content.encode()).strip()
                    self.git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}", env=index)
                tree = self.git(repo, "write-tree", env=index).strip()
            parents = ["-p", parent] if parent else []
            sha = self.git(repo, "commit-tree", tree, *parents, "-m", message).strip()
            self.git(repo, "update-ref", f"refs/heads/{branch}", sha)
            return sha

    # -- repositories -------------------------------------------------------------------------
    def create_repo(self, spec: dict[str, Any]) -> Repo:
        owner, name = spec["owner"], spec["name"]
        with self.lock:
            full = f"{owner}/{name}"
            if full in self.repos:
                raise ApiError(422, f"repository {full} exists")
            self.user(owner, spec.get("owner_type"))
            path = self.repos_dir / owner / f"{name}.git"
            fork_of = spec.get("fork_of")
            parent = self.repos.get(fork_of) if fork_of else None
            if fork_of and parent is None:
                raise ApiError(422, f"fork_of: no repository {fork_of}")
            path.parent.mkdir(parents=True, exist_ok=True)
            if parent is not None:
                subprocess.run(["git", "clone", "-q", "--bare", str(parent.path), str(path)], check=True)
                self.git(path, "remote", "remove", "origin", ok=(0, 2))
                # the parent sees the fork's objects, as GitHub's fork networks share storage
                alternates = parent.path / "objects/info/alternates"
                with alternates.open("a") as fh:
                    fh.write(f"{path / 'objects'}\n")
            default = spec.get("default_branch") or (parent.default_branch if parent else "main")
            if parent is None:
                subprocess.run(["git", "init", "-q", "--bare", "-b", default, str(path)], check=True)
            self.git(path, "symbolic-ref", "HEAD", f"refs/heads/{default}")
            self.git(path, "config", "http.receivepack", "true")
            repo = Repo(
                id=next(self.ids),
                owner=owner,
                name=name,
                private=bool(spec.get("private", False)),
                default_branch=default,
                path=path,
                created_at=now_iso(),
                description=spec.get("description"),
                fork_of=parent.full_name if parent else None,
            )
            self.repos[full] = repo
            self.pulls[full] = []
            files = spec.get("files")
            if files:
                self.commit_files(repo, default, files, spec.get("message", "Initial commit"))
            return repo

    # -- pull requests ------------------------------------------------------------------------
    def pull_git(self, pull: Pull, full: bool) -> dict[str, Any]:
        """Git facts of a pull request (shas; with ``full`` also merge state and diff stats)."""
        if pull.frozen is not None:
            return pull.frozen
        base = self.repos[pull.repo]
        head_repo = self.repos.get(pull.head_repo)
        base_sha = self.branches(base).get(pull.base_ref, "")
        head_sha = (self.branches(head_repo).get(pull.head_ref) if head_repo else None) or ""
        facts: dict[str, Any] = {
            "base_sha": base_sha,
            "head_sha": head_sha,
            "merge_commit_sha": pull.merge_commit_sha,
        }
        if head_sha:
            self.git(base, "update-ref", f"refs/pull/{pull.number}/head", head_sha)
        if not full or not base_sha or not head_sha:
            facts.update(
                mergeable=None,
                mergeable_state="unknown",
                commits=0,
                additions=0,
                deletions=0,
                changed_files=0,
            )
            return facts
        merge_base = self.git(base, "merge-base", base_sha, head_sha, ok=(0, 1)).strip()
        facts["merge_base"] = merge_base
        facts["commits"] = int(self.git(base, "rev-list", "--count", f"{base_sha}..{head_sha}").strip())
        additions = deletions = changed = 0
        for entry in self.diff_entries(base, merge_base or base_sha, head_sha):
            additions += entry["additions"]
            deletions += entry["deletions"]
            changed += 1
        facts.update(additions=additions, deletions=deletions, changed_files=changed)
        code, tree = self.git_run(base, "merge-tree", "--write-tree", "--no-messages", base_sha, head_sha, ok=(0, 1))
        if code == 0:
            merge = self.git(
                base,
                "commit-tree",
                tree.split()[0],
                "-p",
                base_sha,
                "-p",
                head_sha,
                "-m",
                f"Merge {head_sha} into {base_sha}",
            ).strip()
            self.git(base, "update-ref", f"refs/pull/{pull.number}/merge", merge)
            facts.update(mergeable=True, mergeable_state="clean", merge_commit_sha=merge, merge_tree=tree.split()[0])
        else:
            facts.update(mergeable=False, mergeable_state="dirty")
        return facts

    def diff_entries(self, repo: Repo, old: str, new: str) -> list[dict[str, Any]]:
        """``git diff old new`` as GitHub diff entries (without URLs)."""
        raw = self.git(repo, "diff", "--raw", "-z", "-M", "--no-abbrev", old, new).split("\0")
        numstat = self.git(repo, "diff", "--numstat", "-z", "-M", old, new).split("\0")
        entries: list[dict[str, Any]] = []
        i = 0
        while i < len(raw) - 1:
            meta = raw[i].lstrip(":").split()
            status = meta[4][0]
            paths = [raw[i + 1]]
            i += 2
            if status in "RC":
                paths.append(raw[i])
                i += 1
            entry: dict[str, Any] = {
                "filename": paths[-1],
                "status": {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied"}.get(
                    status, "changed"
                ),
                "sha": meta[3] if status != "D" else meta[2],
            }
            if status in "RC":
                entry["previous_filename"] = paths[0]
            entries.append(entry)
        j = 0
        for entry in entries:
            counts = numstat[j].split("\t")
            j += 3 if counts[2] == "" else 1
            additions = int(counts[0]) if counts[0] != "-" else 0
            deletions = int(counts[1]) if counts[1] != "-" else 0
            entry.update(additions=additions, deletions=deletions, changes=additions + deletions)
        return entries

    def freeze(self, pull: Pull) -> None:
        pull.frozen = None
        pull.frozen = dict(self.pull_git(pull, full=True))

    def merge(self, pull: Pull, login: str, method: str = "merge", message: str | None = None) -> str:
        """Merge a pull request into its base branch; returns the new base sha."""
        with self.lock:
            if pull.state != "open" or pull.merged_at:
                raise ApiError(405, "Pull Request is not mergeable")
            base = self.repos[pull.repo]
            facts = self.pull_git(pull, full=True)
            base_sha, head_sha = facts["base_sha"], facts["head_sha"]
            if not head_sha or not base_sha:
                raise ApiError(405, "Pull Request is not mergeable")
            if method in ("fast-forward", "rebase"):
                if facts.get("merge_base") != base_sha:
                    raise ApiError(405, "Pull Request is not mergeable")
                new = head_sha
            elif not facts["mergeable"]:
                raise ApiError(405, "Pull Request is not mergeable")
            elif method == "squash":
                new = self.git(
                    base,
                    "commit-tree",
                    facts["merge_tree"],
                    "-p",
                    base_sha,
                    "-m",
                    message or f"{pull.title} (#{pull.number})",
                ).strip()
            else:
                head_owner = pull.head_repo.split("/")[0]
                default = f"Merge pull request #{pull.number} from {head_owner}/{pull.head_ref}\n\n{pull.title}"
                text = message or default
                new = self.git(
                    base, "commit-tree", facts["merge_tree"], "-p", base_sha, "-p", head_sha, "-m", text
                ).strip()
            self.git(base, "update-ref", f"refs/heads/{pull.base_ref}", new, base_sha)
            stamp = now_iso()
            pull.state = "closed"
            pull.merged_at = pull.closed_at = pull.updated_at = stamp
            pull.updated_seq = next(self.seq)
            pull.merged_by = login
            pull.merge_commit_sha = new
            pull.frozen = {
                **facts,
                "merge_commit_sha": new,
                "mergeable": None,
                "mergeable_state": "unknown",
            }
            return str(new)


# ---------------------------------------------------------------------------------------------
# JSON shapes
# ---------------------------------------------------------------------------------------------
class Shapes:
    """Build GitHub's JSON objects from the state."""

    def __init__(self, state: State) -> None:
        self.s = state

    @property
    def web(self) -> str:
        return self.s.base_url

    @property
    def api(self) -> str:
        return f"{self.s.base_url}/api/v3"

    def user(self, login: str) -> dict[str, Any]:
        info = self.s.user(login)
        u = f"{self.api}/users/{login}"
        return {
            "login": login,
            "id": info["id"],
            "node_id": node_id("User", info["id"]),
            "avatar_url": f"{self.web}/avatars/u/{info['id']}",
            "gravatar_id": "",
            "url": u,
            "html_url": f"{self.web}/{login}",
            "followers_url": f"{u}/followers",
            "following_url": f"{u}/following{{/other_user}}",
            "gists_url": f"{u}/gists{{/gist_id}}",
            "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{u}/subscriptions",
            "organizations_url": f"{u}/orgs",
            "repos_url": f"{u}/repos",
            "events_url": f"{u}/events{{/privacy}}",
            "received_events_url": f"{u}/received_events",
            "type": info["type"],
            "site_admin": False,
            "user_view_type": "public",
        }

    def private_user(self, login: str) -> dict[str, Any]:
        info = self.s.user(login)
        owned = [r for r in self.s.repos.values() if r.owner == login]
        return {
            **self.user(login),
            "user_view_type": "private",
            "name": login,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": sum(not r.private for r in owned),
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": info["created_at"],
            "updated_at": info["created_at"],
            "private_gists": 0,
            "total_private_repos": sum(r.private for r in owned),
            "owned_private_repos": sum(r.private for r in owned),
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": False,
        }

    def repo(self, repo: Repo, token: Token | None, full: bool = True) -> dict[str, Any]:
        u = f"{self.api}/repos/{repo.full_name}"
        html = f"{self.web}/{repo.full_name}"
        forks = sum(1 for r in self.s.repos.values() if r.fork_of == repo.full_name)
        open_pulls = sum(1 for p in self.s.pulls.get(repo.full_name, []) if p.state == "open")
        data: dict[str, Any] = {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self.user(repo.owner),
            "html_url": html,
            "description": repo.description,
            "fork": repo.fork_of is not None,
            "url": u,
            "archive_url": f"{u}/{{archive_format}}{{/ref}}",
            "assignees_url": f"{u}/assignees{{/user}}",
            "blobs_url": f"{u}/git/blobs{{/sha}}",
            "branches_url": f"{u}/branches{{/branch}}",
            "collaborators_url": f"{u}/collaborators{{/collaborator}}",
            "comments_url": f"{u}/comments{{/number}}",
            "commits_url": f"{u}/commits{{/sha}}",
            "compare_url": f"{u}/compare/{{base}}...{{head}}",
            "contents_url": f"{u}/contents/{{+path}}",
            "contributors_url": f"{u}/contributors",
            "deployments_url": f"{u}/deployments",
            "downloads_url": f"{u}/downloads",
            "events_url": f"{u}/events",
            "forks_url": f"{u}/forks",
            "git_commits_url": f"{u}/git/commits{{/sha}}",
            "git_refs_url": f"{u}/git/refs{{/sha}}",
            "git_tags_url": f"{u}/git/tags{{/sha}}",
            "git_url": f"git://127.0.0.1/{repo.full_name}.git",
            "issue_comment_url": f"{u}/issues/comments{{/number}}",
            "issue_events_url": f"{u}/issues/events{{/number}}",
            "issues_url": f"{u}/issues{{/number}}",
            "keys_url": f"{u}/keys{{/key_id}}",
            "labels_url": f"{u}/labels{{/name}}",
            "languages_url": f"{u}/languages",
            "merges_url": f"{u}/merges",
            "milestones_url": f"{u}/milestones{{/number}}",
            "notifications_url": f"{u}/notifications{{?since,all,participating}}",
            "pulls_url": f"{u}/pulls{{/number}}",
            "releases_url": f"{u}/releases{{/id}}",
            "ssh_url": f"git@127.0.0.1:{repo.full_name}.git",
            "stargazers_url": f"{u}/stargazers",
            "statuses_url": f"{u}/statuses/{{sha}}",
            "subscribers_url": f"{u}/subscribers",
            "subscription_url": f"{u}/subscription",
            "tags_url": f"{u}/tags",
            "teams_url": f"{u}/teams",
            "trees_url": f"{u}/git/trees{{/sha}}",
            "clone_url": f"{html}.git",
            "mirror_url": None,
            "hooks_url": f"{u}/hooks",
            "svn_url": html,
            "homepage": None,
            "language": None,
            "forks_count": forks,
            "forks": forks,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": 0,
            "default_branch": repo.default_branch,
            "open_issues_count": open_pulls,
            "open_issues": open_pulls,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "private" if repo.private else "public",
            "pushed_at": repo.created_at,
            "created_at": repo.created_at,
            "updated_at": repo.created_at,
            "allow_forking": True,
            "web_commit_signoff_required": False,
            "license": None,
        }
        level = self.s.level(token, repo) if token is not None else 0
        if token is not None:
            data["permissions"] = {
                "admin": level >= LEVELS["admin"],
                "maintain": level >= LEVELS["maintain"],
                "push": level >= LEVELS["push"],
                "triage": level >= LEVELS["triage"],
                "pull": level >= LEVELS["pull"],
            }
        if full:
            data["network_count"] = forks
            data["subscribers_count"] = 0
            if repo.fork_of:
                parent = self.s.repos[repo.fork_of]
                root = parent
                while root.fork_of:
                    root = self.s.repos[root.fork_of]
                data["parent"] = self.repo(parent, token, full=False)
                data["source"] = self.repo(root, token, full=False)
        return data

    def label(self, repo: Repo, name: str) -> dict[str, Any]:
        info = repo.labels[name]
        return {
            "id": info["id"],
            "node_id": node_id("Label", info["id"]),
            "url": f"{self.api}/repos/{repo.full_name}/labels/{quote(name)}",
            "name": name,
            "description": info.get("description"),
            "color": info.get("color", "ededed"),
            "default": False,
        }

    def pull(self, pull: Pull, token: Token | None, full: bool) -> dict[str, Any]:
        repo = self.s.repos[pull.repo]
        head_repo = self.s.repos.get(pull.head_repo)
        facts = self.s.pull_git(pull, full=full)
        u = f"{self.api}/repos/{repo.full_name}"
        pu = f"{u}/pulls/{pull.number}"
        html = f"{self.web}/{repo.full_name}/pull/{pull.number}"
        issue = f"{u}/issues/{pull.number}"
        head_owner = pull.head_repo.split("/")[0]
        base_owner = repo.owner
        level = self.s.level(token, repo) if token else 0
        association = (
            "OWNER" if pull.user == repo.owner else "COLLABORATOR" if level >= LEVELS["push"] else "CONTRIBUTOR"
        )
        data: dict[str, Any] = {
            "url": pu,
            "id": pull.id,
            "node_id": node_id("PullRequest", pull.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue,
            "commits_url": f"{pu}/commits",
            "review_comments_url": f"{pu}/comments",
            "review_comment_url": f"{u}/pulls/comments{{/number}}",
            "comments_url": f"{issue}/comments",
            "statuses_url": f"{u}/statuses/{facts['head_sha']}",
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self.user(pull.user),
            "body": pull.body,
            "labels": [self.label(repo, name) for name in pull.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": pull.created_at,
            "updated_at": pull.updated_at,
            "closed_at": pull.closed_at,
            "merged_at": pull.merged_at,
            "merge_commit_sha": facts.get("merge_commit_sha"),
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": {
                "label": f"{head_owner}:{pull.head_ref}",
                "ref": pull.head_ref,
                "sha": facts["head_sha"],
                "user": self.user(head_owner),
                "repo": self.repo(head_repo, token, full=False) if head_repo else None,
            },
            "base": {
                "label": f"{base_owner}:{pull.base_ref}",
                "ref": pull.base_ref,
                "sha": facts["base_sha"],
                "user": self.user(base_owner),
                "repo": self.repo(repo, token, full=False),
            },
            "_links": {
                "self": {"href": pu},
                "html": {"href": html},
                "issue": {"href": issue},
                "comments": {"href": f"{issue}/comments"},
                "review_comments": {"href": f"{pu}/comments"},
                "review_comment": {"href": f"{u}/pulls/comments{{/number}}"},
                "commits": {"href": f"{pu}/commits"},
                "statuses": {"href": f"{u}/statuses/{facts['head_sha']}"},
            },
            "author_association": association,
            "auto_merge": None,
            "draft": pull.draft,
        }
        if full:
            data.update(
                merged=pull.merged_at is not None,
                mergeable=facts["mergeable"],
                rebaseable=facts["mergeable"],
                mergeable_state=facts["mergeable_state"],
                merged_by=self.user(pull.merged_by) if pull.merged_by else None,
                comments=0,
                review_comments=0,
                maintainer_can_modify=pull.maintainer_can_modify,
                commits=facts["commits"],
                additions=facts["additions"],
                deletions=facts["deletions"],
                changed_files=facts["changed_files"],
            )
        return data

    def asset(self, asset: Asset) -> dict[str, Any]:
        release = self.s.releases[asset.release_id]
        return {
            "url": f"{self.api}/repos/{release.repo}/releases/assets/{asset.id}",
            "browser_download_url": self.download_url(release, asset),
            "id": asset.id,
            "node_id": node_id("ReleaseAsset", asset.id),
            "name": asset.name,
            "label": asset.label,
            "state": "uploaded",
            "content_type": asset.content_type,
            "size": asset.size,
            "digest": asset.digest,
            "download_count": asset.download_count,
            "created_at": asset.created_at,
            "updated_at": asset.updated_at,
            "uploader": self.user(asset.uploader),
        }

    def download_url(self, release: Release, asset: Asset) -> str:
        tag = release.tag_name if not release.draft else f"untagged-{release.id}"
        return f"{self.web}/{release.repo}/releases/download/{quote(tag)}/{quote(asset.name)}"

    def release(self, release: Release) -> dict[str, Any]:
        u = f"{self.api}/repos/{release.repo}/releases/{release.id}"
        tag = quote(release.tag_name)
        html_tag = tag if not release.draft else f"untagged-{release.id}"
        uploads = f"{self.s.base_url}/api/uploads"
        return {
            "url": u,
            "html_url": f"{self.web}/{release.repo}/releases/tag/{html_tag}",
            "assets_url": f"{u}/assets",
            "upload_url": f"{uploads}/repos/{release.repo}/releases/{release.id}/assets{{?name,label}}",
            "tarball_url": None if release.draft else f"{self.api}/repos/{release.repo}/tarball/{tag}",
            "zipball_url": None if release.draft else f"{self.api}/repos/{release.repo}/zipball/{tag}",
            "id": release.id,
            "node_id": node_id("Release", release.id),
            "tag_name": release.tag_name,
            "target_commitish": release.target_commitish,
            "name": release.name,
            "body": release.body,
            "draft": release.draft,
            "prerelease": release.prerelease,
            "immutable": False,
            "created_at": release.created_at,
            "published_at": release.published_at,
            "updated_at": release.published_at or release.created_at,
            "author": self.user(release.author),
            "assets": [self.asset(a) for a in release.assets],
        }


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------
@dataclass
class Route:
    method: str
    template: str  # OpenAPI path template
    handler: Callable[[GitHubHandler, dict[str, str]], None]
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        parts = []
        for segment in self.template.strip("/").split("/"):
            if segment.startswith("{"):
                name = segment[1:-1]
                parts.append(f"(?P<{name}>.+)" if name == "tag" else f"(?P<{name}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        self.regex = re.compile("/" + "/".join(parts))


GIT_PATH = re.compile(
    r"/(?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?/(?P<rest>info/refs|git-upload-pack|git-receive-pack)"
)
DOWNLOAD_PATH = re.compile(r"/(?P<owner>[^/]+)/(?P<repo>[^/]+)/releases/download/(?P<tag>.+)/(?P<name>[^/]+)")


class GitHubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"
    sys_version = ""
    server: GitHubHTTPServer

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self.server.state

    @property
    def shapes(self) -> Shapes:
        return self.server.shapes

    def log_message(self, fmt: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} [{self.log_date_time_string()}] {fmt % args}\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = code.value if hasattr(code, "value") else code
        token: Token | None = getattr(self, "token", None)
        if not self.path.startswith("/_admin/"):
            with self.state.lock:
                self.state.requests.append(
                    {
                        "method": self.command,
                        "path": self.path.split("?", 1)[0],
                        "url": self.path,
                        "status": int(status) if str(status).isdigit() else status,
                        "login": token.login if token else None,
                    }
                )
        super().log_request(code, size)

    def do_GET(self) -> None:
        self.dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_GET

    def dispatch(self) -> None:
        self.token: Token | None = None
        self.body_read = False
        self.template: str | None = None
        self.raw_path, _, self.query_string = self.path.partition("?")
        self.query = {k: v[-1] for k, v in parse_qs(self.query_string, keep_blank_values=True).items()}
        path = self.raw_path
        try:
            if path.startswith("/_admin/"):
                self.handle_admin(path[len("/_admin") :])
                return
            if self.apply_fault(path):
                return
            if path.startswith("/api/v3/") or path == "/api/v3":
                self.handle_api(path[len("/api/v3") :] or "/", upload=False)
            elif path.startswith("/api/uploads/"):
                self.handle_api(path[len("/api/uploads") :], upload=True)
            elif (m := GIT_PATH.fullmatch(path)) is not None:
                self.handle_git(m["owner"], m["repo"], m["rest"])
            elif (m := DOWNLOAD_PATH.fullmatch(path)) is not None:
                self.handle_download(unquote(m["owner"]), unquote(m["repo"]), unquote(m["tag"]), unquote(m["name"]))
            else:
                self.record_unimplemented()
                self.send_text(404, "Not Found")
        except ApiError as e:
            self.send_error_json(e.status, e.message, e.errors)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a server bug: report it to the client and the log
            traceback.print_exc()
            self.send_text(500, f"github test server error: {e!r}")

    def record_unimplemented(self) -> None:
        with self.state.lock:
            self.state.unimplemented.append({"method": self.command, "path": self.path})

    def apply_fault(self, path: str) -> bool:
        with self.state.lock:
            for fault in self.state.faults:
                if fault.count > 0 and fault.path == path and fault.method in (None, self.command):
                    fault.count -= 1
                    break
            else:
                return False
        self.discard_body()
        if path.startswith("/api/"):
            self.send_json(
                fault.status,
                {"message": fault.message, "documentation_url": REST_DOCS, "status": str(fault.status)},
            )
        else:
            self.send_text(fault.status, fault.message)
        return True

    # -- request bodies -----------------------------------------------------------------------
    def iter_body(self, limit: int | None = None) -> Iterator[bytes]:
        """The request body in pieces (handles chunked transfer encoding)."""
        self.body_read = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                total += size
                if limit is not None and total > limit:
                    self.close_connection = True
                    raise ApiError(413, "Request body too large")
                remaining = size
                while remaining:
                    piece = self.rfile.read(min(remaining, CHUNK))
                    if not piece:
                        raise ConnectionResetError("client went away")
                    remaining -= len(piece)
                    yield piece
                self.rfile.readline()
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            if limit is not None and remaining > limit:
                self.close_connection = True
                raise ApiError(413, "Request body too large")
            while remaining:
                piece = self.rfile.read(min(remaining, CHUNK))
                if not piece:
                    raise ConnectionResetError("client went away")
                remaining -= len(piece)
                yield piece

    def read_body(self) -> bytes:
        return b"".join(self.iter_body(MAX_JSON_BODY))

    def discard_body(self) -> None:
        if self.body_read:
            return
        length = self.headers.get("Content-Length")
        if length and int(length) >= MAX_ASSET_SIZE:  # too large to drain: answer, then close
            self.close_connection = True
            self.body_read = True
            return
        for _ in self.iter_body():
            pass

    def json_body(self) -> Any:
        raw = self.read_body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "Problems parsing JSON") from None

    # -- responses ----------------------------------------------------------------------------
    def send_bytes(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        if not self.body_read and self.command in ("POST", "PUT", "PATCH", "DELETE"):
            self.discard_body()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def send_text(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, text.encode(), "text/plain; charset=utf-8", headers)

    def github_headers(self) -> dict[str, str]:
        return {
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Enterprise-Version": "3.17.0",
            "X-GitHub-Request-Id": uuid.uuid4().hex[:20].upper(),
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": "1",
            "X-RateLimit-Resource": "core",
        }

    def send_json(self, status: int, body: JSON, headers: dict[str, str] | None = None, validate: bool = True) -> None:
        all_headers = {**self.github_headers(), **(headers or {})}
        if validate and self.raw_path.startswith("/api/"):
            errors = self.state.openapi.validate_response(self.command, self.template, status, body)
            if errors:
                record = {
                    "method": self.command,
                    "path": self.path,
                    "template": self.template,
                    "status": status,
                    "errors": errors,
                }
                with self.state.lock:
                    self.state.schema_errors.append(record)
                sys.stderr.write(f"SCHEMA ERROR {json.dumps(record)}\n")
                body = {
                    "message": "github test server: response does not match GitHub's OpenAPI description",
                    "documentation_url": REST_DOCS,
                    "status": "500",
                    "schema_errors": errors,
                    "intended_status": status,
                }
                status = 500
        payload = b"" if status == 204 else json.dumps(body, indent=1).encode()
        self.send_bytes(status, payload, "application/json; charset=utf-8", all_headers)

    def send_error_json(self, status: int, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        body: dict[str, Any] = {"message": message}
        if errors is not None:
            body["errors"] = errors
        body["documentation_url"] = (
            REST_DOCS
            if message == "Bad credentials" or self.template is None
            else self.state.openapi.documentation_url(self.command, self.template)
        )
        body["status"] = str(status)
        headers = (
            {"WWW-Authenticate": 'Basic realm="GitHub"'}
            if status == 401 and not self.raw_path.startswith("/api/")
            else None
        )
        self.send_json(status, body, headers)

    # -- authentication -----------------------------------------------------------------------
    def credentials(self, git: bool = False) -> str | None:
        """The token in the Authorization header (None: no credentials)."""
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return ""
            return password or user
        if not git and scheme in ("token", "bearer"):
            return value.strip()
        return None

    def authenticate(self, git: bool = False) -> None:
        """Set ``self.token``; unknown credentials are GitHub's 401."""
        secret = self.credentials(git)
        if secret is None:
            return
        with self.state.lock:
            self.token = self.state.tokens.get(secret)
        if self.token is None:
            if git:
                self.send_git_401(
                    "Invalid username or token. Password authentication is not supported for Git operations."
                )
                raise _Handled
            raise ApiError(401, "Bad credentials")

    def repo_for(self, owner: str, name: str, need: str = "pull") -> Repo:
        """The repository, checking the token's rights (404 when invisible, 401/403 when too weak)."""
        with self.state.lock:
            repo = self.state.repos.get(f"{owner}/{name}")
        if repo is None or self.state.level(self.token, repo) == 0:
            raise ApiError(404, "Not Found")
        if self.state.level(self.token, repo) < LEVELS[need]:
            if self.token is None:
                raise ApiError(401, "Requires authentication")
            raise ApiError(403, "Resource not accessible by personal access token")
        return repo

    # -- REST API -----------------------------------------------------------------------------
    def handle_api(self, path: str, upload: bool) -> None:
        routes = UPLOAD_ROUTES if upload else API_ROUTES
        match = None
        for route in routes:
            m = route.regex.fullmatch(path)
            if m is not None and route.method == self.command:
                match = (route, m)
                break
            if m is not None and self.template is None:
                self.template = route.template
        if self.template is None:
            self.template = self.state.openapi.find_template(path)
        self.authenticate()
        if match is None:
            self.record_unimplemented()
            self.template = None
            raise ApiError(404, "Not Found")
        route, m = match
        self.template = route.template
        params = {k: unquote(v) for k, v in m.groupdict().items()}
        route.handler(self, params)

    def paginate(self, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        try:
            per_page = max(1, min(100, int(self.query.get("per_page") or 30)))
            page = max(1, int(self.query.get("page") or 1))
        except ValueError:
            per_page, page = 30, 1
        last = max(1, -(-len(items) // per_page))
        links = []

        def link(n: int, rel: str) -> str:
            query = {**self.query, "per_page": str(per_page), "page": str(n)}
            return f'<{self.state.base_url}{self.raw_path}?{urlencode(query)}>; rel="{rel}"'

        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links.append(link(page + 1, "next"))
            links.append(link(last, "last"))
        if page > 1:
            links.append(link(1, "first"))
        headers = {"Link": ", ".join(links)} if links else {}
        return items[(page - 1) * per_page : page * per_page], headers

    # repos, users
    def get_repo(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"])
        with self.state.lock:
            self.send_json(200, self.shapes.repo(repo, self.token))

    def get_user(self, p: dict[str, str]) -> None:
        if self.token is None:
            raise ApiError(401, "Requires authentication")
        with self.state.lock:
            self.send_json(200, self.shapes.private_user(self.token.login))

    # pulls
    def find_pull(self, repo: Repo, number: str) -> Pull:
        with self.state.lock:
            for pull in self.state.pulls[repo.full_name]:
                if str(pull.number) == number:
                    return pull
        raise ApiError(404, "Not Found")

    def list_pulls(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"])
        q = self.query
        state = q.get("state") or "open"
        sort = q.get("sort") or "created"
        direction = q.get("direction") or ("desc" if sort == "created" else "asc")
        if state not in ("open", "closed", "all") or sort not in (
            "created",
            "updated",
            "popularity",
            "long-running",
        ):
            raise ApiError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "field": "state" if state not in ("open", "closed", "all") else "sort",
                        "code": "invalid",
                    }
                ],
            )
        if direction not in ("asc", "desc"):
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": "direction", "code": "invalid"}],
            )
        with self.state.lock:
            pulls = [x for x in self.state.pulls[repo.full_name] if state == "all" or x.state == state]
            head = q.get("head") or ""
            if ":" in head:  # "user:ref-name"; a bare branch name is ignored, as on GitHub
                head_owner, _, head_ref = head.partition(":")
                pulls = [
                    x
                    for x in pulls
                    if x.head_repo.split("/")[0] == head_owner and (not head_ref or x.head_ref == head_ref)
                ]
            if q.get("base"):
                pulls = [x for x in pulls if x.base_ref == q["base"]]
            key: Callable[[Pull], Any] = (
                (lambda x: (x.updated_seq, x.number)) if sort == "updated" else (lambda x: x.number)
            )
            pulls.sort(key=key, reverse=direction == "desc")
            page, headers = self.paginate(pulls)
            self.send_json(200, [self.shapes.pull(x, self.token, full=False) for x in page], headers)

    def resolve_head(self, repo: Repo, head: str) -> tuple[Repo | None, str]:
        """``owner:branch`` or ``branch`` -> (head repository in the fork network, branch)."""
        owner, sep, branch = head.partition(":")
        if not sep:
            return repo, head
        if ":" in branch:  # "owner:repo:branch"
            name, _, branch = branch.partition(":")
            candidate = self.state.repos.get(f"{owner}/{name}")
            return (candidate if candidate and self.same_network(candidate, repo) else None), branch
        if owner == repo.owner:
            return repo, branch
        for candidate in self.state.repos.values():
            if candidate.owner == owner and self.same_network(candidate, repo):
                return candidate, branch
        return None, branch

    def same_network(self, a: Repo, b: Repo) -> bool:
        def root(r: Repo) -> str:
            while r.fork_of:
                r = self.state.repos[r.fork_of]
            return r.full_name

        return root(a) == root(b)

    def create_pull(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"])
        if self.token is None:
            raise ApiError(401, "Requires authentication")
        data = self.json_body()
        if not isinstance(data, dict):
            raise ApiError(400, "Problems parsing JSON")
        for name in ("head", "base"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "field": name, "code": "missing_field"}],
                )
        if "issue" not in data and not data.get("title"):
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": "title", "code": "missing_field"}],
            )
        with self.state.lock:
            head_repo, head_ref = self.resolve_head(repo, data["head"])
            base_ref = data["base"]
            errors = []
            if head_repo is None or head_ref not in self.state.branches(head_repo):
                errors.append({"resource": "PullRequest", "field": "head", "code": "invalid"})
            if base_ref not in self.state.branches(repo):
                errors.append({"resource": "PullRequest", "field": "base", "code": "invalid"})
            if errors:
                raise ApiError(422, "Validation Failed", errors)
            assert head_repo is not None
            label = f"{head_repo.owner}:{head_ref}"
            for other in self.state.pulls[repo.full_name]:
                if (
                    other.state == "open"
                    and other.head_repo == head_repo.full_name
                    and other.head_ref == head_ref
                    and other.base_ref == base_ref
                ):
                    raise ApiError(
                        422,
                        "Validation Failed",
                        [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for {label}.",
                            }
                        ],
                    )
            head_sha = self.state.branches(head_repo)[head_ref]
            base_sha = self.state.branches(repo)[base_ref]
            ahead = int(self.state.git(repo, "rev-list", "--count", f"{base_sha}..{head_sha}").strip())
            if ahead == 0:
                raise ApiError(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"No commits between {base_ref} and {data['head']}",
                        }
                    ],
                )
            stamp = now_iso()
            seq = next(self.state.seq)
            pull = Pull(
                id=next(self.state.ids),
                number=repo.next_number,
                repo=repo.full_name,
                head_repo=head_repo.full_name,
                head_ref=head_ref,
                base_ref=base_ref,
                title=data.get("title") or head_ref,
                body=data.get("body"),
                user=self.token.login,
                draft=bool(data.get("draft", False)),
                maintainer_can_modify=bool(data.get("maintainer_can_modify", head_repo is not repo)),
                created_at=stamp,
                updated_at=stamp,
                created_seq=seq,
                updated_seq=seq,
            )
            repo.next_number += 1
            self.state.pulls[repo.full_name].append(pull)
            body = self.shapes.pull(pull, self.token, full=True)
        self.send_json(201, body, {"Location": body["url"]})

    def get_pull(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"])
        pull = self.find_pull(repo, p["pull_number"])
        with self.state.lock:
            self.send_json(200, self.shapes.pull(pull, self.token, full=True))

    def update_pull(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"])
        pull = self.find_pull(repo, p["pull_number"])
        if self.token is None:
            raise ApiError(401, "Requires authentication")
        if self.token.login != pull.user and self.state.level(self.token, repo) < LEVELS["push"]:
            raise ApiError(403, "Resource not accessible by personal access token")
        data = self.json_body()
        with self.state.lock:
            if "base" in data and data["base"] not in self.state.branches(repo):
                raise ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "field": "base", "code": "invalid"}],
                )
            if data.get("state") not in (None, "open", "closed"):
                raise ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "field": "state", "code": "invalid"}],
                )
            if data.get("state") == "open" and pull.state == "closed":
                if pull.merged_at:
                    raise ApiError(
                        422,
                        "Validation Failed",
                        [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": "state cannot be changed. The pull request has been merged.",
                            }
                        ],
                    )
                for other in self.state.pulls[repo.full_name]:
                    if (
                        other is not pull
                        and other.state == "open"
                        and (other.head_repo, other.head_ref, other.base_ref)
                        == (pull.head_repo, pull.head_ref, data.get("base", pull.base_ref))
                    ):
                        raise ApiError(
                            422,
                            "Validation Failed",
                            [
                                {
                                    "resource": "PullRequest",
                                    "code": "custom",
                                    "message": f"A pull request already exists for {pull_label(pull)}.",
                                }
                            ],
                        )
                pull.state, pull.closed_at, pull.frozen = "open", None, None
            for key in ("title", "body"):
                if key in data:
                    setattr(pull, key, data[key])
            if "base" in data:
                pull.base_ref = data["base"]
            if "maintainer_can_modify" in data:
                pull.maintainer_can_modify = bool(data["maintainer_can_modify"])
            pull.updated_at = now_iso()
            pull.updated_seq = next(self.state.seq)
            if data.get("state") == "closed" and pull.state == "open":
                pull.state, pull.closed_at = "closed", pull.updated_at
                self.state.freeze(pull)
            self.send_json(200, self.shapes.pull(pull, self.token, full=True))

    def pull_files(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"])
        pull = self.find_pull(repo, p["pull_number"])
        with self.state.lock:
            facts = self.state.pull_git(pull, full=True)
            entries = []
            if facts.get("head_sha") and facts.get("base_sha"):
                base = facts.get("merge_base") or facts["base_sha"]
                entries = self.state.diff_entries(repo, base, facts["head_sha"])
        head = facts.get("head_sha", "")
        for entry in entries:
            path = quote(entry["filename"])
            entry["blob_url"] = f"{self.state.base_url}/{repo.full_name}/blob/{head}/{path}"
            entry["raw_url"] = f"{self.state.base_url}/{repo.full_name}/raw/{head}/{path}"
            entry["contents_url"] = f"{self.state.base_url}/api/v3/repos/{repo.full_name}/contents/{path}?ref={head}"
        page, headers = self.paginate(entries)
        self.send_json(200, page, headers)

    def merge_pull(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"], need="push")
        pull = self.find_pull(repo, p["pull_number"])
        data = self.json_body()
        assert self.token is not None
        method = data.get("merge_method", "merge")
        if data.get("sha"):
            facts = self.state.pull_git(pull, full=False)
            if facts["head_sha"] != data["sha"]:
                raise ApiError(409, "Head branch was modified. Review and try the merge again.")
        sha = self.state.merge(pull, self.token.login, method, data.get("commit_title"))
        self.send_json(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})

    def add_labels(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"], need="triage")
        pull = self.find_pull(repo, p["issue_number"])
        data = self.json_body()
        items = data.get("labels") if isinstance(data, dict) else data
        if not isinstance(items, list) or not items:
            raise ApiError(
                422, "Validation Failed", [{"resource": "Label", "field": "labels", "code": "missing_field"}]
            )
        with self.state.lock:
            for item in items:
                name = item.get("name") if isinstance(item, dict) else item
                if not isinstance(name, str) or not name:
                    raise ApiError(
                        422, "Validation Failed", [{"resource": "Label", "field": "name", "code": "invalid"}]
                    )
                if name not in repo.labels:
                    repo.labels[name] = {"id": next(self.state.ids), "color": "ededed", "description": None}
                if name not in pull.labels:
                    pull.labels.append(name)
            pull.updated_at = now_iso()
            pull.updated_seq = next(self.state.seq)
            self.send_json(200, [self.shapes.label(repo, name) for name in pull.labels])

    def list_labels(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"])
        pull = self.find_pull(repo, p["issue_number"])
        with self.state.lock:
            page, headers = self.paginate([self.shapes.label(repo, name) for name in pull.labels])
        self.send_json(200, page, headers)

    # releases
    def find_release(self, repo: Repo, release_id: str) -> Release:
        with self.state.lock:
            release = self.state.releases.get(int(release_id)) if release_id.isdigit() else None
        if release is None or release.repo != repo.full_name:
            raise ApiError(404, "Not Found")
        if release.draft and self.state.level(self.token, repo) < LEVELS["push"]:
            raise ApiError(404, "Not Found")
        return release

    def list_releases(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"])
        can_push = self.state.level(self.token, repo) >= LEVELS["push"]
        with self.state.lock:
            releases = [
                r for r in self.state.releases.values() if r.repo == repo.full_name and (can_push or not r.draft)
            ]
            releases.sort(key=lambda r: r.id, reverse=True)
            page, headers = self.paginate(releases)
            self.send_json(200, [self.shapes.release(r) for r in page], headers)

    def release_by_tag(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"])
        with self.state.lock:
            for release in self.state.releases.values():
                if release.repo == repo.full_name and release.tag_name == p["tag"] and not release.draft:
                    self.send_json(200, self.shapes.release(release))
                    return
        raise ApiError(404, "Not Found")

    def create_release(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"], need="push")
        assert self.token is not None
        data = self.json_body()
        tag = data.get("tag_name")
        if not isinstance(tag, str) or not tag:
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "Release", "field": "tag_name", "code": "missing_field"}],
            )
        with self.state.lock:
            if any(r.repo == repo.full_name and r.tag_name == tag for r in self.state.releases.values()):
                raise ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "Release", "code": "already_exists", "field": "tag_name"}],
                )
            target = data.get("target_commitish") or repo.default_branch
            draft = bool(data.get("draft", False))
            if not self.state.resolve(repo, f"refs/tags/{tag}"):
                sha = self.state.resolve(repo, target)
                if sha is None:
                    raise ApiError(
                        422,
                        "Validation Failed",
                        [{"resource": "Release", "code": "invalid", "field": "target_commitish"}],
                    )
                if not draft:
                    self.state.git(repo, "update-ref", f"refs/tags/{tag}", sha)
            stamp = now_iso()
            release = Release(
                id=next(self.state.ids),
                repo=repo.full_name,
                tag_name=tag,
                target_commitish=target,
                name=data.get("name"),
                body=data.get("body"),
                draft=draft,
                prerelease=bool(data.get("prerelease", False)),
                author=self.token.login,
                created_at=stamp,
                published_at=None if draft else stamp,
            )
            self.state.releases[release.id] = release
            body = self.shapes.release(release)
        self.send_json(201, body, {"Location": body["url"]})

    def get_release(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"])
        release = self.find_release(repo, p["release_id"])
        with self.state.lock:
            self.send_json(200, self.shapes.release(release))

    def update_release(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"], need="push")
        release = self.find_release(repo, p["release_id"])
        data = self.json_body()
        with self.state.lock:
            for key in ("name", "body", "prerelease", "target_commitish"):
                if key in data:
                    setattr(release, key, data[key])
            if "tag_name" in data:
                release.tag_name = data["tag_name"]
            if data.get("draft") is False and release.draft:
                release.draft = False
                release.published_at = now_iso()
                sha = self.state.resolve(repo, release.target_commitish)
                if sha and not self.state.resolve(repo, f"refs/tags/{release.tag_name}"):
                    self.state.git(repo, "update-ref", f"refs/tags/{release.tag_name}", sha)
            self.send_json(200, self.shapes.release(release))

    def delete_release(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"], need="push")
        release = self.find_release(repo, p["release_id"])
        with self.state.lock:
            for asset in release.assets:
                self.state.assets.pop(asset.id, None)
                asset.path.unlink(missing_ok=True)
            del self.state.releases[release.id]
        self.send_json(204, None)

    def list_assets(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"])
        release = self.find_release(repo, p["release_id"])
        with self.state.lock:
            page, headers = self.paginate(list(release.assets))
            self.send_json(200, [self.shapes.asset(a) for a in page], headers)

    def find_asset(self, repo: Repo, asset_id: str) -> Asset:
        with self.state.lock:
            asset = self.state.assets.get(int(asset_id)) if asset_id.isdigit() else None
            release = self.state.releases.get(asset.release_id) if asset else None
        if asset is None or release is None or release.repo != repo.full_name:
            raise ApiError(404, "Not Found")
        return asset

    def get_asset(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"])
        asset = self.find_asset(repo, p["asset_id"])
        with self.state.lock:
            release = self.state.releases[asset.release_id]
            if "application/octet-stream" in self.headers.get("Accept", ""):
                location = self.shapes.download_url(release, asset)
                self.send_bytes(302, b"", "text/html; charset=utf-8", {"Location": location})
                return
            self.send_json(200, self.shapes.asset(asset))

    def delete_asset(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"], need="push")
        asset = self.find_asset(repo, p["asset_id"])
        with self.state.lock:
            release = self.state.releases[asset.release_id]
            release.assets = [a for a in release.assets if a.id != asset.id]
            del self.state.assets[asset.id]
        asset.path.unlink(missing_ok=True)
        self.send_json(204, None)

    def upload_asset(self, p: dict[str, str]) -> None:
        repo = self.repo_for(p["owner"], p["repo"], need="push")
        release = self.find_release(repo, p["release_id"])
        assert self.token is not None
        name = self.query.get("name", "")
        label = self.query.get("label") or None
        content_type = self.headers.get("Content-Type")
        if not name:
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "ReleaseAsset", "code": "missing_field", "field": "name"}],
            )
        if not content_type:
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "ReleaseAsset", "code": "missing_field", "field": "content_type"}],
            )
        length = self.headers.get("Content-Length")
        if length is not None and int(length) >= MAX_ASSET_SIZE:
            self.close_connection = True
            self.body_read = True
            raise ApiError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "ReleaseAsset",
                        "code": "custom",
                        "field": "size",
                        "message": "size must be less than 2147483648",
                    }
                ],
            )
        with self.state.lock:
            duplicate = any(a.name == name for a in release.assets)
        if duplicate:
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}],
            )
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.state.assets_dir, prefix="upload-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                for piece in self.iter_body(MAX_ASSET_SIZE - 1):
                    fh.write(piece)
                    digest.update(piece)
                    size += len(piece)
        except ApiError:
            tmp.unlink(missing_ok=True)
            raise ApiError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "ReleaseAsset",
                        "code": "custom",
                        "field": "size",
                        "message": "size must be less than 2147483648",
                    }
                ],
            ) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        with self.state.lock:
            if any(a.name == name for a in release.assets):
                tmp.unlink(missing_ok=True)
                raise ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}],
                )
            stamp = now_iso()
            asset_id = next(self.state.ids)
            path = self.state.assets_dir / str(asset_id)
            tmp.rename(path)
            asset = Asset(
                id=asset_id,
                release_id=release.id,
                name=name,
                label=label,
                content_type=content_type,
                size=size,
                digest=f"sha256:{digest.hexdigest()}",
                path=path,
                uploader=self.token.login,
                created_at=stamp,
                updated_at=stamp,
            )
            release.assets.append(asset)
            self.state.assets[asset.id] = asset
            body = self.shapes.asset(asset)
        self.send_json(201, body)

    # -- release downloads --------------------------------------------------------------------
    def handle_download(self, owner: str, name: str, tag: str, filename: str) -> None:
        self.template = None
        secret = self.credentials()
        with self.state.lock:
            self.token = self.state.tokens.get(secret) if secret else None
            repo = self.state.repos.get(f"{owner}/{name}")
            asset = None
            if repo is not None and self.state.level(self.token, repo) > 0:
                for release in self.state.releases.values():
                    tag_name = release.tag_name if not release.draft else f"untagged-{release.id}"
                    if release.repo == repo.full_name and tag_name == tag:
                        if release.draft and self.state.level(self.token, repo) < LEVELS["push"]:
                            continue
                        asset = next((a for a in release.assets if a.name == filename), None)
            if asset is not None:
                asset.download_count += 1
        if asset is None:
            self.send_text(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(asset.size))
        self.send_header("Content-Disposition", f"attachment; filename={quote(asset.name)}")
        self.send_header("ETag", f'"{asset.digest.split(":", 1)[1]}"')
        self.end_headers()
        if self.command == "HEAD":
            return
        with asset.path.open("rb") as fh:
            shutil.copyfileobj(fh, self.wfile, CHUNK)

    # -- git smart HTTP -----------------------------------------------------------------------
    def send_git_401(self, message: str = "") -> None:
        self.send_text(401, message + ("\n" if message else ""), {"WWW-Authenticate": 'Basic realm="GitHub"'})

    def handle_git(self, owner: str, name: str, rest: str) -> None:
        self.template = None
        try:
            self.authenticate(git=True)
        except _Handled:
            return
        push = rest == "git-receive-pack" or self.query.get("service") == "git-receive-pack"
        if self.command not in ("GET", "POST") or (rest == "info/refs" and self.command != "GET"):
            self.send_text(405, "Method Not Allowed")
            return
        with self.state.lock:
            repo = self.state.repos.get(f"{owner}/{name}")
            level = self.state.level(self.token, repo) if repo else 0
        if repo is None or level == 0:
            if self.token is None:
                self.send_git_401()
            else:
                self.send_text(404, "Repository not found.")
            return
        if push:
            if self.token is None:
                self.send_git_401()
                return
            if level < LEVELS["push"] or self.token.reject_push:
                self.send_text(403, f"Permission to {repo.full_name}.git denied to {self.token.login}.")
                return
        self.run_http_backend(repo, rest)

    def run_http_backend(self, repo: Repo, rest: str) -> None:
        with (
            tempfile.TemporaryFile(dir=self.state.dir) as body,
            tempfile.TemporaryFile(dir=self.state.dir) as out,
        ):
            length = 0
            if self.command == "POST":
                for piece in self.iter_body():
                    body.write(piece)
                    length += len(piece)
                body.seek(0)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(self.state.dir),
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_PROJECT_ROOT": str(self.state.repos_dir),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": f"/{repo.owner}/{repo.name}.git/{rest}",
                "QUERY_STRING": self.query_string,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(length),
                "REMOTE_ADDR": self.client_address[0],
                "GIT_HTTP_MAX_REQUEST_BUFFER": "1000M",
            }
            if self.token is not None:
                env["REMOTE_USER"] = self.token.login
            for header in ("Content-Encoding", "Git-Protocol", "Accept"):
                if self.headers.get(header):
                    env["HTTP_" + header.upper().replace("-", "_")] = self.headers[header]
            proc = subprocess.run(
                ["git", "http-backend"], check=False, stdin=body, stdout=out, stderr=subprocess.PIPE, env=env
            )
            if proc.stderr:
                sys.stderr.write(proc.stderr.decode(errors="replace"))
            out.seek(0)
            status, headers = 200, []
            while True:
                line = out.readline().rstrip(b"\r\n")
                if not line:
                    break
                key, _, value = line.decode("latin-1").partition(":")
                if key.lower() == "status":
                    status = int(value.strip().split()[0])
                else:
                    headers.append((key.strip(), value.strip()))
            start = out.tell()
            size = out.seek(0, os.SEEK_END) - start
            out.seek(start)
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            shutil.copyfileobj(out, self.wfile, CHUNK)

    # -- admin (test control) API -------------------------------------------------------------
    def handle_admin(self, path: str) -> None:
        s = self.state
        method = self.command
        parts = [unquote(x) for x in path.strip("/").split("/")]

        def reply(body: JSON, status: int = 200) -> None:
            self.send_json(status, body, validate=False)

        try:
            if path == "/health":
                reply({"ok": True, "url": s.base_url, "pid": os.getpid()})
            elif path == "/repos" and method == "POST":
                repo = s.create_repo(self.json_body())
                with s.lock:
                    reply(self.shapes.repo(repo, None), 201)
            elif len(parts) == 4 and parts[0] == "repos" and parts[3] == "commits" and method == "POST":
                repo = self.admin_repo(parts[1], parts[2])
                data = self.json_body()
                sha = s.commit_files(
                    repo,
                    data["branch"],
                    data.get("files", {}),
                    data.get("message", "Update files"),
                    data.get("from") or repo.default_branch,
                )
                reply({"sha": sha, "branch": data["branch"]}, 201)
            elif len(parts) == 4 and parts[0] == "repos" and parts[3] == "branches":
                repo = self.admin_repo(parts[1], parts[2])
                with s.lock:
                    reply(s.branches(repo))
            elif len(parts) == 4 and parts[0] == "repos" and parts[3] == "pulls":
                repo = self.admin_repo(parts[1], parts[2])
                wanted = self.query.get("state", "all")
                with s.lock:
                    pulls = [x for x in s.pulls[repo.full_name] if wanted == "all" or x.state == wanted]
                    reply([self.shapes.pull(x, None, full=True) for x in pulls])
            elif len(parts) == 5 and parts[0] == "repos" and parts[3] == "pulls":
                repo = self.admin_repo(parts[1], parts[2])
                with s.lock:
                    reply(self.shapes.pull(self.find_pull(repo, parts[4]), None, full=True))
            elif len(parts) == 6 and parts[0] == "repos" and parts[5] == "merge" and method == "POST":
                repo = self.admin_repo(parts[1], parts[2])
                data = self.json_body()
                pull = self.find_pull(repo, parts[4])
                sha = s.merge(pull, data.get("login") or repo.owner, data.get("method", "merge"), data.get("message"))
                with s.lock:
                    reply({"sha": sha, "pull": self.shapes.pull(pull, None, full=True)})
            elif len(parts) == 4 and parts[0] == "repos" and parts[3] == "releases":
                repo = self.admin_repo(parts[1], parts[2])
                with s.lock:
                    reply([self.shapes.release(r) for r in s.releases.values() if r.repo == repo.full_name])
            elif path == "/tokens" and method == "POST":
                data = self.json_body()
                for full_name, level in (data.get("permissions") or {}).items():
                    if level not in LEVELS:
                        raise ApiError(422, f"unknown permission {level!r} for {full_name}")
                with s.lock:
                    s.user(data["login"])
                    s.tokens[data["token"]] = Token(
                        data["token"],
                        data["login"],
                        dict(data.get("permissions") or {}),
                        bool(data.get("reject_push", False)),
                    )
                reply({"token": data["token"], "login": data["login"]}, 201)
            elif path == "/reject-push" and method == "POST":
                data = self.json_body()
                with s.lock:
                    s.tokens[data["token"]].reject_push = bool(data.get("reject", True))
                reply({"token": data["token"], "reject_push": s.tokens[data["token"]].reject_push})
            elif path == "/faults" and method == "POST":
                data = self.json_body()
                fault = Fault(
                    path=data["path"],
                    status=int(data["status"]),
                    count=int(data.get("count", 1)),
                    method=data.get("method"),
                    message=data.get("message", "Server Error"),
                )
                with s.lock:
                    s.faults.append(fault)
                reply({"path": fault.path, "status": fault.status, "count": fault.count}, 201)
            elif path == "/schema-errors":
                with s.lock:
                    reply(list(s.schema_errors))
            elif path == "/unimplemented":
                with s.lock:
                    reply(list(s.unimplemented))
            elif path == "/requests" and method == "DELETE":
                with s.lock:
                    s.requests.clear()
                reply({"ok": True})
            elif path == "/requests":
                with s.lock:
                    reply(list(s.requests))
            else:
                reply({"message": f"unknown admin endpoint {method} {path}"}, 404)
        except ApiError as e:
            reply({"message": e.message, "errors": e.errors}, e.status)
        except (KeyError, TypeError, ValueError, GitError) as e:
            reply({"message": f"{type(e).__name__}: {e}"}, 400)

    def admin_repo(self, owner: str, name: str) -> Repo:
        repo = self.state.repos.get(f"{owner}/{name}")
        if repo is None:
            raise ApiError(404, f"no repository {owner}/{name}")
        return repo


class _Handled(Exception):
    """The response was already sent."""


H = GitHubHandler
API_ROUTES = [
    Route("GET", "/user", H.get_user),
    Route("GET", "/repos/{owner}/{repo}", H.get_repo),
    Route("GET", "/repos/{owner}/{repo}/pulls", H.list_pulls),
    Route("POST", "/repos/{owner}/{repo}/pulls", H.create_pull),
    Route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", H.get_pull),
    Route("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}", H.update_pull),
    Route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files", H.pull_files),
    Route("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", H.merge_pull),
    Route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/labels", H.list_labels),
    Route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels", H.add_labels),
    Route("GET", "/repos/{owner}/{repo}/releases", H.list_releases),
    Route("POST", "/repos/{owner}/{repo}/releases", H.create_release),
    Route("GET", "/repos/{owner}/{repo}/releases/assets/{asset_id}", H.get_asset),
    Route("DELETE", "/repos/{owner}/{repo}/releases/assets/{asset_id}", H.delete_asset),
    Route("GET", "/repos/{owner}/{repo}/releases/tags/{tag}", H.release_by_tag),
    Route("GET", "/repos/{owner}/{repo}/releases/{release_id}", H.get_release),
    Route("PATCH", "/repos/{owner}/{repo}/releases/{release_id}", H.update_release),
    Route("DELETE", "/repos/{owner}/{repo}/releases/{release_id}", H.delete_release),
    Route("GET", "/repos/{owner}/{repo}/releases/{release_id}/assets", H.list_assets),
]
UPLOAD_ROUTES = [
    Route("POST", "/repos/{owner}/{repo}/releases/{release_id}/assets", H.upload_asset),
]


class GitHubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], state: State) -> None:
        super().__init__(address, GitHubHandler)
        self.state = state
        self.shapes = Shapes(state)
        state.base_url = f"http://{address[0]}:{self.server_address[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--state-dir", type=Path, required=True, help="folder for bare repositories and assets")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", type=Path, help="write the port here once listening")
    parser.add_argument("--openapi", type=Path, help="GitHub's api.github.com.json (default: tests/openapi/...)")
    args = parser.parse_args(argv)

    openapi = OpenAPI(args.openapi)
    state = State(args.state_dir.resolve(), openapi)
    server = GitHubHTTPServer((args.host, args.port), state)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(f"{port}\n")
        tmp.replace(args.port_file)
    print(f"github test server listening on {state.base_url} (pid {os.getpid()})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
