"""Change detection: which recipes a run builds, and which tags it removes.

Mirrors what users expect from the GitHub event that started the run: a push builds the
recipes changed in ``before..after``; a first push, a force-push, a manual or scheduled
run builds everything; a pull request builds and tests but publishes nothing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .gitrepo import Git
from .model import Recipe
from .recipes import tag_of

ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class Changes:
    """What a run should do with the repository's recipes."""

    build_all: bool
    reason: str
    changed: frozenset[str] = field(default_factory=frozenset)
    """Paths (``/``-separated, relative) added or modified in the range."""
    deleted: frozenset[str] = field(default_factory=frozenset)
    publish: bool = True
    revision: str = ""

    def selected(self, recipes: Sequence[Recipe]) -> list[Recipe]:
        if self.build_all:
            return list(recipes)
        return [r for r in recipes if r.path.as_posix() in self.changed]

    def removed_tags(self, recipes: Sequence[Recipe]) -> list[str]:
        """Tags whose recipe was deleted in the range and that no remaining recipe builds."""
        alive = {r.tag for r in recipes}
        tags = {tag_of(PurePosixPath(p).name) for p in self.deleted}
        return sorted(t for t in tags if t is not None and t not in alive)


def _git(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The runner's workspace belongs to another user: Git() trusts it (safe.directory).
    return Git(workspace).run(*args, check=False)


def _has_commit(workspace: Path, sha: str) -> bool:
    return _git(workspace, "cat-file", "-e", f"{sha}^{{commit}}").returncode == 0


def diff(workspace: Path, base: str, head: str) -> tuple[set[str], set[str]]:
    """(added or modified, deleted) paths between two commits; renames count as both."""
    out = _git(workspace, "diff", "--name-status", "--no-renames", "-z", base, head)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    changed: set[str] = set()
    deleted: set[str] = set()
    fields = out.stdout.split("\0")
    for status, path in zip(fields[0::2], fields[1::2], strict=False):
        (deleted if status.startswith("D") else changed).add(path)
    return changed, deleted


def head_revision(workspace: Path) -> str:
    out = _git(workspace, "rev-parse", "HEAD")
    return out.stdout.strip() if out.returncode == 0 else ""


def from_event(event_name: str, event: Mapping[str, Any], workspace: Path, sha: str = "") -> Changes:
    """The changes the GitHub event that started this run asks for."""
    revision = sha or head_revision(workspace)
    if event_name == "push":
        before, after = str(event.get("before") or ""), str(event.get("after") or revision)
        if event.get("created") or not before or before == ZERO_SHA:
            return Changes(True, "first push of this branch: building every recipe", revision=after)
        if event.get("forced"):
            return Changes(True, "force-push: building every recipe", revision=after)
        return _range(workspace, before, after, publish=True)
    if event_name in ("pull_request", "pull_request_target"):
        pr = event.get("pull_request") or {}
        base = str((pr.get("base") or {}).get("sha") or "")
        head = str((pr.get("head") or {}).get("sha") or revision)
        if not base:
            return Changes(
                True, "pull request without a base commit: building every recipe", publish=False, revision=head
            )
        merge_base = _git(workspace, "merge-base", base, head).stdout.strip() or base
        return _range(workspace, merge_base, head, publish=False)
    what = {"workflow_dispatch": "manual run", "schedule": "scheduled run"}.get(
        event_name, f"'{event_name or 'manual'}' event"
    )
    return Changes(True, f"{what}: building every recipe", revision=revision)


def since(workspace: Path, base: str) -> Changes:
    """The CLI's ``--since REV``: the recipes changed from REV to HEAD."""
    return _range(workspace, base, head_revision(workspace) or "HEAD", publish=True)


def _range(workspace: Path, base: str, head: str, publish: bool) -> Changes:
    if not (_has_commit(workspace, base) and _has_commit(workspace, head)):
        return Changes(
            True,
            f"commit {base[:12]} is not in the checkout (a shallow clone? use fetch-depth: 0): building every recipe",
            publish=publish,
            revision=head,
        )
    changed, deleted = diff(workspace, base, head)
    return Changes(
        False,
        f"building the recipes changed in {base[:12]}..{head[:12]}",
        changed=frozenset(changed),
        deleted=frozenset(deleted),
        publish=publish,
        revision=head,
    )
