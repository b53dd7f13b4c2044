"""verify through the GitHub API (``GET /pulls/{n}` and ``/pulls/{n}/files``) of the GitHub test server."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from static_registry.documents import collection_readme, tags_readme
from static_registry.verify import VerifyOptions, pull_request_files, verify_pull_request
from tests.registry.helpers import StaticServer, manifest, put_object
from tests.support.github_fixture import GitHubServer

OPTS = VerifyOptions(allow_http=True, retry_delay=0.01, retries=1, timeout=10)


def open_pull(server: GitHubServer, token: str, repo: str, head: str, title: str) -> dict[str, Any]:
    body = json.dumps({"title": title, "head": head, "base": "main", "body": "test"}).encode()
    request = urllib.request.Request(
        f"{server.api_url}/repos/{repo}/pulls",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/vnd.github+json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def test_verify_pull_request_via_api(
    github_server: GitHubServer, tmp_path: Path, serve: Callable[[Path], StaticServer]
) -> None:
    storage = tmp_path / "storage"
    size, digest = put_object(storage, "tools.sif", b"image bytes" * 5000)
    store = serve(storage).url
    server = github_server
    server.create_repo(
        "lab",
        "registry",
        owner_type="Organization",
        files={"README.md": "# registry\n", ".github/workflows/pages.yml": "on: push\n"},
    )
    server.add_token("tok-lab", "lab-bot", {"lab/registry": "admin", "*": "pull"})
    server.add_token("tok-mallory", "mallory", {"*": "pull"})
    files: dict[str, str | None] = {
        "lab/tools/README.md": collection_readme("Tools"),
        "lab/tools/tags/README.md": tags_readme(),
        "lab/tools/manifests/latest/README.md": manifest(
            "lab/tools", "latest", size, digest, f"{store}/tools.sif"
        ).to_markdown(),
    }
    server.commit("lab", "registry", "update/lab/tools", files, start="main")
    good = open_pull(server, "tok-lab", "lab/registry", "update/lab/tools", "Update lab/tools")

    # a fork's pull request into someone else's collection, which also edits a workflow
    server.create_repo("mallory", "registry", fork_of="lab/registry")
    evil = dict(files)
    evil[".github/workflows/pages.yml"] = "on: push\njobs: {steal: {}}\n"
    server.commit("mallory", "registry", "update/lab/tools", evil, start="main")
    bad = open_pull(server, "tok-mallory", "lab/registry", "mallory:update/lab/tools", "Innocent update")

    info = pull_request_files(server.api_url, "lab/registry", good["number"], "tok-lab")
    assert info.head_ref == "update/lab/tools" and info.head_repository == "lab/registry"
    assert sorted(f.path for f in info.files) == sorted(files)

    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", server.git_url("lab", "registry"), str(checkout)], check=True)
    subprocess.run(["git", "-C", str(checkout), "checkout", "-q", "origin/update/lab/tools"], check=True)
    result = verify_pull_request(
        checkout, server.api_url, "lab/registry", good["number"], token="tok-lab", options=OPTS
    )
    assert result.ok, result.findings
    assert [(r.collection, r.tag, r.ok) for r in result.rows] == [("lab/tools", "latest", True)]

    subprocess.run(
        ["git", "-C", str(checkout), "fetch", "-q", server.git_url("mallory", "registry"), "update/lab/tools"],
        check=True,
    )
    subprocess.run(["git", "-C", str(checkout), "checkout", "-q", "FETCH_HEAD"], check=True)
    result = verify_pull_request(checkout, server.api_url, "lab/registry", bad["number"], token="tok-lab", options=OPTS)
    messages = sorted(f.message for f in result.findings)
    assert not result.ok
    assert messages == [
        "'.github/workflows/pages.yml' is outside collection 'lab/tools/'; registry update pull requests may not "
        "change site files, workflows or other collections.",
        "This pull request comes from the fork mallory/registry, so it may only change collections of 'mallory', "
        "not 'lab/tools'.",
    ]
