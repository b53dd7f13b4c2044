"""One full operating system image, built from the Debian archive with debootstrap, published
and run: the recipe kind most users have (tens of seconds; marked slow)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.action_runner import ContainerRepo, git, local_registry

pytestmark = pytest.mark.slow


def mirror() -> str:
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        m = re.search(r"^URIs:\s*(\S+)", sources.read_text(), re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


RECIPE = """\
Bootstrap: debootstrap
OSVersion: bookworm
MirrorURL: {mirror}
Include: busybox

%post
    echo built > /etc/built-marker

%runscript
    echo "debian $(cat /etc/debian_version), $(cat /etc/built-marker)"
"""


def test_debootstrap_image_is_built_published_and_runs(tmp_path: Path) -> None:
    repo = ContainerRepo.create(tmp_path / "repo", {"os/Singularity.bookworm": RECIPE.format(mirror=mirror())})
    registry = local_registry(tmp_path / "registry")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    argv = [sys.executable, "-m", "static_registry", "publish", "--json", "--path", str(repo.path),
            "--repository", "lab/os", "--registry", str(registry), "--storage-path", str(tmp_path / "images"),
            "--recipes", "os/Singularity.*", "--build-options=--fakeroot"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-5000:]
    [image] = json.loads(done.stdout)["images"]
    assert image["tag"] == "bookworm" and image["size"] > 50_000_000
    sif = image["url"].removeprefix("file://")
    run = subprocess.run(["apptainer", "-s", "run", sif], capture_output=True, text=True, timeout=120)
    assert re.fullmatch(r"debian 12\.\d+, built\n", run.stdout), run.stdout + run.stderr
    manifest = git(registry, "show", "update/lab/os:lab/os/manifests/bookworm/README.md")
    assert f"digest: {image['digest']}" in manifest
    assert "org.label-schema.usage.singularity.deffile.bootstrap: debootstrap" in manifest
