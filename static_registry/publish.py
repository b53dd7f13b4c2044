"""Publish: one commit on ``update/<owner>/<repo>`` in the registry, and its pull request.

The branch is rebuilt from the registry's base branch each time: base + the update still
waiting on the branch (if any) + this run's changes, as one commit. It is pushed with
``--force-with-lease``; when another run got there first the push is refused, and the
whole step is redone on top of what that run pushed, so both runs' changes end up in it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import branch as decide
from .errors import PublishError, UserError
from .gitrepo import Git, GitError, auth_config
from .pulls import PAT_HINT, PullRequests

REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
IDENTITY_RE = re.compile(r"^([^<>]+?)\s*<([^<>]+)>$")
PUSH_ATTEMPTS = 5
RACE_MARKERS = (
    "stale info",
    "[rejected]",
    "fetch first",
    "cannot lock ref",
    "failed to update ref",
    "reference already exists",
)
"""What git says when another push to the same branch won the race."""


@dataclass(frozen=True)
class Registry:
    """Where the registry repository is: ``owner/repo`` on GitHub, or a local git repository."""

    name: str
    url: str
    local: bool

    @classmethod
    def parse(cls, value: str, server_url: str, workspace: Path) -> Registry:
        value = value.strip()
        if not value:
            raise UserError("Input 'registry' is empty; set it to the registry repository, e.g. myorg/registry.")
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = workspace / path
        looks_local = value.startswith(("/", ".", "~")) or path.exists()
        if looks_local:
            if not (path / ".git").exists() and not (path / "HEAD").is_file():
                raise UserError(
                    f"Input 'registry' is {value}, a local path that is not a git repository; "
                    f"create it with 'git init {value}' or give owner/repo."
                )
            return cls(str(path), str(path.resolve()), True)
        if not REPO_RE.match(value):
            raise UserError(f"Input 'registry' is '{value}', which is neither owner/repo nor a local git repository.")
        return cls(value, f"{server_url.rstrip('/')}/{value}.git", False)


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    @classmethod
    def parse(cls, value: str, input_name: str) -> Identity:
        m = IDENTITY_RE.match(value.strip())
        if not m:
            raise UserError(f"Input '{input_name}' is '{value}'; write it as 'Display Name <email@example.com>'.")
        return cls(m.group(1), m.group(2))


@dataclass(frozen=True)
class PublishRequest:
    registry: Registry
    collection: str
    branch: str
    base: str
    """Base branch; empty → the registry's default branch."""
    token: str
    api_url: str
    committer: Identity
    author: Identity
    push_to_fork: str = ""
    draft: bool = False
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishResult:
    operation: decide.Operation
    branch: str
    commit: str
    pushed: bool
    number: int | None = None
    url: str = ""
    note: str = ""


@dataclass(frozen=True)
class TagChanges:
    """How the proposed branch differs from the base, tag by tag (this run's changes and
    any update carried over)."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Texts:
    commit_message: str
    title: str
    body: str


Apply = Callable[[Path], None]
"""Writes this run's changes into a registry work tree."""
Compose = Callable[[Path, TagChanges], Texts]
"""Writes the commit message and pull request title and body from the result."""

MANIFEST_PATH_RE = re.compile(r"^[^/]+/[^/]+/manifests/([^/]+)/README\.md$")


def tag_changes(name_status: str) -> TagChanges:
    """Parse ``git diff --name-status -z`` output restricted to one collection."""
    added: list[str] = []
    updated: list[str] = []
    removed: list[str] = []
    fields = name_status.split("\0")
    for status, path in zip(fields[0::2], fields[1::2], strict=False):
        m = MANIFEST_PATH_RE.match(path)
        if not m:
            continue
        {"A": added, "D": removed}.get(status[:1], updated).append(m.group(1))
    return TagChanges(tuple(sorted(added)), tuple(sorted(updated)), tuple(sorted(removed)))


def _push_error(e: GitError, registry: str, url: str) -> PublishError:
    text = e.stderr
    if "403" in text or "denied" in text.lower() or "not allowed" in text.lower():
        return PublishError(
            f"The registry {registry} refused the push of the update branch (permission denied); {PAT_HINT}."
        )
    if "401" in text or "Authentication failed" in text or "could not read Username" in text:
        return PublishError(
            f"The registry {registry} asked for credentials the token did not satisfy; set input 'token' to a token "
            "that can push to it (the container repository's GITHUB_TOKEN cannot)."
        )
    if "not found" in text.lower() or "does not appear to be a git repository" in text:
        return PublishError(
            f"The registry repository {registry} was not found at {url}; check input 'registry' and that the token can see it."
        )
    last = [line for line in text.strip().splitlines() if line.strip()][-1:] or ["git failed"]
    return PublishError(f"git could not reach the registry {registry}: {last[0].strip()}")


class Publisher:
    def __init__(self, request: PublishRequest, log: Callable[[str], None]) -> None:
        self.request = request
        self.log = log
        r = request
        self.push_url = r.registry.url
        self.head_owner = r.registry.name.split("/")[0] if not r.registry.local else ""
        if r.push_to_fork:
            if not REPO_RE.match(r.push_to_fork):
                raise UserError(f"Input 'push-to-fork' is '{r.push_to_fork}'; write it as owner/repo.")
            self.push_url = re.sub(r"[^/]+/[^/]+\.git$", f"{r.push_to_fork}.git", r.registry.url)
            self.head_owner = r.push_to_fork.split("/")[0]
        self.pulls = None if r.registry.local else PullRequests(r.api_url, r.token, r.registry.name)

    def preflight(self) -> None:
        """Refuse early, before anything is built, what would fail at the push."""
        r = self.request
        if r.registry.local:
            return
        if not r.token:
            raise UserError(
                f"Input 'token' is empty, so nothing can be pushed to the registry {r.registry.name}; {PAT_HINT}."
            )
        assert self.pulls is not None
        if not r.push_to_fork and self.pulls.can_push() is False:
            raise PublishError(f"The token in input 'token' may read {r.registry.name} but not push to it; {PAT_HINT}.")

    # ------------------------------------------------------------------ git plumbing

    def _fetch(self, git: Git, base: str) -> tuple[str, str | None]:
        """Fetch base and update branch; returns (base tip, branch tip or None)."""
        b = self.request.branch
        try:
            git.run("fetch", "--no-tags", "--prune", "origin", f"+refs/heads/{base}:refs/remotes/origin/{base}")
        except GitError as e:
            if "couldn't find remote ref" in e.stderr:
                raise PublishError(
                    f"The registry {self.request.registry.name} has no branch '{base}'; set input 'base' to its default branch."
                ) from e
            raise _push_error(e, self.request.registry.name, self.request.registry.url) from e
        proc = git.run("fetch", "--no-tags", "push", f"+refs/heads/{b}:refs/remotes/push/{b}", check=False)
        if proc.returncode != 0 and "couldn't find remote ref" not in proc.stderr:
            raise _push_error(
                GitError(["fetch"], proc.returncode, proc.stderr), self.request.registry.name, self.push_url
            )
        base_tip = git.rev(f"refs/remotes/origin/{base}")
        assert base_tip is not None
        return base_tip, git.rev(f"refs/remotes/push/{b}") if proc.returncode == 0 else None

    def _default_branch(self, git: Git) -> str:
        if self.request.base:
            return self.request.base
        out = git.run("ls-remote", "--symref", "origin", "HEAD", check=False)
        if out.returncode != 0:
            raise _push_error(
                GitError(["ls-remote"], out.returncode, out.stderr),
                self.request.registry.name,
                self.request.registry.url,
            )
        m = re.search(r"^ref: refs/heads/(\S+)\s+HEAD", out.stdout, re.M)
        if not m:
            raise PublishError(
                f"The registry {self.request.registry.name} has no default branch (is it empty?); push a first commit to it or set input 'base'."
            )
        return m.group(1)

    def _carry_over(self, git: Git, base_tip: str, tip: str) -> None:
        """Bring the waiting update's changes to this collection onto the fresh base.

        A path-level three-way merge: files the waiting update changed since it forked
        from the base come from the branch; everything else comes from the base.
        """
        collection = self.request.collection
        fork = git.out("merge-base", base_tip, tip)
        changed = git.out("diff", "--name-status", "--no-renames", "-z", fork, tip, "--", collection).split("\0")
        for status, path in zip(changed[0::2], changed[1::2], strict=False):
            if status.startswith("D"):
                git.run("rm", "-q", "--ignore-unmatch", "--", path)
            elif path:
                git.run("checkout", tip, "--", path)

    # ------------------------------------------------------------------ the step

    def publish(self, apply: Apply, compose: Compose) -> PublishResult:
        workdir = Path(tempfile.mkdtemp(prefix="static-registry-"))
        try:
            return self._publish(workdir, apply, compose)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _publish(self, workdir: Path, apply: Apply, compose: Compose) -> PublishResult:
        r = self.request
        config = {**auth_config(r.registry.url, r.token), **auth_config(self.push_url, r.token)}
        git = Git(workdir, config=config)
        git.run("init", "-q")
        git.run("remote", "add", "origin", r.registry.url)
        git.run("remote", "add", "push", self.push_url)
        base = self._default_branch(git)
        head = f"{self.head_owner}:{r.branch}"
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            base_tip, tip = self._fetch(git, base)
            remote = decide.RemoteBranch(
                tip=tip,
                merged=tip is not None and git.is_ancestor(tip, base_tip),
                closed_pr_at_tip=bool(tip and self.pulls and self.pulls.closed_at(head, base, tip)),
            )
            git.run("checkout", "-q", "-f", "-B", r.branch, base_tip)
            git.run("clean", "-q", "-fdx")
            if decide.carry_over(remote):
                assert tip is not None
                self.log(f"keeping the update waiting on {r.branch} ({tip[:12]})")
                self._carry_over(git, base_tip, tip)
            apply(workdir)
            git.run("add", "-A", "--", r.collection)
            new_tree = git.out("write-tree")
            state = decide.BranchState(
                differs_from_base=new_tree != git.tree(base_tip),
                same_as_remote=tip is not None
                and new_tree == git.tree(tip)
                and git.out("rev-parse", f"{tip}^") == base_tip,
            )
            if not state.differs_from_base:
                self.log(f"the registry's {base} already holds these files: nothing to propose")
                return PublishResult("none", r.branch, base_tip, pushed=False)
            changes = tag_changes(
                git.out("diff", "--cached", "--name-status", "--no-renames", "-z", base_tip, "--", r.collection)
            )
            texts = compose(workdir, changes)
            commit = tip or ""
            if decide.needs_push(state):
                commit = self._commit(git, new_tree, base_tip, texts.commit_message)
                lease = f"--force-with-lease=refs/heads/{r.branch}:{tip or ''}"
                push = git.run("push", "--porcelain", lease, "push", f"{commit}:refs/heads/{r.branch}", check=False)
                if push.returncode != 0:
                    said = push.stdout + push.stderr
                    if any(m in said for m in RACE_MARKERS):
                        self.log(
                            f"{r.branch} moved while this run worked (attempt {attempt}/{PUSH_ATTEMPTS}): redoing on top of it"
                        )
                        time.sleep(min(0.2 * 2**attempt, 5.0))
                        continue
                    raise _push_error(GitError(["push"], push.returncode, said), r.registry.name, self.push_url)
                self.log(f"pushed {commit[:12]} to {r.branch}")
            else:
                self.log(f"{r.branch} already holds exactly these changes")
            return self._pull_request(state, head, base, commit, texts, existed=tip is not None)
        raise PublishError(
            f"The update branch {r.branch} kept moving during {PUSH_ATTEMPTS} attempts; other runs are "
            "publishing to it at the same time: re-run this job."
        )

    def _commit(self, git: Git, tree: str, parent: str, message: str) -> str:
        r = self.request
        identity = [
            "-c", f"user.name={r.committer.name}", "-c", f"user.email={r.committer.email}",
            "-c", f"author.name={r.author.name}", "-c", f"author.email={r.author.email}",
        ]  # fmt: skip
        proc = git.run(*identity, "commit-tree", tree, "-p", parent, "-F", "-", stdin=message, check=False)
        if proc.returncode != 0:
            raise GitError(["commit-tree"], proc.returncode, proc.stderr)
        return proc.stdout.strip()

    def _pull_request(
        self, state: decide.BranchState, head: str, base: str, commit: str, texts: Texts, existed: bool
    ) -> PublishResult:
        r = self.request
        if self.pulls is None:
            note = (
                f"Review with: git -C {r.registry.url} diff {base}...{r.branch}\n"
                f"Merge with:  git -C {r.registry.url} merge --ff-only {r.branch}   (on {base})"
            )
            op: decide.Operation = "none" if state.same_as_remote else "updated" if existed else "created"
            return PublishResult(op, r.branch, commit, pushed=not state.same_as_remote, note=note)
        existing = self.pulls.find_open(head, base)
        op, action = decide.operation(state, existing is not None)
        if action == "create":
            ref, created = self.pulls.create(head, base, texts.title, texts.body, r.draft, r.labels)
            op = "created" if created else "updated"
        elif action == "update":
            assert existing is not None
            ref = self.pulls.update(existing, texts.title, texts.body)
        else:
            assert existing is not None
            return PublishResult(op, r.branch, commit, pushed=False, number=existing.number, url=existing.html_url)
        return PublishResult(op, r.branch, commit, pushed=not state.same_as_remote, number=ref.number, url=ref.url)
