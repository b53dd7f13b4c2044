"""storage: github-release against the GitHub test server (a real server process on
127.0.0.1 with GitHub Enterprise Server paths, responses checked against GitHub's OpenAPI)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from static_registry.errors import StorageError, UserError
from static_registry.storage import StorageContext, open_storage
from static_registry.storage.github_release import DEFAULT_TAG, asset_name
from tests.storage.conftest import download_sha256
from tests.support.github_fixture import GitHubServer

Image = tuple[Path, str, int]
WRITE_TOKEN = "ghs_writeTOKEN0123456789abcdefABCDEF"
READ_TOKEN = "ghs_readTOKEN0123456789abcdefABCDEFG"


@pytest.fixture
def gh(github_server: GitHubServer) -> GitHubServer:
    github_server.create_repo("myorg", "centos", files={"Singularity": "Bootstrap: scratch\n"})
    github_server.add_token(WRITE_TOKEN, "builder", {"myorg/centos": "push"})
    github_server.add_token(READ_TOKEN, "reader", {"myorg/centos": "pull"})
    return github_server


def ctx(gh: GitHubServer, tmp_path: Path, token: str = WRITE_TOKEN, api: str = "") -> StorageContext:
    return StorageContext(
        repository="myorg/centos", workspace=tmp_path, github_api_url=api or gh.api_url, github_token=token
    )


def uploads(gh: GitHubServer) -> list[dict[str, object]]:
    return [r for r in gh.requests() if str(r["path"]).startswith("/api/uploads/")]


def assert_one_sentence(message: str, *names: str) -> None:
    assert message.startswith("github-release storage:")
    assert message.endswith(".")
    for name in names:
        assert name in message
    assert WRITE_TOKEN not in message and READ_TOKEN not in message


def test_asset_names() -> None:
    assert asset_name("", "ab") == "ab.sif"
    assert asset_name("/images/v1/", "ab") == "images-v1-ab.sif"


def test_store_creates_release_and_downloads(gh: GitHubServer, small_image: Image, tmp_path: Path) -> None:
    path, digest, size = small_image
    storage = open_storage("github-release", {}, ctx(gh, tmp_path))
    stored = storage.store(path, digest, size, "myorg/centos")
    assert stored.uploaded
    assert stored.key == f"{digest}.sif"
    assert stored.url == f"{gh.url}/myorg/centos/releases/download/{DEFAULT_TAG}/{digest}.sif"
    assert download_sha256(stored.url) == (digest, size)
    (release,) = gh.releases("myorg", "centos")
    assert release["tag_name"] == DEFAULT_TAG and not release["draft"]
    (asset,) = release["assets"]
    assert (asset["name"], asset["size"], asset["digest"]) == (f"{digest}.sif", size, f"sha256:{digest}")
    assert asset["content_type"] == "application/vnd.sylabs.sif.layer.v1.sif"


def test_second_store_skips_upload(gh: GitHubServer, small_image: Image, tmp_path: Path) -> None:
    path, digest, size = small_image
    storage = open_storage("github-release", {"release-tag": "images", "prefix": "v1"}, ctx(gh, tmp_path))
    first = storage.store(path, digest, size, "myorg/centos")
    assert first.key == f"v1-{digest}.sif"
    assert len(uploads(gh)) == 1
    gh.clear_requests()
    second = storage.store(path, digest, size, "myorg/centos")
    assert (second.key, second.url, second.uploaded) == (first.key, first.url, False)
    assert uploads(gh) == []
    assert [r["tag_name"] for r in gh.releases("myorg", "centos")] == ["images"]


def test_broken_asset_is_replaced(gh: GitHubServer, small_image: Image, tmp_path: Path) -> None:
    path, digest, size = small_image
    storage = open_storage("github-release", {}, ctx(gh, tmp_path))
    release = storage.release()  # type: ignore[attr-defined]
    bogus = urllib.request.Request(
        f"{gh.uploads_url}/repos/myorg/centos/releases/{release['id']}/assets?name={digest}.sif",
        data=b"truncated",
        method="POST",
        headers={"Authorization": f"Bearer {WRITE_TOKEN}", "Content-Type": "application/octet-stream"},
    )
    urllib.request.urlopen(bogus).read()
    stored = storage.store(path, digest, size, "myorg/centos")
    assert stored.uploaded
    assert download_sha256(stored.url) == (digest, size)
    (asset,) = gh.releases("myorg", "centos")[0]["assets"]
    assert asset["size"] == size


def test_large_file_streamed(
    gh: GitHubServer, large_image: Image, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, digest, size = large_image
    stored = open_storage("github-release", {}, ctx(gh, tmp_path)).store(path, digest, size, "myorg/centos")
    assert stored.uploaded
    assert download_sha256(stored.url) == (digest, size)
    err = capsys.readouterr().err
    assert f"Uploading {digest}.sif to release {DEFAULT_TAG} of myorg/centos: 10% (" in err
    assert "100% (300.0/300.0 MiB)" in err.splitlines()[-1]


def test_two_gib_refused_before_upload(gh: GitHubServer, tmp_path: Path) -> None:
    path = tmp_path / "huge.sif"
    with path.open("wb") as f:
        f.truncate(2 * 1024**3)  # sparse
    with pytest.raises(StorageError) as e:
        open_storage("github-release", {}, ctx(gh, tmp_path)).store(path, "ab" * 32, 2 * 1024**3, "myorg/centos")
    message = str(e.value)
    assert_one_sentence(message, f"{'ab' * 32}.sif", "under 2 GiB", "s3 or gcs")
    assert uploads(gh) == []


def test_read_only_token(gh: GitHubServer, small_image: Image, tmp_path: Path) -> None:
    path, digest, size = small_image
    with pytest.raises(StorageError) as e:
        open_storage("github-release", {}, ctx(gh, tmp_path, READ_TOKEN)).store(path, digest, size, "myorg/centos")
    assert_one_sentence(str(e.value), f"{digest}.sif", DEFAULT_TAG, "myorg/centos", "contents: write")


def test_bad_token(gh: GitHubServer, small_image: Image, tmp_path: Path) -> None:
    path, digest, size = small_image
    with pytest.raises(StorageError) as e:
        open_storage("github-release", {}, ctx(gh, tmp_path, "ghp_unknownTOKENvalue")).store(
            path, digest, size, "myorg/centos"
        )
    assert_one_sentence(str(e.value), f"{digest}.sif", "401", "'github-token'")
    assert "ghp_unknownTOKENvalue" not in str(e.value)


def test_connection_refused(gh: GitHubServer, small_image: Image, tmp_path: Path, closed_port: int) -> None:
    path, digest, size = small_image
    api = f"http://127.0.0.1:{closed_port}/api/v3"
    storage = open_storage("github-release", {"storage-retries": "1"}, ctx(gh, tmp_path, api=api))
    with pytest.raises(StorageError) as e:
        storage.store(path, digest, size, "myorg/centos")
    assert_one_sentence(str(e.value), f"{digest}.sif", f"could not reach {api}")


def test_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="'github-token'"):
        open_storage("github-release", {}, StorageContext("myorg/centos", tmp_path))


def test_server_error_is_retried(gh: GitHubServer, small_image: Image, tmp_path: Path) -> None:
    path, digest, size = small_image
    storage = open_storage("github-release", {}, ctx(gh, tmp_path))
    release = storage.release()  # type: ignore[attr-defined]
    gh.fail_next(f"/api/uploads/repos/myorg/centos/releases/{release['id']}/assets", 502, method="POST")
    stored = storage.store(path, digest, size, "myorg/centos")
    assert stored.uploaded
    assert [r["status"] for r in uploads(gh)] == [502, 201]
