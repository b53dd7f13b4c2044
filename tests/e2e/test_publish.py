"""End to end: entrypoint.py as the runner runs it, real Apptainer builds, git over smart
HTTP and pull requests on the GitHub test server (OpenAPI-checked), file storage."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.action_runner import ActionRunner, ContainerRepo, Result, finish, git
from tests.support.github_fixture import GitHubServer

WRITER = "ghp_registrywriter0123456789abcdefABCDEF"
READER = "ghp_readonly0123456789abcdefABCDEFGHIJ"
REFUSED = "ghp_pushrefused0123456789abcdefABCDEFGH"
TOKENS = (WRITER, READER, REFUSED)


@pytest.fixture
def world(github_server: GitHubServer, tmp_path: Path) -> dict[str, Any]:
    gh = github_server
    gh.create_repo("myorg", "registry", files={"README.md": "---\nlayout: home\n---\n# Registry\n"})
    gh.create_repo("myorg", "hello", files={"README.md": "hello"})
    gh.add_token(WRITER, "registry-bot", {"myorg/registry": "push", "myorg/hello": "push"})
    gh.add_token(READER, "container-ci", {"myorg/registry": "pull", "myorg/hello": "push"})
    # a token GitHub lists as able to push, whose pushes a ruleset or policy still refuses
    gh.add_token(REFUSED, "ruled-out", {"myorg/registry": "push"}, reject_push=True)
    repo = ContainerRepo.create(tmp_path / "workspace")
    os.chown(repo.path, 1001, 1001)  # the runner's workspace belongs to another user
    runner = ActionRunner(tmp_path / "runner", api_url=gh.api_url, server_url=gh.url)
    return {"gh": gh, "repo": repo, "runner": runner, "storage": tmp_path / "images"}


def inputs(world: dict[str, Any], **extra: str) -> dict[str, str]:
    return {
        "registry": "myorg/registry",
        "token": WRITER,
        "storage": "file",
        "storage-path": str(world["storage"]),
        "builder": "in-place",
        **extra,
    }


def push_event(before: str, after: str, **extra: Any) -> dict[str, Any]:
    return {"before": before, "after": after, "created": False, "forced": False, "ref": "refs/heads/main", **extra}


def run(world: dict[str, Any], event: dict[str, Any], sha: str, **extra: str) -> Result:
    result = world["runner"].run(world["repo"].path, inputs(world, **extra), "push", event, sha)
    assert isinstance(result, Result)
    return result


def clone_registry(gh: GitHubServer, target: Path, ref: str) -> Path:
    """A clone of myorg/registry over smart HTTP with ``ref`` checked out."""
    shutil.rmtree(target, ignore_errors=True)
    header = "AUTHORIZATION: basic " + base64.b64encode(f"x:{WRITER}".encode()).decode()
    git_url = gh.git_url("myorg", "registry")
    subprocess.run(["git", "-c", f"http.extraHeader={header}", "clone", "-q", git_url, str(target)], check=True)
    git(target, "checkout", "-q", ref)
    return target


def registry_files(gh: GitHubServer, tmp_path: Path, ref: str) -> dict[str, str]:
    """The registry's files at ``ref``, cloned over HTTP."""
    clone = clone_registry(gh, tmp_path / f"clone-{ref.replace('/', '-')}", ref)
    return {
        p.relative_to(clone).as_posix(): p.read_text()
        for p in clone.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }


def assert_clean(result: Result) -> None:
    for token in TOKENS:
        assert token not in result.log
        assert token not in result.summary
        assert token not in json.dumps(result.outputs)


def download_matches(url: str, digest: str) -> bool:
    with urllib.request.urlopen(url) as response:
        data = response.read()
    return "sha256:" + hashlib.sha256(data).hexdigest() == digest


def test_pull_request_lifecycle(world: dict[str, Any], tmp_path: Path) -> None:
    gh: GitHubServer = world["gh"]
    repo: ContainerRepo = world["repo"]

    # (1) first push: every recipe built, a pull request with both tags.
    first = run(world, push_event("0" * 40, repo.head(), created=True), repo.head())
    assert first.status == 0, first.log
    assert first.outputs["pull-request-operation"] == "created"
    assert first.outputs["branch"] == "update/myorg/hello"
    images = {i["tag"]: i for i in first.images()}
    assert set(images) == {"latest", "tools"}
    for image in images.values():
        assert download_matches(image["url"], image["digest"])
        assert image["collection"] == "myorg/hello"
    pulls = gh.pulls("myorg", "registry")
    assert len(pulls) == 1
    pr = pulls[0]
    assert str(pr["number"]) == first.outputs["pull-request-number"]
    assert pr["html_url"] == first.outputs["pull-request-url"]
    assert pr["head"]["ref"] == "update/myorg/hello" and pr["base"]["ref"] == "main"
    assert "latest" in pr["title"] and "tools" in pr["title"]
    assert images["latest"]["digest"][:19] in pr["body"]
    files = registry_files(gh, tmp_path, "update/myorg/hello")
    manifest = files["myorg/hello/manifests/latest/README.md"]
    assert f"digest: {images['latest']['digest']}" in manifest
    assert f"size: {images['latest']['size']}" in manifest
    assert "layout: manifests/singularity" in manifest
    assert "layout: collection" in files["myorg/hello/README.md"]
    assert "layout: tags" in files["myorg/hello/tags/README.md"]
    assert "| `latest` |" in first.summary
    assert "::group::Build Singularity" in first.stdout
    assert_clean(first)

    # (2) one recipe changed: the same pull request updated, the other tag still there.
    before, after = repo.commit(
        {"tools/Singularity.tools": (repo.path / "tools/Singularity.tools").read_text() + "\n# rebuilt\n"}
    )
    second = run(world, push_event(before, after), after)
    assert second.status == 0, second.log
    assert [i["tag"] for i in second.images()] == ["tools"]
    assert second.outputs["pull-request-operation"] == "updated"
    assert second.outputs["pull-request-number"] == first.outputs["pull-request-number"]
    assert len(gh.pulls("myorg", "registry")) == 1
    files = registry_files(gh, tmp_path, "update/myorg/hello")
    assert f"digest: {images['latest']['digest']}" in files["myorg/hello/manifests/latest/README.md"]
    assert f"digest: {second.images()[0]['digest']}" in files["myorg/hello/manifests/tools/README.md"]
    assert after in files["myorg/hello/manifests/tools/README.md"]

    # (3) nothing changed (a README edit): operation none, no new commit.
    tip = gh.branches("myorg", "registry")["update/myorg/hello"]
    before, after = repo.commit({"README.md": "edited\n"})
    third = run(world, push_event(before, after), after)
    assert third.status == 0, third.log
    assert third.outputs["pull-request-operation"] == "none"
    assert third.images() == []
    assert gh.branches("myorg", "registry")["update/myorg/hello"] == tip

    # (4) a recipe deleted: its tag removed in the pull request.
    before, after = repo.commit({"tools/Singularity.tools": None})
    fourth = run(world, push_event(before, after), after)
    assert fourth.status == 0, fourth.log
    assert fourth.outputs["pull-request-operation"] == "updated"
    files = registry_files(gh, tmp_path, "update/myorg/hello")
    assert "myorg/hello/manifests/tools/README.md" not in files
    assert "myorg/hello/manifests/latest/README.md" in files
    pr = gh.pulls("myorg", "registry")[0]
    assert "latest" in pr["title"]
    assert "tools" not in pr["title"]  # against the base, tools was never there

    # The update merged: a later run starts from the new base and opens a new pull request.
    gh.merge("myorg", "registry", pr["number"])
    before, after = repo.commit({"Singularity": (repo.path / "Singularity").read_text() + "\n# hi\n"})
    fifth = run(world, push_event(before, after), after)
    assert fifth.status == 0, fifth.log
    assert fifth.outputs["pull-request-operation"] == "created"
    assert fifth.outputs["pull-request-number"] != first.outputs["pull-request-number"]
    pr = next(p for p in gh.pulls("myorg", "registry", "open"))
    assert "update latest" in pr["title"]
    assert all(r["status"] < 500 for r in gh.requests())


def test_concurrent_runs_both_land(world: dict[str, Any], tmp_path: Path) -> None:
    """Two runs publishing at once (different recipes changed): both updates end up in the branch."""
    gh: GitHubServer = world["gh"]
    repo: ContainerRepo = world["repo"]
    other = ContainerRepo(tmp_path / "workspace2")
    subprocess.run(["cp", "-a", str(repo.path), str(other.path)], check=True)
    b1, a1 = repo.commit({"Singularity": (repo.path / "Singularity").read_text() + "\n# one\n"})
    b2, a2 = other.commit(
        {"tools/Singularity.tools": (other.path / "tools/Singularity.tools").read_text() + "\n# two\n"}
    )
    runner: ActionRunner = world["runner"]
    p1 = runner.run(repo.path, inputs(world), "push", push_event(b1, a1), a1, background=True)
    p2 = runner.run(other.path, inputs(world), "push", push_event(b2, a2), a2, background=True)
    assert isinstance(p1, subprocess.Popen) and isinstance(p2, subprocess.Popen)
    r1, r2 = finish(p1), finish(p2)
    assert r1.status == 0, r1.log
    assert r2.status == 0, r2.log
    files = registry_files(gh, tmp_path, "update/myorg/hello")
    assert f"digest: {r1.images()[0]['digest']}" in files["myorg/hello/manifests/latest/README.md"]
    assert f"digest: {r2.images()[0]['digest']}" in files["myorg/hello/manifests/tools/README.md"]
    assert len(gh.pulls("myorg", "registry")) == 1
    assert sorted([r1.outputs["pull-request-operation"], r2.outputs["pull-request-operation"]]) == [
        "created",
        "updated",
    ]


BROKEN = "Bootstrap: scratch\n%setup\n    true\n%bogus\n    x\n"


@pytest.mark.parametrize(
    ("case", "files", "extra", "expected"),
    [
        ("broken recipe", {"Singularity.broken": BROKEN}, {}, "Singularity.broken:4: unknown section '%bogus'"),
        ("bad tag", {"Singularity.-bad": "Bootstrap: scratch\n"}, {}, "maps to tag '-bad', which is not a valid tag"),
        ("duplicate tag", {"other/Singularity": "Bootstrap: scratch\n"}, {}, "both build tag 'latest'"),
        ("missing token", {}, {"token": ""}, "Input 'token' is empty"),
        ("no push rights", {}, {"token": READER}, "may read myorg/registry but not push to it"),
        ("push refused", {}, {"token": REFUSED}, "refused the push of the update branch"),
        (
            "failed build",
            {"Singularity.fails": "Bootstrap: scratch\n%setup\n    exit 3\n"},
            {},
            "Recipe Singularity.fails failed to build",
        ),
    ],
)
def test_bad_input_fails_cleanly(
    world: dict[str, Any], case: str, files: dict[str, str], extra: dict[str, str], expected: str
) -> None:
    gh: GitHubServer = world["gh"]
    repo: ContainerRepo = world["repo"]
    if files:
        repo.commit(dict(files))
    branches_before = gh.branches("myorg", "registry")
    result = world["runner"].run(repo.path, inputs(world, **extra), "workflow_dispatch", {}, repo.head())
    assert isinstance(result, Result)
    assert result.status == 1, result.log
    errors = result.errors()
    assert len(errors) >= 1, result.log
    assert any(expected in e for e in errors), errors
    if files and case != "failed build":
        assert "file=" in errors[-1]
    assert gh.branches("myorg", "registry") == branches_before, "nothing may be pushed"
    assert gh.pulls("myorg", "registry") == []
    assert_clean(result)
    if case in ("missing token", "no push rights"):
        assert "::group::Build" not in result.stdout, "refused before spending a build"
    if case == "failed build":
        # the other recipes built, but none of their manifests reached the registry
        assert "Nothing was published" in errors[-1]
        assert not world["storage"].exists() or not any(world["storage"].rglob("*.sif"))


LEAKY = """Bootstrap: scratch
%setup
    env | sort
    mkdir -p ${APPTAINER_ROOTFS}/bin && cp /usr/bin/busybox ${APPTAINER_ROOTFS}/bin/
"""


def test_a_recipe_cannot_print_the_tokens(world: dict[str, Any]) -> None:
    """%setup runs on the build host and its output is the log: no secret may reach it."""
    repo: ContainerRepo = world["repo"]
    repo.commit({"Singularity.leaky": LEAKY})
    world["runner"].extra_env.update(GITHUB_TOKEN=READER, AWS_SECRET_ACCESS_KEY="aws-secret-value-123")
    result = world["runner"].run(repo.path, inputs(world), "workflow_dispatch", {}, repo.head())
    assert isinstance(result, Result)
    assert result.status == 0, result.log
    assert "GITHUB_ACTIONS=true" in result.stdout  # the recipe did print its environment
    assert "aws-secret-value-123" not in result.log
    assert_clean(result)


def test_pull_request_event_builds_but_publishes_nothing(world: dict[str, Any]) -> None:
    gh: GitHubServer = world["gh"]
    repo: ContainerRepo = world["repo"]
    base = repo.head()
    _before, after = repo.commit({"Singularity": (repo.path / "Singularity").read_text() + "\n# pr\n"})
    event = {"pull_request": {"base": {"sha": base}, "head": {"sha": after}}, "number": 7}
    result = world["runner"].run(repo.path, inputs(world), "pull_request", event, after)
    assert isinstance(result, Result)
    assert result.status == 0, result.log
    assert [i["tag"] for i in result.images()] == ["latest"]
    assert result.images()[0]["url"] == ""
    assert gh.branches("myorg", "registry").keys() == {"main"}
    assert not world["storage"].exists()
