"""pull: resolve through the static API served over HTTP, download, verify, write."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from static_registry.errors import UserError
from static_registry.pull import parse_reference, pull
from static_registry.render import render
from tests.registry.helpers import StaticServer, add_collection, manifest, put_object

IMAGE = os.urandom(3 * 1024 * 1024 + 123)  # more than one 1 MiB chunk


@pytest.fixture
def setup(tmp_path: Path, serve: Callable[[Path], StaticServer]) -> tuple[str, Path, Path]:
    """A rendered registry site and a storage folder, each served by its own http.server."""
    storage = tmp_path / "storage"
    storage.mkdir()
    store_server = serve(storage)
    size, digest = put_object(storage, "img/good.sif", IMAGE)
    put_object(storage, "img/tampered.sif", IMAGE[:-1] + bytes([IMAGE[-1] ^ 1]))
    registry = tmp_path / "registry"
    registry.mkdir()
    add_collection(
        registry,
        "lab/tools",
        [
            manifest("lab/tools", "latest", size, digest, f"{store_server.url}/img/good.sif"),
            manifest("lab/tools", "1.0", size, digest, f"{store_server.url}/img/tampered.sif"),
            manifest("lab/tools", "gone", size, digest, f"{store_server.url}/img/missing.sif"),
        ],
    )
    site_dir = tmp_path / "site"
    render(registry, site_dir, "")
    site = serve(site_dir).url
    work = tmp_path / "work"
    work.mkdir()
    return site, work, storage


def test_good_pull_writes_the_exact_bytes(setup: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    site, work, _ = setup
    monkeypatch.chdir(work)
    result = pull(f"{site}/lab/tools", retry_delay=0.01)
    assert result.path == work / "tools_latest.sif"
    assert result.path.read_bytes() == IMAGE
    assert list(work.iterdir()) == [result.path]
    # a manifest URL and --output work too
    out = work / "x.sif"
    result = pull(f"{site}/lab/tools/manifests/latest/", out)
    assert out.read_bytes() == IMAGE and result.tag == "latest"


def test_progress_is_shown_when_asked(setup: tuple[str, Path, Path]) -> None:
    site, work, _ = setup
    err = io.StringIO()
    pull(f"{site}/lab/tools:latest", work / "p.sif", progress=True, stream=err)
    assert "100%" in err.getvalue()


def test_tampered_object_is_refused_and_leaves_nothing(setup: tuple[str, Path, Path]) -> None:
    site, work, _ = setup
    with pytest.raises(UserError, match=r"did not match its manifest.*does not match the manifest's sha256:"):
        pull(f"{site}/lab/tools:1.0", work / "t.sif", retry_delay=0.01)
    assert list(work.iterdir()) == []


def test_missing_tag_lists_the_tags(setup: tuple[str, Path, Path]) -> None:
    site, work, _ = setup
    with pytest.raises(UserError) as caught:
        pull(f"{site}/lab/tools:2.0", work / "t.sif")
    assert str(caught.value) == f"Tag '2.0' is not in lab/tools at {site}; available tags: 1.0, gone, latest."
    with pytest.raises(UserError, match=r"Collection 'lab/nothing' is not in the registry .* it has: lab/tools\."):
        pull(f"{site}/lab/nothing:latest", work / "t.sif")
    assert list(work.iterdir()) == []


def test_unreachable_storage(setup: tuple[str, Path, Path], tmp_path: Path) -> None:
    site, work, _ = setup
    with pytest.raises(UserError, match=r"Could not download lab/tools:gone from its storage \(.*HTTP 404"):
        pull(f"{site}/lab/tools:gone", work / "t.sif", retry_delay=0.01)
    registry = tmp_path / "reg2"
    registry.mkdir()
    digest = "sha256:" + "0" * 64
    add_collection(registry, "lab/down", [manifest("lab/down", "latest", 5, digest, "http://127.0.0.1:9/x.sif")])
    render(registry, tmp_path / "site2", "")
    with pytest.raises(UserError, match=r"Could not download lab/down:latest from its storage \(.*connection refused"):
        pull(f"{(tmp_path / 'site2').as_uri()}/lab/down", work / "t.sif", retries=1, retry_delay=0.01)
    assert list(work.iterdir()) == []


def test_a_site_that_is_not_a_registry(tmp_path: Path, serve: Callable[[Path], StaticServer]) -> None:
    folder = tmp_path / "web"
    (folder / "a" / "b" / "manifests" / "latest").mkdir(parents=True)
    (folder / "a" / "b" / "manifests" / "latest" / "index.html").write_text("<html>hello</html>")
    url = serve(folder).url
    with pytest.raises(UserError, match="did not return JSON"):
        pull(f"{url}/a/b", tmp_path / "x.sif")
    with pytest.raises(UserError, match=r"does not look like a static registry"):
        pull(f"{url}/c/d", tmp_path / "x.sif")
    with pytest.raises(UserError, match="Could not reach the registry"):
        pull("http://127.0.0.1:9/a/b", tmp_path / "x.sif", timeout=2)


def test_file_urls_work(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    size, digest = put_object(storage, "o.sif", IMAGE)
    registry = tmp_path / "registry"
    registry.mkdir()
    add_collection(registry, "lab/local", [manifest("lab/local", "v1", size, digest, (storage / "o.sif").as_uri())])
    site = tmp_path / "site"
    render(registry, site, "")
    out = tmp_path / "out.sif"
    pull(f"{site.as_uri()}/lab/local:v1", out)
    assert out.read_bytes() == IMAGE
    out.unlink()
    pull(f"{site}/lab/local:v1", out)  # a plain folder path
    assert out.read_bytes() == IMAGE
    with pytest.raises(UserError, match=r"available tags: v1\."):
        pull(f"{site.as_uri()}/lab/local:v2", out)


def test_parse_reference() -> None:
    r = parse_reference("example.org/reg/Lab/Tools:1.2")
    assert (r.site, r.collection, r.tag) == ("https://example.org/reg", "lab/tools", "1.2")
    r = parse_reference("http://127.0.0.1:8000/lab/tools")
    assert (r.site, r.collection, r.tag) == ("http://127.0.0.1:8000", "lab/tools", "latest")
    r = parse_reference("https://x.github.io/registry/lab/tools/manifests/3.0/index.json")
    assert (r.site, r.collection, r.tag) == ("https://x.github.io/registry", "lab/tools", "3.0")
    with pytest.raises(UserError, match="not a valid tag"):
        parse_reference("https://x.org/a/b:-bad")
