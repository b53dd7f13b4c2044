"""The sibling builder for real: the action's image, run the way the runner runs it (no
privileges, the engine socket mounted), builds a recipe with a ``%post`` step in a
privileged sibling container started through podman's Docker-compatible API."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import (
    TINY_RECIPE,
    RunnerDirs,
    busybox,
    host_apptainer,
    leftover_builders,
    run_like_the_runner,
    runner_env,
)

SCRIPT = """\
import os, pathlib, shutil, sys
from static_registry.build import select_builder
from static_registry.errors import UserError
from static_registry.model import Recipe
try:
    builder = select_builder(os.environ["INPUT_BUILDER"], os.environ["INPUT_BUILD-OPTIONS"].split(), {}, sys.stdout)
except UserError as e:
    print("USERERROR", e)
    sys.exit(1)
print("MODE", builder.mode, flush=True)
out = pathlib.Path("/tmp/out/tiny.sif")   # not a mount: built in runner_temp, moved here
out.parent.mkdir()
builder.build(Recipe(pathlib.Path("recipes/Singularity.tiny"), "tiny"), pathlib.Path("/github/workspace"), out, sys.stdout)
shutil.copy(out, "/github/file_commands/tiny.sif")
print("BUILT", out.stat().st_size)
"""


def make_workspace(tmp_path: Path) -> RunnerDirs:
    bb = busybox()
    if bb is None:
        pytest.fail("a static busybox is needed (apt-get install busybox-static)", pytrace=False)
    dirs = RunnerDirs.create(tmp_path)
    (dirs.workspace / "recipes").mkdir()
    (dirs.workspace / "recipes/Singularity.tiny").write_text(TINY_RECIPE)
    shutil.copy(bb, dirs.workspace / "recipes/busybox")
    dirs.write_event({})
    dirs.chown_to_runner_user()
    return dirs


def test_auto_builds_post_recipe_in_privileged_sibling(action_image: str, podman_socket: Path, tmp_path: Path) -> None:
    dirs = make_workspace(tmp_path)
    env = runner_env(dirs, {"builder": "auto", "build-options": "--fakeroot"})
    run = run_like_the_runner(action_image, dirs, env, podman_socket, ["-c", SCRIPT], entrypoint="/usr/bin/python3")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert (
        "builder: docker (building here is not possible: Apptainer cannot create a PID namespace with a fresh /proc"
        in out
    )
    assert "MODE docker" in out
    assert "in privileged container static-registry-build-" in out
    assert "+ echo 'made by %post as uid 0'" in out or "made by %post" in out  # apptainer's %post trace, streamed
    assert "INFO:    Build complete: /github/runner_temp/static-registry-build-" in out
    assert leftover_builders() == []
    assert list(dirs.runner_temp.glob("static-registry-build-*")) == []
    sif = dirs.file_commands / "tiny.sif"
    assert sif.stat().st_size > 4096

    apptainer = host_apptainer()
    if apptainer is None:
        pytest.fail("no apptainer on the host to run the built image (scripts/install-apptainer)", pytrace=False)
    ran = subprocess.run(
        [apptainer, "run", str(sif), "a", "b"], capture_output=True, text=True, timeout=120, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[-2:] == ["made by %post as uid 0", "hello from the sibling-built image, args: a b"]


def test_auto_without_socket_or_privileges_says_what_to_change(action_image: str, tmp_path: Path) -> None:
    dirs = make_workspace(tmp_path)
    env = runner_env(dirs, {"builder": "auto", "build-options": ""})
    run = run_like_the_runner(action_image, dirs, env, None, ["-c", SCRIPT], entrypoint="/usr/bin/python3")
    assert run.returncode == 1, run.stdout + run.stderr
    assert (
        "USERERROR Cannot build recipes here (Apptainer cannot create a PID namespace with a fresh /proc here"
        in run.stdout
    )
    assert "there is no Docker socket at /var/run/docker.sock" in run.stdout
    assert run.stdout.rstrip().endswith(
        "run on a runner with Docker (the action's container needs /var/run/docker.sock), use a "
        "privileged self-hosted runner, or build in an earlier step and pass 'images' with 'builder: none'."
    )


def test_failed_recipe_fails_and_leaves_no_container(action_image: str, podman_socket: Path, tmp_path: Path) -> None:
    dirs = make_workspace(tmp_path)
    recipe = dirs.workspace / "recipes/Singularity.tiny"
    recipe.write_text(TINY_RECIPE.replace('echo "made by', 'false\n    echo "made by'))
    env = runner_env(dirs, {"builder": "docker", "build-options": "--fakeroot"})
    run = run_like_the_runner(action_image, dirs, env, podman_socket, ["-c", SCRIPT], entrypoint="/usr/bin/python3")
    out = run.stdout + run.stderr
    assert run.returncode != 0, out
    assert (
        "BuildError" in out
        and "Recipe recipes/Singularity.tiny failed to build (apptainer exit status 255 in the builder container)"
        in out
    )
    assert leftover_builders() == []
