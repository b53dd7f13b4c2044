"""The registry side through the runner: verify the pull request publish opened, render the
merged registry, and pull an image through the rendered static API."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.test_publish import clone_registry, inputs, world
from tests.registry.helpers import StaticServer
from tests.support.action_runner import ActionRunner, ContainerRepo, Result
from tests.support.github_fixture import GitHubServer

__all__ = ["world"]


def test_verify_render_pull(world: dict[str, Any], tmp_path: Path, serve: Callable[[Path], StaticServer]) -> None:
    gh: GitHubServer = world["gh"]
    repo: ContainerRepo = world["repo"]
    storage = world["storage"]
    storage.mkdir()
    bucket = serve(storage)
    public = f"http://127.0.0.1:{bucket.port}"
    published = world["runner"].run(
        repo.path, inputs(world, **{"public-url": public}), "workflow_dispatch", {}, repo.head()
    )
    assert isinstance(published, Result) and published.status == 0, published.log
    pr = gh.pulls("myorg", "registry")[0]

    # verify, as the registry's pull_request workflow runs it (checkout with fetch-depth: 0)
    checkout = clone_registry(gh, tmp_path / "registry-pr", pr["head"]["sha"])
    registry_runner = ActionRunner(
        tmp_path / "registry-runner", api_url=gh.api_url, server_url=gh.url, repository="myorg/registry"
    )
    event = {"number": pr["number"], "pull_request": {k: pr[k] for k in ("number", "head", "base")}}
    verified = registry_runner.run(
        checkout, {"command": "verify", "allow-http": "true"}, "pull_request", event, pr["head"]["sha"]
    )
    assert isinstance(verified, Result)
    assert verified.status == 0, verified.log
    assert "verified" in verified.summary and "| `myorg/hello` | `latest` |" in verified.summary

    # a tampered object is caught, with an annotation on its manifest
    [latest] = [i for i in published.images() if i["tag"] == "latest"]
    stored = storage / "myorg/hello" / (latest["digest"].removeprefix("sha256:") + ".sif")
    data = bytearray(stored.read_bytes())
    data[4096] ^= 0xFF  # same size, other bytes
    stored.write_bytes(bytes(data))
    rejected = registry_runner.run(
        checkout, {"command": "verify", "allow-http": "true"}, "pull_request", event, pr["head"]["sha"]
    )
    assert isinstance(rejected, Result)
    assert rejected.status == 1
    assert any("file=myorg/hello/manifests/latest/README.md" in e and "sha256" in e for e in rejected.errors()), (
        rejected.errors()
    )
    # and without allow-http, an http URL is refused
    strict = registry_runner.run(checkout, {"command": "verify"}, "pull_request", event, pr["head"]["sha"])
    assert isinstance(strict, Result) and strict.status == 1
    assert any("uses http" in e for e in strict.errors())

    # merge (after fixing the object), render the default branch, pull through the site
    world["runner"].run(repo.path, inputs(world, **{"public-url": public}), "workflow_dispatch", {}, repo.head())
    pr = gh.pulls("myorg", "registry", "open")[0]
    gh.merge("myorg", "registry", pr["number"])
    main = clone_registry(gh, tmp_path / "registry-main", "main")
    rendered = registry_runner.run(main, {"command": "render", "site-url": "http://site.invalid"}, "push", {}, "")
    assert isinstance(rendered, Result) and rendered.status == 0, rendered.log
    site_dir = Path(rendered.outputs["site"])
    tags = json.loads((site_dir / "myorg/hello/tags/index.html").read_text())
    assert tags == {"name": "myorg/hello", "tags": ["latest", "tools"]}
    site = serve(site_dir)
    out = tmp_path / "pulled.sif"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "static_registry",
            "pull",
            f"http://127.0.0.1:{site.port}/myorg/hello:tools",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((site_dir / "myorg/hello/manifests/tools/index.html").read_text())
    assert "sha256:" + hashlib.sha256(out.read_bytes()).hexdigest() == manifest["layers"][0]["digest"]
