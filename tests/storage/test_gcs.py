"""storage: gcs against gcp-storage-emulator (a real server process) and, for what the
emulator cannot answer (403, 401, token refresh), a stub HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path

import google_crc32c
import pytest

from static_registry.errors import StorageError, UserError
from static_registry.model import SIF_MEDIA_TYPE
from static_registry.storage import StorageContext, backend, open_storage
from static_registry.storage import gcs as gcsmod
from tests.storage.conftest import download_sha256
from tests.support.storage_servers import GCSServer, StubServer

Image = tuple[Path, str, int]
REFRESH_TOKEN = "1//refresh-TOKEN-secret-value-0123456789"
CLIENT_SECRET = "GOCSPX-client-secret-value"


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch, gcs_server: GCSServer) -> GCSServer:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.endpoint_url)
    return gcs_server


@pytest.fixture
def bucket(gcs_server: GCSServer) -> str:
    return gcs_server.create_bucket(f"b-{uuid.uuid4().hex[:12]}")


def uploads(server: GCSServer, bucket: str) -> list[str]:
    return [r for r in server.requests() if f"/b/{bucket}/o" in r and ('"POST' in r or '"PUT' in r)]


def assert_one_sentence(message: str, *names: str) -> None:
    assert message.startswith("gcs storage:")
    assert message.endswith(".")
    for name in names:
        assert name in message
    for secret in (REFRESH_TOKEN, CLIENT_SECRET):
        assert secret not in message


def test_store_small_file_then_download(
    emulator: GCSServer, bucket: str, small_image: Image, context: StorageContext
) -> None:
    path, digest, size = small_image
    storage = open_storage("gcs", {"bucket": bucket, "prefix": "sif"}, context)
    stored = storage.store(path, digest, size, "myorg/centos")
    assert stored.uploaded
    assert stored.key == f"sif/myorg/centos/{digest}.sif"
    assert stored.url == f"{emulator.endpoint_url}/{bucket}/{stored.key}"
    blob = emulator.client().bucket(bucket).get_blob(stored.key)
    assert blob.size == size
    assert blob.content_type == SIF_MEDIA_TYPE
    assert blob.metadata == {"sha256": digest}
    crc = base64.b64encode(google_crc32c.Checksum(path.read_bytes()).digest()).decode()
    assert blob.crc32c == crc
    assert download_sha256(stored.url) == (digest, size)
    assert storage.describe() == f"gs://{bucket}/sif at {emulator.endpoint_url}"


def test_second_store_skips_without_upload(
    emulator: GCSServer, bucket: str, small_image: Image, context: StorageContext
) -> None:
    path, digest, size = small_image
    storage = open_storage("gcs", {"bucket": bucket}, context)
    first = storage.store(path, digest, size, "myorg/centos")
    assert len(uploads(emulator, bucket)) == 1
    generation = emulator.client().bucket(bucket).get_blob(first.key).generation
    second = storage.store(path, digest, size, "myorg/centos")
    assert (second.key, second.url, second.uploaded) == (first.key, first.url, False)
    assert len(uploads(emulator, bucket)) == 1
    assert emulator.client().bucket(bucket).get_blob(first.key).generation == generation


def test_object_without_recorded_digest_is_replaced(
    emulator: GCSServer, bucket: str, small_image: Image, context: StorageContext
) -> None:
    path, digest, size = small_image
    key = f"myorg/centos/{digest}.sif"
    emulator.client().bucket(bucket).blob(key).upload_from_string(b"not the image")
    stored = open_storage("gcs", {"bucket": bucket}, context).store(path, digest, size, "myorg/centos")
    assert stored.uploaded
    blob = emulator.client().bucket(bucket).get_blob(key)
    assert (blob.size, blob.metadata) == (size, {"sha256": digest})


@pytest.mark.parametrize("checksum", ["md5", "none"])
def test_other_checksums(
    emulator: GCSServer, bucket: str, small_image: Image, context: StorageContext, checksum: str
) -> None:
    path, digest, size = small_image
    storage = open_storage("gcs", {"bucket": bucket, "gcs-checksum": checksum}, context)
    stored = storage.store(path, digest, size, "myorg/centos")
    assert download_sha256(stored.url) == (digest, size)


def test_large_file_resumable_in_chunks(
    emulator: GCSServer,
    bucket: str,
    large_image: Image,
    context: StorageContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, digest, size = large_image
    storage = open_storage("gcs", {"bucket": bucket, "gcs-chunk-size": "64"}, context)
    stored = storage.store(path, digest, size, "myorg/centos")
    assert stored.uploaded
    mine = [r for r in emulator.requests() if f"/upload/storage/v1/b/{bucket}/o" in r]
    started = [r for r in mine if r.startswith('"POST') and "uploadType=resumable" in r]
    chunks = [r for r in mine if r.startswith('"PUT')]
    assert len(started) == 1
    assert len(chunks) >= size // (64 << 20)
    blob = emulator.client().bucket(bucket).get_blob(stored.key)
    assert (blob.size, blob.metadata) == (size, {"sha256": digest})
    assert download_sha256(stored.url) == (digest, size)
    err = capsys.readouterr().err
    assert f"Uploading gs://{bucket}/{stored.key}: 21% (64.0/300.0 MiB), " in err
    assert "100% (300.0/300.0 MiB)" in err.splitlines()[-1]


# -- settings, URLs, credentials ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("bucket", ""),
        ("gcs-chunk-size", "1.1"),
        ("gcs-chunk-size", "x"),
        ("gcs-checksum", "sha1"),
        ("storage-retries", "0"),
    ],
)
def test_bad_settings(name: str, value: str, context: StorageContext) -> None:
    with pytest.raises(UserError, match=f"'{name}'"):
        backend("gcs").open({"bucket": "b-x", name: value}, context)


def test_public_urls(monkeypatch: pytest.MonkeyPatch, context: StorageContext) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    storage = backend("gcs").open({"bucket": "my-bucket"}, context)
    assert storage.url_for("a/b c.sif") == "https://storage.googleapis.com/my-bucket/a/b%20c.sif"
    storage = backend("gcs").open({"bucket": "my-bucket", "public-url": "https://cdn.example.org"}, context)
    assert storage.url_for("a/b.sif") == "https://cdn.example.org/a/b.sif"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "localhost:4443")
    storage = backend("gcs").open({"bucket": "my-bucket"}, context)
    assert storage.url_for("a/b.sif") == "http://localhost:4443/my-bucket/a/b.sif"


def test_credentials_path_translation() -> None:
    ws = Path("/github/workspace")
    there = {"/github/workspace/gha-creds-1a2b.json", "/github/workspace/sub/creds.json", "/etc/creds.json"}
    exists = there.__contains__
    host = "/home/runner/work/centos/centos/gha-creds-1a2b.json"
    t = gcsmod.container_credentials_path
    assert t(host, ws, exists=exists) == "/github/workspace/gha-creds-1a2b.json"
    # a self-hosted runner's _work folder, nested file
    assert t("/srv/runner/_work/centos/centos/sub/creds.json", ws, exists=exists) == "/github/workspace/sub/creds.json"
    # told where the host workspace is (checkout names that do not repeat)
    assert (
        t("/data/ws/sub/creds.json", ws, host_workspace="/data/ws", exists=exists) == "/github/workspace/sub/creds.json"
    )
    # present as it is (not in a container, or already translated): unchanged
    assert t("/etc/creds.json", ws, exists=exists) == "/etc/creds.json"
    # outside the workspace, or nothing there after mapping: unchanged, so the error names it
    assert t("/home/runner/creds.json", ws, exists=exists) == "/home/runner/creds.json"
    assert (
        t("/home/runner/work/centos/centos/other.json", ws, exists=exists)
        == "/home/runner/work/centos/centos/other.json"
    )
    assert t("", ws, exists=exists) == ""


@pytest.fixture
def no_google_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, closed_port: int) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{closed_port}")
    monkeypatch.setenv("GCE_METADATA_IP", f"127.0.0.1:{closed_port}")
    monkeypatch.setenv("NO_GCE_CHECK", "True")


@pytest.mark.usefixtures("no_google_env")
def test_host_credentials_path_is_translated_and_refresh_failure_reported(
    monkeypatch: pytest.MonkeyPatch, s3_stub: StubServer, small_image: Image, tmp_path: Path
) -> None:
    """google-github-actions/auth's host path is found in the container's workspace; the
    token endpoint (a stub) refuses the expired refresh token."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "oidc-token").write_text(REFRESH_TOKEN)
    creds = {  # what google-github-actions/auth writes for Workload Identity Federation
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/gh/providers/gh",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"{s3_stub.url}/v1/token",
        "credential_source": {"file": str(workspace / "oidc-token")},
    }
    (workspace / "gha-creds-5f3e.json").write_text(json.dumps(creds))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/home/runner/work/centos/centos/gha-creds-5f3e.json")
    s3_stub.answer_json(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    context = StorageContext(repository="myorg/centos", workspace=workspace)
    storage = open_storage("gcs", {"bucket": "real-bucket", "gcs-project": "p"}, context)
    path, digest, size = small_image
    with pytest.raises(StorageError) as e:
        storage.store(path, digest, size, "myorg/centos")
    assert os.environ["GOOGLE_APPLICATION_CREDENTIALS"] == str(workspace / "gha-creds-5f3e.json")
    assert [(m, p) for m, p, _ in s3_stub.seen][:1] == [("POST", "/v1/token")]
    assert_one_sentence(str(e.value), "real-bucket", digest, "could not be refreshed")


@pytest.mark.usefixtures("no_google_env")
def test_no_credentials(small_image: Image, context: StorageContext) -> None:
    storage = open_storage("gcs", {"bucket": "real-bucket", "gcs-project": "p"}, context)
    path, digest, size = small_image
    with pytest.raises(StorageError) as e:
        storage.store(path, digest, size, "myorg/centos")
    assert_one_sentence(str(e.value), "real-bucket", digest, "no Google credentials", "google-github-actions/auth")


# -- failures ------------------------------------------------------------------------------


def store_error(settings: dict[str, str], image: Image, context: StorageContext) -> str:
    path, digest, size = image
    storage = open_storage("gcs", settings, context)
    with pytest.raises(StorageError) as e:
        storage.store(path, digest, size, "myorg/centos")
    return str(e.value)


@pytest.mark.usefixtures("emulator")
def test_missing_bucket(small_image: Image, context: StorageContext) -> None:
    message = store_error({"bucket": "no-such-bucket-here"}, small_image, context)
    assert_one_sentence(message, "no-such-bucket-here", f"myorg/centos/{small_image[1]}.sif", "does not exist")


def gcs_error(status: int, reason: str) -> dict[str, object]:
    return {
        "error": {
            "code": status,
            "message": "sa@p.iam.gserviceaccount.com does not have storage.objects.get access",
            "errors": [{"reason": reason, "domain": "global", "message": "no"}],
        }
    }


@pytest.mark.usefixtures("no_google_env")
@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (403, "forbidden", "access denied (403 Forbidden)"),
        (401, "authError", "credentials were rejected (401 Unauthorized"),
    ],
)
def test_refused(
    monkeypatch: pytest.MonkeyPatch,
    s3_stub: StubServer,
    small_image: Image,
    tmp_path: Path,
    status: int,
    reason: str,
    expected: str,
) -> None:
    """Real credentials (Workload Identity Federation, token from the stub's STS endpoint)
    against a JSON API (the stub, through google's API_ENDPOINT_OVERRIDE) that refuses."""
    (tmp_path / "oidc-token").write_text(REFRESH_TOKEN)
    creds = {
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/gh/providers/gh",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"{s3_stub.url}/v1/token",
        "credential_source": {"file": str(tmp_path / "oidc-token")},
    }
    (tmp_path / "creds.json").write_text(json.dumps(creds))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "creds.json"))
    monkeypatch.setenv("API_ENDPOINT_OVERRIDE", s3_stub.url)
    s3_stub.answer_json(status, gcs_error(status, reason))
    s3_stub.answer_json(
        200,
        {
            "access_token": "ya29.ACCESS",
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 3600,
        },
        path="/v1/token",
    )
    context = StorageContext(repository="myorg/centos", workspace=tmp_path)
    message = store_error({"bucket": "locked-bucket", "gcs-project": "p"}, small_image, context)
    assert_one_sentence(message, "locked-bucket", small_image[1], expected)
    assert "ya29.ACCESS" not in message
    assert any(
        {k.lower(): v for k, v in h.items()}.get("authorization") == "Bearer ya29.ACCESS"
        for m, p, h in s3_stub.seen
        if "/b/locked-bucket/" in p
    )


def test_emulator_that_wants_credentials(
    monkeypatch: pytest.MonkeyPatch, s3_stub: StubServer, small_image: Image, context: StorageContext
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", s3_stub.url)
    s3_stub.answer_json(401, gcs_error(401, "authError"))
    message = store_error({"bucket": "locked-bucket"}, small_image, context)
    assert_one_sentence(message, "locked-bucket", "asked for credentials (401)")


def test_connection_refused(
    monkeypatch: pytest.MonkeyPatch, closed_port: int, small_image: Image, context: StorageContext
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{closed_port}")
    message = store_error(
        {"bucket": "some-bucket", "storage-timeout": "1", "storage-retries": "1"}, small_image, context
    )
    assert_one_sentence(message, "some-bucket", small_image[1], f"could not reach http://127.0.0.1:{closed_port}")
