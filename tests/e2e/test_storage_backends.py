"""The pipeline once per storage backend, through the runner: the manifest's URL downloads
to bytes whose sha256 is the manifest's digest. Real servers on 127.0.0.1 each time."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from static_registry.documents import Manifest
from tests.e2e.test_publish import WRITER, assert_clean, clone_registry, inputs, world
from tests.support.action_runner import ActionRunner, ContainerRepo, Result
from tests.support.github_fixture import GitHubServer
from tests.support.storage_servers import GCSServer, S3Server

__all__ = ["world"]


def backend_inputs(request: pytest.FixtureRequest, backend: str, world: dict[str, Any]) -> dict[str, str]:
    runner: ActionRunner = world["runner"]
    if backend == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        bucket = s3.create_bucket(f"sifs-{len(s3.requests())}-{id(world) % 10000}")
        runner.extra_env.update(s3.env)
        return {
            "storage": "s3",
            "bucket": bucket,
            "endpoint-url": s3.endpoint_url,
            "region": s3.region,
            "prefix": "images",
        }
    if backend == "gcs":
        gcs: GCSServer = request.getfixturevalue("gcs_server")
        bucket = gcs.create_bucket(f"sifs-{id(world) % 100000}")
        runner.extra_env.update(gcs.env)
        return {"storage": "gcs", "bucket": bucket, "gcs-project": gcs.project}
    if backend == "github-release":
        return {"storage": "github-release", "github-token": WRITER, "release-tag": "images"}
    return {"storage": "file", "storage-path": str(world["storage"])}


def manifest_layer(gh: GitHubServer, tmp_path: Path, tag: str) -> tuple[str, str, int]:
    clone = clone_registry(gh, tmp_path / "clone", "update/myorg/hello")
    manifest = Manifest.from_markdown(
        (clone / f"myorg/hello/manifests/{tag}/README.md").read_text(), "myorg/hello", tag
    )
    [layer] = manifest.layers
    assert (layer.digest, layer.size) == (manifest.digest, manifest.size)
    return layer.url, layer.digest, layer.size


@pytest.mark.parametrize("backend", ["file", "s3", "gcs", "github-release"])
def test_each_backend_end_to_end(
    request: pytest.FixtureRequest, backend: str, world: dict[str, Any], tmp_path: Path
) -> None:
    repo: ContainerRepo = world["repo"]
    settings = backend_inputs(request, backend, world)
    base = {k: v for k, v in inputs(world).items() if k not in ("storage", "storage-path")}
    result = world["runner"].run(repo.path, {**base, **settings}, "workflow_dispatch", {}, repo.head())
    assert isinstance(result, Result)
    assert result.status == 0, result.log
    assert result.outputs["pull-request-operation"] == "created"
    for image in result.images():
        url, digest, size = manifest_layer(world["gh"], tmp_path / image["tag"], image["tag"])
        assert (url, digest, size) == (image["url"], image["digest"], image["size"])
        with urllib.request.urlopen(url) as response:
            data = response.read()
        assert len(data) == size
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    assert_clean(result)
    if backend == "s3":
        assert "AWS_SECRET_ACCESS_KEY" not in result.log
        assert world["runner"].extra_env["AWS_SECRET_ACCESS_KEY"] not in result.log + result.summary


def test_storage_failure_publishes_nothing(request: pytest.FixtureRequest, world: dict[str, Any]) -> None:
    """A wrong bucket: one sentence naming backend and bucket, no branch, no pull request."""
    gh: GitHubServer = world["gh"]
    repo: ContainerRepo = world["repo"]
    s3: S3Server = request.getfixturevalue("s3_server")
    world["runner"].extra_env.update(s3.env)
    base = {k: v for k, v in inputs(world).items() if k not in ("storage", "storage-path")}
    settings = {"storage": "s3", "bucket": "no-such-bucket-here", "endpoint-url": s3.endpoint_url, "region": s3.region}
    result = world["runner"].run(repo.path, {**base, **settings}, "workflow_dispatch", {}, repo.head())
    assert isinstance(result, Result)
    assert result.status == 1
    [error] = result.errors()
    assert "s3" in error and "no-such-bucket-here" in error
    assert gh.branches("myorg", "registry").keys() == {"main"}
    assert gh.pulls("myorg", "registry") == []
