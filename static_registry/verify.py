"""``verify``: check a pull request on the registry repository before anyone merges it.

Rules, for the changed files of the pull request (``git diff base...head`` or the GitHub
API's ``GET /repos/{owner}/{repo}/pulls/{n}/files``):

* every path is plain: relative, no ``..`` or ``.`` segments, no backslashes, no odd
  characters; no symbolic links or submodules;
* every changed path lies under the ONE collection named by the head branch
  (``update/<owner>/<repo>`` → ``<owner>/<repo>/``); nothing outside collections changes
  (site templates, workflows, ``.github/``) unless ``allow-paths`` lists it;
* a pull request from a fork only touches collections of the fork's owner;
* a collection holds only ``README.md``, ``tags/README.md`` and ``manifests/<tag>/README.md``,
  each with valid front matter (errors carry line numbers) and a valid tag;
* each layer URL of an added or changed manifest is https (http only with ``allow-http``),
  on an allowed host when ``allowed-hosts`` is given, reachable, and the object's size and
  sha256 match — streamed in 1 MiB chunks, several downloads at once, transient errors
  retried with backoff.

The result is a list of ``Finding`` (path, line, one-sentence message) and a Markdown summary.
"""

from __future__ import annotations

import fnmatch
import http.client
import json
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .documents import (
    COLLECTION_LAYOUT,
    COLLECTION_RE,
    MANIFEST_LAYOUT,
    TAG_RE,
    TAGS_LAYOUT,
    Finding,
    Manifest,
    split_front_matter,
)
from .errors import UserError
from .pull import USER_AGENT, SizeExceeded, describe_error, stream_url, with_retries
from .render import RESERVED_OWNERS, human_size

PATH_RE = re.compile(r"^[A-Za-z0-9._@+-]+(/[A-Za-z0-9._@+-]+)*$")
SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"


@dataclass(frozen=True)
class VerifyOptions:
    branch_prefix: str = "update/"
    allow_paths: Sequence[str] = ()
    """fnmatch globs of paths outside collections that may change (``*`` also matches ``/``)."""
    allow_http: bool = False
    allowed_hosts: Sequence[str] = ()
    """Host names (``*.example.org`` globs allowed); empty means any host."""
    max_parallel: int = 4
    timeout: float = 60.0
    """Seconds without data before a download attempt fails."""
    retries: int = 3
    retry_delay: float = 2.0
    """First backoff delay in seconds; it doubles on every retry."""
    check_objects: bool = True


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str
    """``added``, ``modified`` or ``removed`` (a rename is a removal plus an addition)."""
    mode: str | None = None
    """The new git file mode when known (``100644``, ``120000`` for a symlink…)."""


@dataclass
class ObjectRow:
    collection: str
    tag: str
    size: int | None
    digest: str
    url: str
    result: str
    ok: bool


@dataclass
class VerifyResult:
    findings: list[Finding] = field(default_factory=list)
    rows: list[ObjectRow] = field(default_factory=list)
    collection: str | None = None
    changed: int = 0

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def summary_markdown(self) -> str:
        head = "✅ Registry pull request verified" if self.ok else "❌ Registry pull request rejected"
        lines = [f"## {head}", ""]
        what = f"collection `{self.collection}`" if self.collection else "no collection"
        lines += [f"{self.changed} changed files, {what}.", ""]
        if self.rows:
            lines += ["| Collection | Tag | Size | Digest | URL | Result |", "| --- | --- | --- | --- | --- | --- |"]
            for r in self.rows:
                size = human_size(r.size) if r.size is not None else ""
                short = f"`{r.digest[:19]}…`" if r.digest else ""
                url = f"`{_md_cell(r.url)}`" if r.url else ""
                mark = "✅" if r.ok else "❌"
                lines.append(
                    f"| `{r.collection}` | `{r.tag}` | {size} | {short} | {url} | {mark} {_md_cell(r.result)} |"
                )
            lines.append("")
        errors = [f for f in self.findings if f.severity == "error"]
        warnings = [f for f in self.findings if f.severity != "error"]
        for title, items in (("Problems", errors), ("Warnings", warnings)):
            if items:
                lines += [f"### {title}", ""]
                for f in items:
                    where = f"`{_md_cell(f.path)}`" + (f" line {f.line}" if f.line else "") if f.path else ""
                    lines.append(f"- {where}{': ' if where else ''}{f.message}")
                lines.append("")
        return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


# ---------------------------------------------------------------------------- changed files


def _git(repo: Path, *args: str) -> bytes:
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), "-c", "core.quotePath=false", *args],
            check=True,
            capture_output=True,
        )
    except FileNotFoundError as e:
        raise UserError("git is not installed; verify needs it to compare the pull request's branches.") from e
    except subprocess.CalledProcessError as e:
        message = e.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UserError(
            f"git {' '.join(args[:2])} failed in {repo} ({message[-1] if message else 'no message'}); "
            "check out the registry with fetch-depth: 0 so both branches are there."
        ) from e
    return result.stdout


def changed_files_git(repo: Path, base: str, head: str) -> list[ChangedFile]:
    """Files changed on ``head`` since it left ``base``: ``git diff --raw base...head``."""
    out = _git(repo, "diff", "--raw", "-z", "--no-renames", "--no-ext-diff", f"{base}...{head}", "--")
    tokens = out.decode("utf-8", "surrogateescape").split("\0")
    files: list[ChangedFile] = []
    i = 0
    while i + 1 < len(tokens) and tokens[i].startswith(":"):
        meta = tokens[i][1:].split()
        path = tokens[i + 1]
        i += 2
        new_mode, status = meta[1], meta[4][0]
        if status == "D":
            files.append(ChangedFile(path, "removed", None))
        else:
            files.append(ChangedFile(path, "added" if status == "A" else "modified", new_mode))
    return files


@dataclass(frozen=True)
class PullRequestInfo:
    number: int
    head_ref: str
    head_sha: str
    head_repository: str
    base_repository: str
    files: list[ChangedFile]


def _api_get(url: str, token: str | None, timeout: float) -> Any:
    headers = {"Accept": "application/vnd.github+json", "User-Agent": USER_AGENT, "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)

    def get() -> Any:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))

    try:
        return with_retries(get, retries=2, delay=1.0)
    except urllib.error.HTTPError as e:
        hint = " (check the token's access to the registry repository)" if e.code in (401, 403, 404) else ""
        raise UserError(f"GitHub API request {url} failed with HTTP {e.code}{hint}.") from None
    except (OSError, http.client.HTTPException) as e:
        raise UserError(f"Could not reach the GitHub API at {url} ({describe_error(e)}).") from None


def pull_request_files(
    api_url: str, repository: str, number: int, token: str | None = None, timeout: float = 30.0
) -> PullRequestInfo:
    """The pull request's head branch, head/base repositories and changed files, from the API."""
    base = f"{api_url.rstrip('/')}/repos/{repository}/pulls/{number}"
    pr = _api_get(base, token, timeout)
    head = pr.get("head") or {}
    head_repo = (head.get("repo") or {}).get("full_name") or ""
    base_repo = ((pr.get("base") or {}).get("repo") or {}).get("full_name") or repository
    files: list[ChangedFile] = []
    page = 1
    while True:
        batch = _api_get(f"{base}/files?per_page=100&page={page}", token, timeout)
        if not isinstance(batch, list):
            raise UserError(f"GitHub API {base}/files did not return a list of files.")
        for item in batch:
            status = str(item.get("status", "modified"))
            name = str(item.get("filename", ""))
            if status == "renamed":
                previous = item.get("previous_filename")
                if previous:
                    files.append(ChangedFile(str(previous), "removed"))
                files.append(ChangedFile(name, "added"))
            elif status == "removed":
                files.append(ChangedFile(name, "removed"))
            elif status == "unchanged":
                continue
            else:
                files.append(ChangedFile(name, "added" if status in ("added", "copied") else "modified"))
        if len(batch) < 100 or page >= 30:
            break
        page += 1
    return PullRequestInfo(
        number=number,
        head_ref=str(head.get("ref", "")),
        head_sha=str(head.get("sha", "")),
        head_repository=str(head_repo),
        base_repository=str(base_repo),
        files=files,
    )


# ---------------------------------------------------------------------------- reading files


class _Reader:
    """Reads the head version of files: from a git revision, or from the work tree."""

    def __init__(self, repo: Path, revision: str | None) -> None:
        self.repo = repo
        self.revision = revision

    def mode(self, path: str) -> str | None:
        if self.revision is not None:
            return None
        full = self.repo / path
        if full.is_symlink():
            return SYMLINK_MODE
        return "100644" if full.exists() else None

    def read(self, path: str) -> bytes | None:
        if self.revision is not None:
            try:
                return _git(self.repo, "cat-file", "blob", f"{self.revision}:{path}")
            except UserError:
                return None
        full = self.repo / path
        if full.is_symlink() or not full.is_file():
            return None
        return full.read_bytes()


def _key_line(text: str, key: str, value: str | None = None) -> int | None:
    """The 1-based line of ``key:`` (or of ``value``) in a file's text."""
    for number, line in enumerate(text.splitlines(), start=1):
        if value is not None and value in line:
            return number
        if value is None and re.match(rf"^\s*-?\s*{re.escape(key)}\s*:", line):
            return number
    return None


# ---------------------------------------------------------------------------- the checks


@dataclass
class _Object:
    path: str
    line: int | None
    collection: str
    tag: str
    size: int
    digest: str
    url: str


def collection_of_branch(branch: str, prefix: str) -> str | None:
    """``update/<owner>/<repo>`` → ``<owner>/<repo>``; None when the branch names none."""
    for strip in ("refs/heads/",):
        branch = branch.removeprefix(strip)
    if not prefix or not branch.startswith(prefix):
        return None
    name = branch[len(prefix) :]
    return name if COLLECTION_RE.match(name) else None


def verify(
    registry: Path,
    changes: Sequence[ChangedFile],
    *,
    head_branch: str,
    head_repository: str | None = None,
    base_repository: str | None = None,
    head_revision: str | None = None,
    options: VerifyOptions | None = None,
) -> VerifyResult:
    """Check the changed files of one registry pull request.

    ``registry`` is the registry checkout. File contents come from ``head_revision`` when
    given (a git revision), else from the work tree (the pull request's checkout).
    ``head_repository``/``base_repository`` (``owner/name``) detect pull requests from forks.
    """
    opts = options or VerifyOptions()
    result = VerifyResult(changed=len(changes))
    findings = result.findings
    reader = _Reader(registry, head_revision)
    collection = collection_of_branch(head_branch, opts.branch_prefix)
    result.collection = collection
    fork_owner: str | None = None
    if head_repository and base_repository and head_repository.lower() != base_repository.lower():
        fork_owner = head_repository.split("/")[0].lower()
    if collection and fork_owner and collection.split("/")[0] != fork_owner:
        findings.append(
            Finding(
                f"{collection}/",
                None,
                f"This pull request comes from the fork {head_repository}, so it may only change collections "
                f"of '{fork_owner}', not '{collection}'.",
            )
        )
    if collection and collection.split("/")[0] in RESERVED_OWNERS:
        findings.append(
            Finding(f"{collection}/", None, f"Collection '{collection}' uses the reserved owner name 'v2'.")
        )
    if not changes:
        findings.append(Finding("", None, "The pull request changes no files.", "warning"))
    objects: list[_Object] = []
    for change in changes:
        _check_path(change, reader, collection, head_branch, opts, findings, objects, result)
    if opts.check_objects and objects:
        _check_objects(objects, opts, findings, result)
    return result


def _allowed(path: str, globs: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, g) or fnmatch.fnmatchcase(path, g.rstrip("/") + "/*") for g in globs)


def _check_path(
    change: ChangedFile,
    reader: _Reader,
    collection: str | None,
    head_branch: str,
    opts: VerifyOptions,
    findings: list[Finding],
    objects: list[_Object],
    result: VerifyResult,
) -> None:
    path = change.path

    def fail(message: str, line: int | None = None) -> None:
        findings.append(Finding(path, line, message))

    segments = path.split("/")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return fail(f"Path '{path}' is absolute; registry files must be relative paths inside a collection.")
    if "\\" in path:
        return fail(f"Path '{path}' contains a backslash; use '/' separated paths inside a collection.")
    if any(s in ("..", ".", "") for s in segments):
        return fail(f"Path '{path}' contains '..', '.' or an empty segment; files must stay inside their collection.")
    if not PATH_RE.match(path):
        return fail(f"Path '{path}' contains characters other than letters, digits and . _ - @ +; rename it.")
    mode = change.mode if change.mode is not None else (reader.mode(path) if change.status != "removed" else None)
    if mode == SYMLINK_MODE:
        return fail(f"'{path}' is a symbolic link; the registry accepts only regular files.")
    if mode == SUBMODULE_MODE:
        return fail(f"'{path}' is a git submodule; the registry accepts only regular files.")

    ns = "/".join(segments[:2])
    inside = collection is not None and len(segments) > 2 and ns == collection
    if not inside:
        if _allowed(path, opts.allow_paths):
            return None
        if collection is None:
            return fail(
                f"Branch '{head_branch}' does not name a collection ('{opts.branch_prefix}<owner>/<repo>'), "
                f"so it may not change '{path}'; only paths in allow-paths may change on other branches."
            )
        if len(segments) > 2 and COLLECTION_RE.match(ns) and segments[2] in ("README.md", "tags", "manifests"):
            return fail(
                f"'{path}' belongs to collection '{ns}', but branch '{head_branch}' may only change '{collection}/'."
            )
        return fail(
            f"'{path}' is outside collection '{collection}/'; registry update pull requests may not change "
            "site files, workflows or other collections."
        )

    rest = segments[2:]
    kind: str
    tag = ""
    if rest == ["README.md"]:
        kind = "collection"
    elif rest == ["tags", "README.md"]:
        kind = "tags"
    elif len(rest) == 3 and rest[0] == "manifests" and rest[2] == "README.md":
        tag = rest[1]
        if not TAG_RE.match(tag):
            return fail(f"'{tag}' in '{path}' is not a valid tag (letters, digits, '.', '_', '-'; at most 128).")
        kind = "manifest"
    else:
        return fail(
            f"'{path}' is not a registry file; a collection holds only README.md, tags/README.md "
            "and manifests/<tag>/README.md."
        )
    if change.status == "removed":
        if kind == "manifest":
            result.rows.append(ObjectRow(ns, tag, None, "", "", "tag removed", True))
        return None

    raw = reader.read(path)
    if raw is None:
        return fail(f"'{path}' is listed as changed but is not a regular file in the pull request's head.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return fail(f"'{path}' is not UTF-8 text.")
    try:
        data, _ = split_front_matter(text, path)
    except UserError as e:
        return fail(e.message, e.line)
    layout = data.get("layout")
    expected = {"collection": COLLECTION_LAYOUT, "tags": TAGS_LAYOUT, "manifest": MANIFEST_LAYOUT}[kind]
    if layout != expected:
        return fail(
            f"'{path}' must have 'layout: {expected}' in its front matter, not '{layout}'.",
            _key_line(text, "layout") or 2,
        )
    if kind == "collection":
        description = data.get("description")
        if description is not None and not isinstance(description, str):
            return fail(f"'description' in '{path}' must be text.", _key_line(text, "description"))
        return None
    if kind == "tags":
        return None
    try:
        manifest = Manifest.from_front_matter(data, ns, tag, path)
    except UserError as e:
        key = next((k for k in ("size", "digest", "layers", "url", "labels") if f"'{k}'" in e.message), "layers")
        return fail(e.message, _key_line(text, key) or e.line)
    declared = data.get("tag")
    if declared is not None and str(declared) != tag:
        return fail(
            f"'{path}' says tag '{declared}' but lies in folder '{tag}'; they must agree.", _key_line(text, "tag")
        )
    first = manifest.layers[0]
    if manifest.digest != first.digest or manifest.size != first.size:
        return fail(
            f"The size and digest at the top of '{path}' must equal those of its first layer (the SIF image).",
            _key_line(text, "digest"),
        )
    for layer in manifest.layers:
        line = _key_line(text, "url", layer.url)
        problem = _url_problem(layer.url, opts)
        if problem:
            fail(problem, line)
            result.rows.append(ObjectRow(ns, tag, layer.size, layer.digest, layer.url, problem, False))
            continue
        objects.append(_Object(path, line, ns, tag, layer.size, layer.digest, layer.url))
    return None


def _url_problem(url: str, opts: VerifyOptions) -> str | None:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "http" and not opts.allow_http:
        return f"Layer URL {url} uses http; use an https URL (allow-http is only for test registries)."
    if scheme not in ("https", "http"):
        return f"Layer URL {url} must be an https URL."
    host = (parts.hostname or "").lower()
    if not host:
        return f"Layer URL {url} has no host name."
    if parts.username or parts.password:
        return f"Layer URL {url} contains credentials; manifests must hold public download URLs."
    if opts.allowed_hosts and not any(fnmatch.fnmatchcase(host, h.lower()) for h in opts.allowed_hosts):
        return f"Layer URL host '{host}' is not in allowed-hosts ({', '.join(opts.allowed_hosts)})."
    return None


def _check_objects(objects: list[_Object], opts: VerifyOptions, findings: list[Finding], result: VerifyResult) -> None:
    unique: dict[tuple[str, int, str], list[_Object]] = {}
    for o in objects:
        unique.setdefault((o.url, o.size, o.digest), []).append(o)

    def check(key: tuple[str, int, str]) -> str | None:
        url, size, digest = key
        try:
            got_size, got_hex = with_retries(
                lambda: stream_url(url, None, timeout=opts.timeout, max_size=size),
                retries=opts.retries,
                delay=opts.retry_delay,
            )
        except SizeExceeded:
            return f"The object at {url} is larger than the {size} bytes the manifest says."
        except (OSError, http.client.HTTPException, ValueError) as e:
            return f"Layer URL {url} could not be downloaded ({describe_error(e)})."
        if got_size != size:
            return f"The object at {url} is {got_size} bytes, but the manifest says {size}."
        if f"sha256:{got_hex}" != digest:
            return f"The object at {url} has digest sha256:{got_hex}, but the manifest says {digest}."
        return None

    keys = list(unique)
    with ThreadPoolExecutor(max_workers=max(1, opts.max_parallel)) as pool:
        outcomes = list(pool.map(check, keys))
    for key, problem in zip(keys, outcomes, strict=True):
        for o in unique[key]:
            if problem:
                findings.append(Finding(o.path, o.line, problem))
            result.rows.append(
                ObjectRow(
                    o.collection, o.tag, o.size, o.digest, o.url, problem or "size and digest match", problem is None
                )
            )
    result.rows.sort(key=lambda r: (r.collection, r.tag, r.url))


# ---------------------------------------------------------------------------- entry points


def verify_git(
    registry: Path,
    base: str,
    head: str,
    *,
    head_branch: str | None = None,
    head_repository: str | None = None,
    base_repository: str | None = None,
    options: VerifyOptions | None = None,
) -> VerifyResult:
    """Verify the changes of revision ``head`` against ``base`` in a local checkout.

    ``head_branch`` defaults to ``head`` without ``origin/`` or ``refs/heads/``.
    """
    files = changed_files_git(registry, base, head)
    branch = head_branch
    if branch is None:
        branch = re.sub(r"^(refs/heads/|refs/remotes/origin/|origin/)", "", head)
    return verify(
        registry,
        files,
        head_branch=branch,
        head_repository=head_repository,
        base_repository=base_repository,
        head_revision=head,
        options=options,
    )


def verify_pull_request(
    registry: Path,
    api_url: str,
    repository: str,
    number: int,
    *,
    token: str | None = None,
    options: VerifyOptions | None = None,
    use_work_tree: bool = True,
) -> VerifyResult:
    """Verify pull request ``number`` of ``repository`` using the API's list of changed files.

    File contents are read from the work tree (the action's checkout of the pull request)
    unless ``use_work_tree`` is False, when the head commit is read with git.
    """
    info = pull_request_files(api_url, repository, number, token)
    return verify(
        registry,
        info.files,
        head_branch=info.head_ref,
        head_repository=info.head_repository or None,
        base_repository=info.base_repository or repository,
        head_revision=None if use_work_tree else info.head_sha,
        options=options,
    )
