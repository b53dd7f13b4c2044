"""Publishing variants: forks, drafts and labels, a refused pull request, GHES URLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.test_publish import READER, WRITER, assert_clean, inputs, push_event, world
from tests.support.action_runner import ContainerRepo, Result, git, local_registry
from tests.support.github_fixture import GitHubServer

__all__ = ["world"]

FORKER = "ghp_forkowner0123456789abcdefABCDEFGHIJ"


def test_push_to_fork_opens_the_pull_request_from_the_fork(world: dict[str, Any]) -> None:
    gh: GitHubServer = world["gh"]
    repo: ContainerRepo = world["repo"]
    gh.create_repo("hello-bot", "registry", fork_of="myorg/registry")
    gh.add_token(FORKER, "hello-bot", {"myorg/registry": "pull"})
    result = world["runner"].run(
        repo.path,
        inputs(world, token=FORKER, **{"push-to-fork": "hello-bot/registry"}),
        "push",
        push_event("0" * 40, repo.head(), created=True),
        repo.head(),
    )
    assert isinstance(result, Result)
    assert result.status == 0, result.log
    assert result.outputs["pull-request-operation"] == "created"
    assert "update/myorg/hello" in gh.branches("hello-bot", "registry")
    assert "update/myorg/hello" not in gh.branches("myorg", "registry")
    pr = gh.pulls("myorg", "registry")[0]
    assert pr["head"]["label"] == "hello-bot:update/myorg/hello"
    assert pr["head"]["repo"]["full_name"] == "hello-bot/registry"
    assert_clean(result)


def test_draft_and_labels_on_a_new_pull_request(world: dict[str, Any]) -> None:
    gh: GitHubServer = world["gh"]
    repo: ContainerRepo = world["repo"]
    result = world["runner"].run(
        repo.path,
        inputs(world, draft="true", labels="containers, automated", title="Images of hello"),
        "workflow_dispatch",
        {},
        repo.head(),
    )
    assert isinstance(result, Result)
    assert result.status == 0, result.log
    pr = gh.pulls("myorg", "registry")[0]
    assert pr["draft"] is True
    assert pr["title"] == "Images of hello"
    assert sorted(label["name"] for label in pr["labels"]) == ["automated", "containers"]


def test_refused_pull_request_names_the_permission(world: dict[str, Any]) -> None:
    gh: GitHubServer = world["gh"]
    repo: ContainerRepo = world["repo"]
    gh.fail_next("/api/v3/repos/myorg/registry/pulls", 403, method="POST")
    result = world["runner"].run(repo.path, inputs(world), "workflow_dispatch", {}, repo.head())
    assert isinstance(result, Result)
    assert result.status == 1
    [error] = result.errors()
    assert "GitHub refused creating the pull request on myorg/registry (403" in error
    assert "pull-requests: write" in error
    assert gh.pulls("myorg", "registry") == []
    assert_clean(result)
    # The branch was pushed before the refusal; the next run opens the pull request for it.
    assert "update/myorg/hello" in gh.branches("myorg", "registry")
    again = world["runner"].run(repo.path, inputs(world), "workflow_dispatch", {}, repo.head())
    assert isinstance(again, Result)
    assert again.status == 0, again.log
    assert again.outputs["pull-request-operation"] == "created"
    assert [p["state"] for p in gh.pulls("myorg", "registry")] == ["open"]


def test_unknown_registry_is_named(world: dict[str, Any]) -> None:
    repo: ContainerRepo = world["repo"]
    result = world["runner"].run(repo.path, inputs(world, registry="myorg/nope"), "workflow_dispatch", {}, repo.head())
    assert isinstance(result, Result)
    assert result.status == 1
    [error] = result.errors()
    assert "myorg/nope" in error and "404" in error
    assert READER not in result.log and WRITER not in result.log


def test_cli_json_against_a_local_registry(tmp_path: Path) -> None:
    repo = ContainerRepo.create(tmp_path / "repo")
    registry = local_registry(tmp_path / "registry")
    argv = [sys.executable, "-m", "static_registry", "publish", "--json", "--path", str(repo.path), "--repository", "Lab/Hello",
            "--registry", str(registry), "--storage-path", str(tmp_path / "images"), "--build-all"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "STATIC_REGISTRY_"))}
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["branch"] == "update/lab/hello"
    assert sorted(i["tag"] for i in out["images"]) == ["latest", "tools"]
    assert "git -C" in done.stderr and "merge --ff-only update/lab/hello" in done.stderr
    assert git(registry, "ls-tree", "-r", "--name-only", "update/lab/hello").count("manifests/") == 2
