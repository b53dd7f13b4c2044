"""The packaged action end to end: the Dockerfile's image, run with podman exactly as the
Actions runner runs a container action (no privileges, PATH=utter-nonsense, workspace owned
by uid 1001, the engine socket at /var/run/docker.sock), publishing to the GitHub test
server with file storage."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.action_runner import ContainerRepo, parse_output_file
from tests.support.github_fixture import GitHubServer

from .conftest import (
    TINY_RECIPE,
    ActionRun,
    RunnerDirs,
    busybox,
    host_apptainer,
    leftover_builders,
    run_like_the_runner,
    runner_env,
)

WRITER = "ghp_registrywriter0123456789abcdefABCDEF"


def setup_world(gh: GitHubServer, tmp_path: Path, post_recipe: bool = True) -> tuple[RunnerDirs, ContainerRepo]:
    gh.create_repo("myorg", "registry", files={"README.md": "---\nlayout: home\n---\n# Registry\n"})
    gh.create_repo("myorg", "hello", files={"README.md": "hello"})
    gh.add_token(WRITER, "registry-bot", {"myorg/registry": "push", "myorg/hello": "push"})
    dirs = RunnerDirs.create(tmp_path / "runner")
    dirs.workspace.rmdir()
    files = {"post/Singularity.post": TINY_RECIPE} if post_recipe else {}
    bb = busybox()
    if post_recipe:
        if bb is None:
            pytest.fail("a static busybox is needed (apt-get install busybox-static)", pytrace=False)
        dirs.workspace.joinpath("post").mkdir(parents=True)
        shutil.copy(bb, dirs.workspace / "post/busybox")
        shutil.copytree(
            Path(__file__).resolve().parents[2] / "examples/container-repo", dirs.workspace, dirs_exist_ok=True
        )
        (dirs.workspace / "post/Singularity.post").write_text(TINY_RECIPE)
        from tests.support.action_runner import git

        git(dirs.workspace, "init", "-q", "-b", "main")
        git(dirs.workspace, "add", "-A")
        git(dirs.workspace, "commit", "-q", "-m", "recipes")
        repo = ContainerRepo(dirs.workspace)
    else:
        repo = ContainerRepo.create(dirs.workspace, files)
    dirs.write_event(
        {"before": "0" * 40, "after": repo.head(), "created": True, "forced": False, "ref": "refs/heads/main"}
    )
    return dirs, repo


def github_env(gh: GitHubServer, repo: ContainerRepo) -> dict[str, str]:
    return {
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REPOSITORY": "myorg/hello",
        "GITHUB_REPOSITORY_OWNER": "myorg",
        "GITHUB_SHA": repo.head(),
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_API_URL": gh.api_url,
        "GITHUB_SERVER_URL": gh.url,
        "GITHUB_ACTOR": "container-dev",
    }


def outputs(dirs: RunnerDirs) -> dict[str, str]:
    return parse_output_file((dirs.file_commands / "set_output_1").read_text())


def stored_file(dirs: RunnerDirs, url: str) -> Path:
    """The file storage's URL in the container (file:///github/runner_temp/...) on the host."""
    prefix = "file:///github/runner_temp/"
    assert url.startswith(prefix), url
    return dirs.runner_temp / url[len(prefix) :]


def check_published(gh: GitHubServer, dirs: RunnerDirs, run: ActionRun, tags: set[str]) -> list[dict[str, Any]]:
    log = run.stdout + run.stderr
    assert run.returncode == 0, log
    out = outputs(dirs)
    assert out["pull-request-operation"] == "created", out
    assert out["branch"] == "update/myorg/hello"
    images: list[dict[str, Any]] = json.loads(out["images"])
    assert {i["tag"] for i in images} == tags
    pulls = gh.pulls("myorg", "registry")
    assert len(pulls) == 1 and str(pulls[0]["number"]) == out["pull-request-number"]
    assert pulls[0]["html_url"] == out["pull-request-url"]
    for image in images:
        data = stored_file(dirs, image["url"]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == image["digest"]
        assert len(data) == image["size"]
    assert WRITER not in log
    return images


PUBLISH_TO_TEST_SERVER = {
    "registry": "myorg/registry",
    "token": WRITER,
    "storage": "file",
    "storage-path": "/github/runner_temp/images",
}


def test_action_builds_post_recipe_through_the_socket_and_opens_pr(
    action_image: str, podman_socket: Path, github_server: GitHubServer, tmp_path: Path
) -> None:
    gh = github_server
    dirs, repo = setup_world(gh, tmp_path)
    dirs.chown_to_runner_user()
    inputs = {
        **PUBLISH_TO_TEST_SERVER,
        "builder": "auto",
        "build-options": "--fakeroot",
    }
    env = runner_env(dirs, inputs, github_env(gh, repo))
    run = run_like_the_runner(action_image, dirs, env, podman_socket)
    log = run.stdout + run.stderr
    images = check_published(gh, dirs, run, {"latest", "tools", "post"})
    assert "builder: docker (building here is not possible" in log
    assert "in privileged container static-registry-build-" in log
    assert "+ echo 'made by %post as uid 0'" in log
    assert leftover_builders() == []
    assert list(dirs.runner_temp.glob("static-registry-build-*")) == []

    post = next(i for i in images if i["tag"] == "post")
    assert post["recipe"] == "post/Singularity.post"
    apptainer = host_apptainer()
    if apptainer is None:
        pytest.fail("no apptainer on the host to run the stored image (scripts/install-apptainer)", pytrace=False)
    sif = tmp_path / "downloaded.sif"
    shutil.copy(stored_file(dirs, post["url"]), sif)
    ran = subprocess.run(
        [apptainer, "run", str(sif), "x", "y"], capture_output=True, text=True, timeout=120, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[-2:] == ["made by %post as uid 0", "hello from the sibling-built image, args: x y"]


def test_action_auto_without_socket_fails_with_the_sentence(
    action_image: str, github_server: GitHubServer, tmp_path: Path
) -> None:
    gh = github_server
    dirs, repo = setup_world(gh, tmp_path, post_recipe=False)
    dirs.chown_to_runner_user()
    inputs = {
        **PUBLISH_TO_TEST_SERVER,
        "builder": "auto",
    }
    run = run_like_the_runner(action_image, dirs, runner_env(dirs, inputs, github_env(gh, repo)), None)
    assert run.returncode == 1, run.stdout + run.stderr
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert errors, run.stdout + run.stderr
    assert "Cannot build recipes here" in errors[-1]
    assert "there is no Docker socket at /var/run/docker.sock" in errors[-1]
    assert errors[-1].endswith(
        "run on a runner with Docker (the action's container needs /var/run/docker.sock), use a "
        "privileged self-hosted runner, or build in an earlier step and pass 'images' with 'builder: none'."
    )
    assert gh.pulls("myorg", "registry") == []


def test_action_publishes_prebuilt_images(action_image: str, github_server: GitHubServer, tmp_path: Path) -> None:
    gh = github_server
    apptainer = host_apptainer()
    if apptainer is None:
        pytest.fail("no apptainer on the host to build the prebuilt image (scripts/install-apptainer)", pytrace=False)
    dirs, repo = setup_world(gh, tmp_path, post_recipe=False)
    # an earlier step of the job built the images on the runner host
    prebuilt = dirs.workspace / "prebuilt"
    prebuilt.mkdir()
    for tag, recipe in (("latest", "Singularity"), ("tools", "tools/Singularity.tools")):
        done = subprocess.run(
            [apptainer, "build", str(prebuilt / f"{tag}.sif"), str(dirs.workspace / recipe)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=(dirs.workspace / recipe).parent,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    dirs.chown_to_runner_user()
    inputs = {
        **PUBLISH_TO_TEST_SERVER,
        "builder": "none",
        "images": "latest=prebuilt/latest.sif\ntools=/github/workspace/prebuilt/tools.sif",
    }
    run = run_like_the_runner(action_image, dirs, runner_env(dirs, inputs, github_env(gh, repo)), None)
    images = check_published(gh, dirs, run, {"latest", "tools"})
    by_tag = {i["tag"]: i for i in images}
    for tag in ("latest", "tools"):
        data = (prebuilt / f"{tag}.sif").read_bytes()
        assert by_tag[tag]["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
