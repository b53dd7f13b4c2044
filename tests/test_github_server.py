"""The GitHub test server behaves like GitHub (Enterprise Server) for PyGithub, urllib and git."""

from __future__ import annotations

import base64
import concurrent.futures
import http.client
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from github import Auth, Github, GithubException

from tests.support import openapi
from tests.support.github_fixture import GitHubServer, github_server  # noqa: F401 - fixture

OWNER, REPO = "org", "registry"
FULL = f"{OWNER}/{REPO}"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def client(server: GitHubServer, token: str) -> Github:
    return Github(auth=Auth.Token(token), base_url=server.api_url, seconds_between_writes=0, retry=None)


def api(
    server: GitHubServer,
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """A raw REST call with urllib: (status, headers, decoded JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.api_url + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"token {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, dict(e.headers), json.loads(raw) if raw else None


def git(
    *args: str, cwd: Path | None = None, token: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run git with the token in an ``http.extraHeader`` passed through GIT_CONFIG_* variables."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd or Path.cwd()),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraHeader",
            GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}",
        )
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed:\n{proc.stderr}")
    return proc


@pytest.fixture
def gh(github_server: GitHubServer) -> GitHubServer:  # noqa: F811 - the fixture imported above
    """A server with ``org/registry`` (public, main: README.md) and tokens:
    ``writer`` (alice, push), ``reader`` (bob, pull), ``admin`` (carol, admin)."""
    github_server.create_repo(OWNER, REPO, files={"README.md": "registry\n", "images/old.yml": "a: 1\n"})
    github_server.add_token("writer", "alice", {FULL: "push"})
    github_server.add_token("reader", "bob", {FULL: "pull"})
    github_server.add_token("admin", "carol", {"*": "admin"})
    return github_server


# ---------------------------------------------------------------------------------------------
# OpenAPI validation (unit tests of tests/support/openapi.py)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spec() -> openapi.OpenAPI:
    try:
        return openapi.load()
    except openapi.OpenAPIMissing as e:
        pytest.fail(str(e), pytrace=False)


def test_openapi_rejects_a_wrong_response_shape(spec: openapi.OpenAPI) -> None:
    template = "/repos/{owner}/{repo}/releases/tags/{tag}"
    errors = spec.validate_response("GET", template, 200, {"id": "not-an-int", "tag_name": "v1"})
    assert any("'assets_url' is a required property" in e for e in errors)
    assert any("['id']" in e and "is not of type 'integer'" in e for e in errors)
    # errors are also checked where the operation documents them, and generically where not
    assert spec.validate_response("GET", template, 404, {"message": 404}) != []
    assert spec.validate_response("POST", "/repos/{owner}/{repo}/pulls", 422, {"message": "x"}) == [
        "<body>: 'documentation_url' is a required property"
    ]
    assert spec.validate_response("GET", "/repos/{owner}/{repo}", 401, {"message": "Bad credentials"}) == []


def test_openapi_nullable_becomes_a_union_with_null(spec: openapi.OpenAPI) -> None:
    asset = {
        "url": "http://x/a",
        "browser_download_url": "http://x/d",
        "id": 1,
        "node_id": "n",
        "name": "a.sif",
        "label": None,  # nullable string
        "state": "uploaded",
        "content_type": "application/octet-stream",
        "size": 3,
        "digest": None,
        "download_count": 0,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "uploader": None,  # $ref to nullable-simple-user
    }
    template = "/repos/{owner}/{repo}/releases/assets/{asset_id}"
    assert spec.validate_response("GET", template, 200, asset) == []
    assert spec.validate_response("GET", template, 200, {**asset, "state": "bogus"}) != []
    assert spec.validate_response("GET", template, 200, {**asset, "size": None}) != []
    assert spec.validate_response("GET", template, 200, {**asset, "created_at": "yesterday"}) != []


def test_openapi_finds_operations_by_path(spec: openapi.OpenAPI) -> None:
    assert spec.find_template("/repos/o/r/releases/tags/v1") == "/repos/{owner}/{repo}/releases/tags/{tag}"
    assert spec.find_template("/repos/o/r/releases/7/assets") == "/repos/{owner}/{repo}/releases/{release_id}/assets"
    assert spec.find_template("/repos/o/r/releases/assets/7") == "/repos/{owner}/{repo}/releases/assets/{asset_id}"
    operation = spec.find_operation("POST", "/repos/o/r/pulls")
    assert operation is not None and operation.spec["operationId"] == "pulls/create"
    assert spec.find_operation("POST", "/no/such/thing") is None


def test_missing_openapi_file_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_OPENAPI_JSON", str(tmp_path / "nope.json"))
    with pytest.raises(openapi.OpenAPIMissing, match=r"npm ci --prefix tests/openapi"):
        openapi.require_openapi_json()


def test_server_answers_500_for_a_response_that_does_not_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a description demanding a field the server never sends, the response is not sent."""
    document = json.loads(openapi.require_openapi_json().read_text())
    document["components"]["schemas"]["private-user"]["required"].append("x_test_only_field")
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(document))
    monkeypatch.setenv("GITHUB_OPENAPI_JSON", str(strict))
    server = GitHubServer().start(tmp_path / "server")
    try:
        server.add_token("t", "alice")
        status, _, body = api(server, "GET", "/user", "t")
        assert status == 500
        assert any("x_test_only_field" in e for e in body["schema_errors"])
        errors = server.schema_errors()
        assert [(e["method"], e["path"], e["status"]) for e in errors] == [("GET", "/api/v3/user", 200)]
        with pytest.raises(AssertionError, match="do not match GitHub's OpenAPI description"):
            server.assert_no_schema_errors()
    finally:
        server.stop()
    assert server.process is None


# ---------------------------------------------------------------------------------------------
# repositories, users, errors
# ---------------------------------------------------------------------------------------------
def test_repo_and_user(gh: GitHubServer) -> None:
    g = client(gh, "writer")
    repo = g.get_repo(FULL)
    assert (repo.full_name, repo.default_branch, repo.private, repo.fork) == (FULL, "main", False, False)
    assert repo.permissions.push and not repo.permissions.admin
    assert repo.clone_url == gh.git_url(OWNER, REPO)
    assert g.get_user().login == "alice"


def test_concurrent_requests(gh: GitHubServer) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: api(gh, "GET", f"/repos/{FULL}", "writer")[0], range(64)))
    assert results == [200] * 64


def test_error_shapes(gh: GitHubServer) -> None:
    gh.create_repo(OWNER, "secret", private=True, files={"a": "b"})
    status, _, body = api(gh, "GET", f"/repos/{FULL}", token="bogus")
    assert status == 401
    assert body == {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}

    status, _, body = api(gh, "GET", "/user")
    assert (status, body["message"], body["status"]) == (401, "Requires authentication", "401")

    status, _, body = api(gh, "GET", f"/repos/{OWNER}/secret", token="writer")
    assert (status, body["message"], body["status"]) == (404, "Not Found", "404")
    assert body["documentation_url"].startswith("https://docs.github.com/rest/repos/repos")
    assert api(gh, "GET", f"/repos/{OWNER}/secret", token="admin")[0] == 200

    status, _, body = api(gh, "POST", f"/repos/{FULL}/releases", token="reader", body={"tag_name": "v1"})
    assert (status, body["status"]) == (403, "403")
    assert body["message"] == "Resource not accessible by personal access token"

    with pytest.raises(GithubException) as info:
        client(gh, "bogus").get_repo(FULL)
    assert info.value.status == 401 and info.value.data["message"] == "Bad credentials"

    # endpoints the server does not implement: GitHub's 404, recorded for diagnosis
    status, _, body = api(gh, "GET", f"/repos/{FULL}/hooks", token="admin")
    assert (status, body["message"]) == (404, "Not Found")
    assert {"method": "GET", "path": f"/api/v3/repos/{FULL}/hooks"} in gh.unimplemented()


# ---------------------------------------------------------------------------------------------
# pull requests
# ---------------------------------------------------------------------------------------------
def test_create_pull_and_duplicate(gh: GitHubServer) -> None:
    head_sha = gh.commit(OWNER, REPO, "add-foo", {"images/foo.yml": "name: foo\n"}, "Add foo")
    repo = client(gh, "writer").get_repo(FULL)
    pr = repo.create_pull(title="Add foo", body="adds foo", head=f"{OWNER}:add-foo", base="main", draft=True)
    assert (pr.number, pr.state, pr.draft, pr.merged, pr.mergeable) == (1, "open", True, False, True)
    assert (pr.head.ref, pr.head.sha, pr.head.label, pr.head.repo.full_name) == (
        "add-foo",
        head_sha,
        "org:add-foo",
        FULL,
    )
    assert pr.base.sha == gh.branches(OWNER, REPO)["main"]
    assert (pr.commits, pr.additions, pr.changed_files, pr.user.login) == (1, 1, 1, "alice")
    assert pr.html_url == f"{gh.url}/{FULL}/pull/1"

    with pytest.raises(GithubException) as info:
        repo.create_pull(title="again", body="", head=f"{OWNER}:add-foo", base="main")
    assert info.value.status == 422
    assert info.value.data["message"] == "Validation Failed"
    assert info.value.data["errors"] == [
        {"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for org:add-foo."}
    ]
    # a bare branch name as head means a branch of the base repository
    with pytest.raises(GithubException, match="A pull request already exists"):
        repo.create_pull(title="again", body="", head="add-foo", base="main")

    pr.edit(title="Add foo image", body="new body", state="closed")
    assert (repo.get_pull(1).title, repo.get_pull(1).state) == ("Add foo image", "closed")
    # closed: a new pull request for the same head may be opened
    assert repo.create_pull(title="reopen", body="", head=f"{OWNER}:add-foo", base="main").number == 2


def test_create_pull_validation_errors(gh: GitHubServer) -> None:
    gh.commit(OWNER, REPO, "same", {}, "an empty commit")
    repo = client(gh, "writer").get_repo(FULL)
    main = gh.branches(OWNER, REPO)["main"]
    assert gh.state_dir is not None
    same = gh.branches(OWNER, REPO)["same"]
    assert same != main  # an empty commit is still a commit ahead
    # a branch pointing at main's commit has no commits ahead
    subprocess.run(
        ["git", "-C", str(gh.state_dir / "state/repos/org/registry.git"), "update-ref", "refs/heads/level", main],
        check=True,
    )
    with pytest.raises(GithubException) as info:
        repo.create_pull(title="t", body="", head=f"{OWNER}:level", base="main")
    assert info.value.status == 422
    assert info.value.data["errors"][0]["message"] == "No commits between main and org:level"

    with pytest.raises(GithubException) as info:
        repo.create_pull(title="t", body="", head=f"{OWNER}:missing", base="main")
    assert info.value.status == 422
    assert info.value.data["errors"] == [{"resource": "PullRequest", "field": "head", "code": "invalid"}]

    with pytest.raises(GithubException) as info:
        repo.create_pull(title="t", body="", head=f"{OWNER}:same", base="nope")
    assert info.value.data["errors"] == [{"resource": "PullRequest", "field": "base", "code": "invalid"}]


def test_list_pulls_filters(gh: GitHubServer) -> None:
    for branch in ("a", "b"):
        gh.commit(OWNER, REPO, branch, {f"images/{branch}.yml": "x: 1\n"})
    gh.commit(OWNER, REPO, "develop", {"dev": "1\n"})
    gh.commit(OWNER, REPO, "c", {"images/c.yml": "x: 1\n"}, start="develop")
    repo = client(gh, "writer").get_repo(FULL)
    repo.create_pull(title="a", body="", head="org:a", base="main")
    repo.create_pull(title="b", body="", head="org:b", base="main")
    repo.create_pull(title="c", body="", head="org:c", base="develop")
    repo.get_pull(2).edit(state="closed")

    assert [p.number for p in repo.get_pulls()] == [3, 1]  # open, newest first
    assert [p.number for p in repo.get_pulls(state="all", direction="asc")] == [1, 2, 3]
    assert [p.number for p in repo.get_pulls(state="closed")] == [2]
    assert [p.number for p in repo.get_pulls(head="org:a")] == [1]
    assert [p.number for p in repo.get_pulls(state="all", head="org:b")] == [2]
    assert [p.number for p in repo.get_pulls(head="other:a")] == []
    # a head without "owner:" is ignored, as GitHub ignores it
    assert [p.number for p in repo.get_pulls(head="a")] == [3, 1]
    assert [p.number for p in repo.get_pulls(base="develop")] == [3]
    listed = repo.get_pulls(head="org:a")[0]
    assert listed.head.sha == gh.branches(OWNER, REPO)["a"]


def test_pull_pagination_with_link_header(gh: GitHubServer) -> None:
    g = client(gh, "writer")
    repo = g.get_repo(FULL)
    for i in range(35):
        gh.commit(OWNER, REPO, f"b{i}", {f"f{i}": f"{i}\n"})
        status, _, _ = api(
            gh, "POST", f"/repos/{FULL}/pulls", "writer", {"title": f"{i}", "head": f"b{i}", "base": "main"}
        )
        assert status == 201
    status, headers, body = api(gh, "GET", f"/repos/{FULL}/pulls", "writer")
    assert (status, len(body)) == (200, 30)
    assert [p["number"] for p in body[:2]] == [35, 34]
    base = f"{gh.api_url}/repos/{FULL}/pulls"
    assert headers["Link"] == (f'<{base}?per_page=30&page=2>; rel="next", <{base}?per_page=30&page=2>; rel="last"')
    _, headers, body = api(gh, "GET", f"/repos/{FULL}/pulls?page=2", "writer")
    assert [p["number"] for p in body] == [5, 4, 3, 2, 1]
    assert 'rel="prev"' in headers["Link"] and 'rel="first"' in headers["Link"] and 'rel="next"' not in headers["Link"]
    _, headers, body = api(gh, "GET", f"/repos/{FULL}/pulls?per_page=500&state=open", "writer")
    assert len(body) == 35 and "Link" not in headers  # per_page is capped at 100
    _, _, body = api(gh, "GET", f"/repos/{FULL}/pulls?per_page=10&page=4", "writer")
    assert [p["number"] for p in body] == [5, 4, 3, 2, 1]
    # PyGithub follows the Link header
    assert len(list(repo.get_pulls())) == 35
    assert repo.get_pulls().totalCount == 35


def test_pull_files_and_labels(gh: GitHubServer) -> None:
    gh.commit(
        OWNER,
        REPO,
        "change",
        {"images/new.yml": "n: 1\n", "README.md": "registry\nmore\n", "images/old.yml": None},
    )
    gh.commit(OWNER, REPO, "rename", {"docs/readme.txt": "registry\n", "README.md": None})
    repo = client(gh, "writer").get_repo(FULL)
    pr = repo.create_pull(title="changes", body="", head="org:change", base="main")
    files = {f.filename: f for f in pr.get_files()}
    assert {name: f.status for name, f in files.items()} == {
        "README.md": "modified",
        "images/new.yml": "added",
        "images/old.yml": "removed",
    }
    assert (files["README.md"].additions, files["README.md"].deletions, files["README.md"].changes) == (1, 0, 1)
    assert files["images/new.yml"].raw_url == f"{gh.url}/{FULL}/raw/{pr.head.sha}/images/new.yml"
    renamed = repo.create_pull(title="rename", body="", head="org:rename", base="main").get_files()[0]
    assert (renamed.status, renamed.filename, renamed.previous_filename) == ("renamed", "docs/readme.txt", "README.md")

    pr.add_to_labels("automated", "images")
    assert [label.name for label in repo.get_pull(pr.number).labels] == ["automated", "images"]


def test_pull_from_fork_and_merge(gh: GitHubServer) -> None:
    gh.create_repo("alice", REPO, fork_of=FULL)
    gh.add_token("alice-wide", "alice", {"*": "pull"})
    alice_fork = client(gh, "alice-wide").get_repo(f"alice/{REPO}")
    assert alice_fork.permissions.admin and not client(gh, "alice-wide").get_repo(FULL).permissions.push
    gh.commit("alice", REPO, "feature", {"images/f.yml": "f: 1\n"})
    repo = client(gh, "writer").get_repo(FULL)
    fork = client(gh, "writer").get_repo(f"alice/{REPO}")
    assert fork.fork and fork.parent.full_name == FULL and fork.permissions.admin
    pr = repo.create_pull(title="from fork", body="", head="alice:feature", base="main")
    assert (pr.head.repo.full_name, pr.head.label, pr.mergeable) == (f"alice/{REPO}", "alice:feature", True)
    assert [p.number for p in repo.get_pulls(head="alice:feature")] == [1]
    assert [p.number for p in repo.get_pulls(head="org:feature")] == []

    result = gh.merge(OWNER, REPO, pr.number)
    merged = repo.get_pull(pr.number)
    assert (merged.state, merged.merged, merged.merge_commit_sha) == ("closed", True, result["sha"])
    assert gh.branches(OWNER, REPO)["main"] == result["sha"]
    assert [p["number"] for p in gh.pulls(OWNER, REPO, state="closed")] == [1]

    # fast-forward merges and PyGithub's own merge call
    gh.commit(OWNER, REPO, "ff", {"x": "1\n"})
    ff = repo.create_pull(title="ff", body="", head="org:ff", base="main")
    assert gh.merge(OWNER, REPO, ff.number, method="fast-forward")["sha"] == ff.head.sha
    gh.commit(OWNER, REPO, "viaapi", {"y": "1\n"})
    pr3 = repo.create_pull(title="api", body="", head="org:viaapi", base="main")
    assert pr3.merge().merged
    assert repo.get_pull(pr3.number).merged


# ---------------------------------------------------------------------------------------------
# git over smart HTTP
# ---------------------------------------------------------------------------------------------
def test_git_clone_and_push(gh: GitHubServer, tmp_path: Path) -> None:
    gh.create_repo(OWNER, "private", private=True, files={"a.txt": "a\n"})
    url = gh.git_url(OWNER, "private")
    gh.add_token("pvt", "dave", {f"{OWNER}/private": "push"})
    git("clone", "-q", url, "work", cwd=tmp_path, token="pvt")
    work = tmp_path / "work"
    assert (work / "a.txt").read_text() == "a\n"
    git("checkout", "-q", "-b", "topic", cwd=work)
    (work / "b.bin").write_bytes(os.urandom(2 * 1024 * 1024))  # > http.postBuffer: chunked request body
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "topic", cwd=work)
    git("push", "-q", "origin", "topic", cwd=work, token="pvt")
    local = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert gh.branches(OWNER, "private")["topic"] == local
    assert local in git("ls-remote", url, cwd=tmp_path, token="pvt").stdout
    # protocol v2 and gzip'd request bodies pass through http-backend
    git("-c", "protocol.version=2", "fetch", "-q", "origin", cwd=work, token="pvt")

    # private repository without credentials: 401 asking for Basic auth
    denied = git("clone", "-q", url, "anon", cwd=tmp_path, check=False)
    assert denied.returncode != 0
    assert "terminal prompts disabled" in denied.stderr or "Authentication failed" in denied.stderr
    # a public repository clones anonymously, but pushing needs credentials
    git("clone", "-q", gh.git_url(OWNER, REPO), "public", cwd=tmp_path)
    anon_push = git("push", "origin", "HEAD:refs/heads/x", cwd=tmp_path / "public", check=False)
    assert anon_push.returncode != 0


def test_git_push_without_rights_is_rejected(gh: GitHubServer, tmp_path: Path) -> None:
    git("clone", "-q", gh.git_url(OWNER, REPO), "work", cwd=tmp_path, token="reader")
    work = tmp_path / "work"
    (work / "new.txt").write_text("x\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "x", cwd=work)
    push = git("push", "origin", "HEAD:refs/heads/x", cwd=work, token="reader", check=False)
    assert push.returncode != 0
    assert "remote: Permission to org/registry.git denied to bob." in push.stderr
    assert "The requested URL returned error: 403" in push.stderr

    git("push", "-q", "origin", "HEAD:refs/heads/x", cwd=work, token="writer")
    gh.reject_pushes("writer")
    push = git("push", "origin", "HEAD:refs/heads/y", cwd=work, token="writer", check=False)
    assert push.returncode != 0 and "denied to alice" in push.stderr
    gh.reject_pushes("writer", reject=False)
    git("push", "-q", "origin", "HEAD:refs/heads/y", cwd=work, token="writer")
    assert {"x", "y"} <= set(gh.branches(OWNER, REPO))

    bad = git("ls-remote", gh.git_url(OWNER, REPO), cwd=tmp_path, token="bogus", check=False)
    assert bad.returncode != 0


# ---------------------------------------------------------------------------------------------
# releases and assets
# ---------------------------------------------------------------------------------------------
def test_release_asset_roundtrip(gh: GitHubServer, tmp_path: Path) -> None:
    repo = client(gh, "writer").get_repo(FULL)
    with pytest.raises(GithubException) as info:
        repo.get_release("v1")
    assert info.value.status == 404

    release = repo.create_git_release("v1", "Release v1", "body")
    assert release.upload_url.startswith(f"{gh.url}/api/uploads/repos/{FULL}/releases/{release.id}/assets")
    with pytest.raises(GithubException) as info:
        repo.create_git_release("v1", "again", "")
    assert info.value.status == 422 and info.value.data["errors"][0]["code"] == "already_exists"

    payload = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "image.sif"
    path.write_bytes(payload)
    asset = release.upload_asset(str(path), content_type="application/x-apptainer")
    assert (asset.name, asset.size, asset.state, asset.content_type) == (
        "image.sif",
        len(payload),
        "uploaded",
        "application/x-apptainer",
    )
    assert asset.browser_download_url == f"{gh.url}/{FULL}/releases/download/v1/image.sif"
    with urllib.request.urlopen(asset.browser_download_url) as response:  # public: no auth
        assert response.headers["Content-Length"] == str(len(payload))
        assert response.read() == payload

    with pytest.raises(GithubException) as info:
        release.upload_asset(str(path))
    assert info.value.status == 422 and info.value.data["errors"][0]["code"] == "already_exists"

    fetched = repo.get_release("v1")
    assert [a.name for a in fetched.get_assets()] == ["image.sif"]
    assert repo.get_release(release.id).tag_name == "v1"
    # publishing the release created the tag in git
    assert git("ls-remote", "--tags", gh.git_url(OWNER, REPO)).stdout.strip().endswith("refs/tags/v1")

    # the asset API: JSON, or the bytes through a 302 to the download URL
    status, _, body = api(gh, "GET", f"/repos/{FULL}/releases/assets/{asset.id}", "writer")
    assert (status, body["id"], body["download_count"]) == (200, asset.id, 1)
    request = urllib.request.Request(f"{gh.api_url}/repos/{FULL}/releases/assets/{asset.id}")
    request.add_header("Accept", "application/octet-stream")
    with urllib.request.urlopen(request) as response:
        assert response.read() == payload

    asset.delete_asset()
    assert fetched.get_assets().totalCount == 0
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(asset.browser_download_url)
    assert missing.value.code == 404


def test_upload_streaming_limits(gh: GitHubServer) -> None:
    status, _, release = api(gh, "POST", f"/repos/{FULL}/releases", "writer", {"tag_name": "v2", "draft": False})
    assert status == 201
    target = f"/api/uploads/repos/{FULL}/releases/{release['id']}/assets"
    headers = {"Authorization": "Bearer writer", "Content-Type": "application/octet-stream"}

    # chunked request body, streamed to disk
    conn = http.client.HTTPConnection("127.0.0.1", gh.port)
    conn.putrequest("POST", f"{target}?name=big.bin")
    for key, value in {**headers, "Transfer-Encoding": "chunked"}.items():
        conn.putheader(key, value)
    conn.endheaders()
    for _ in range(20):
        piece = b"z" * (1024 * 1024)
        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    body = json.loads(response.read())
    assert (response.status, body["size"]) == (201, 20 * 1024 * 1024)
    conn.close()

    # > 2 GiB is refused before the body is read
    conn = http.client.HTTPConnection("127.0.0.1", gh.port)
    conn.putrequest("POST", f"{target}?name=huge.bin")
    for key, value in {**headers, "Content-Length": str(3 * 1024**3)}.items():
        conn.putheader(key, value)
    conn.endheaders()
    response = conn.getresponse()
    body = json.loads(response.read())
    assert response.status == 422 and body["message"] == "Validation Failed"
    conn.close()

    # a Content-Type header is required
    conn = http.client.HTTPConnection("127.0.0.1", gh.port)
    conn.request("POST", f"{target}?name=x.bin", body=b"abc", headers={"Authorization": "Bearer writer"})
    assert conn.getresponse().status == 422
    conn.close()


def test_private_release_download_needs_auth(gh: GitHubServer) -> None:
    gh.create_repo(OWNER, "private", private=True, files={"a": "b"})
    gh.add_token("pvt", "dave", {f"{OWNER}/private": "push"})
    _, _, release = api(gh, "POST", f"/repos/{OWNER}/private/releases", "pvt", {"tag_name": "v1"})
    upload = urllib.request.Request(
        f"{gh.uploads_url}/repos/{OWNER}/private/releases/{release['id']}/assets?name=a.txt",
        data=b"hello",
        method="POST",
        headers={"Authorization": "token pvt", "Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(upload) as response:
        url = json.loads(response.read())["browser_download_url"]
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url)
    assert info.value.code == 404
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "token pvt"})) as response:
        assert response.read() == b"hello"


# ---------------------------------------------------------------------------------------------
# test control: faults and the access log
# ---------------------------------------------------------------------------------------------
def test_fault_injection_and_access_log(gh: GitHubServer) -> None:
    gh.clear_requests()
    path = f"/api/v3/repos/{FULL}/pulls"
    gh.fail_next(path, 502, count=2, method="GET")
    assert api(gh, "GET", f"/repos/{FULL}/pulls", "writer")[0] == 502
    assert api(gh, "GET", f"/repos/{FULL}/pulls?state=all", "writer")[0] == 502
    assert api(gh, "GET", f"/repos/{FULL}/pulls", "writer")[0] == 200
    log = gh.requests()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [("GET", path, 502)] * 2 + [("GET", path, 200)]
    assert log[-1]["login"] == "alice"
    assert not any(r["method"] == "POST" and r["path"].endswith("/pulls") for r in log)
