"""storage: s3 against moto_server (a real server process) and, for the answers moto cannot
give, a stub HTTP server on 127.0.0.1 speaking S3's error documents."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from pathlib import Path

import pytest

from static_registry.errors import StorageError, UserError
from static_registry.model import SIF_MEDIA_TYPE
from static_registry.storage import StorageContext, backend, open_storage
from static_registry.storage import s3 as s3mod
from tests.storage.conftest import download_sha256
from tests.support.storage_servers import ACCESS_KEY, SECRET_KEY, S3AuthServer, S3Server, StubServer

SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKENvalue0123456789"
Image = tuple[Path, str, int]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, s3_server: S3Server) -> None:
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.create_bucket(f"b-{uuid.uuid4().hex[:12]}")


def settings(endpoint: str, bucket: str, **extra: str) -> dict[str, str]:
    return {"bucket": bucket, "endpoint-url": endpoint, **{k.replace("_", "-"): v for k, v in extra.items()}}


def key_requests(server: S3Server, key: str, methods: tuple[str, ...] = ("PUT", "POST")) -> list[str]:
    return [r for r in server.requests() if key in r and any(f'"{m} ' in r for m in methods)]


def assert_one_sentence(message: str, *names: str) -> None:
    assert message.startswith("s3 storage:")
    assert message.endswith(".")
    for name in names:
        assert name in message
    for secret in (SECRET_KEY, ACCESS_KEY, SESSION_TOKEN):
        assert secret not in message


# -- happy paths ---------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_env")
def test_store_small_file_then_download(
    s3_server: S3Server, bucket: str, small_image: Image, context: StorageContext
) -> None:
    path, digest, size = small_image
    storage = open_storage("s3", settings(s3_server.endpoint_url, bucket, prefix="images/"), context)
    stored = storage.store(path, digest, size, "myorg/centos")

    assert stored.uploaded
    assert stored.key == f"images/myorg/centos/{digest}.sif"
    assert stored.url == f"{s3_server.endpoint_url}/{bucket}/{stored.key}"
    head = s3_server.client().head_object(Bucket=bucket, Key=stored.key, ChecksumMode="ENABLED")
    assert head["ContentLength"] == size
    assert head["ContentType"] == SIF_MEDIA_TYPE
    assert head["Metadata"] == {"sha256": digest}
    # single part: the server-verified SHA256 is the file's own
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(digest)).decode()
    assert download_sha256(stored.url) == (digest, size)
    assert storage.describe() == f"s3://{bucket}/images at {s3_server.endpoint_url}"


@pytest.mark.usefixtures("aws_env")
def test_second_store_skips_without_put(
    s3_server: S3Server, bucket: str, small_image: Image, context: StorageContext
) -> None:
    path, digest, size = small_image
    storage = open_storage("s3", settings(s3_server.endpoint_url, bucket), context)
    first = storage.store(path, digest, size, "myorg/centos")
    puts = key_requests(s3_server, first.key)
    assert len(puts) == 1
    before = s3_server.client().head_object(Bucket=bucket, Key=first.key)["LastModified"]

    second = storage.store(path, digest, size, "myorg/centos")

    assert second == type(first)(first.key, first.url, uploaded=False)
    assert key_requests(s3_server, first.key) == puts
    assert s3_server.client().head_object(Bucket=bucket, Key=first.key)["LastModified"] == before


@pytest.mark.usefixtures("aws_env")
def test_object_without_recorded_digest_is_replaced(
    s3_server: S3Server, bucket: str, small_image: Image, context: StorageContext
) -> None:
    path, digest, size = small_image
    key = f"myorg/centos/{digest}.sif"
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=path.read_bytes())  # no metadata
    stored = open_storage("s3", settings(s3_server.endpoint_url, bucket), context).store(
        path, digest, size, "myorg/centos"
    )
    assert stored.uploaded
    assert s3_server.client().head_object(Bucket=bucket, Key=key)["Metadata"] == {"sha256": digest}


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("checksum", ["md5", "none", "crc32"])
def test_other_checksums(
    s3_server: S3Server, bucket: str, small_image: Image, context: StorageContext, checksum: str
) -> None:
    path, digest, size = small_image
    storage = open_storage("s3", settings(s3_server.endpoint_url, bucket, s3_checksum=checksum), context)
    stored = storage.store(path, digest, size, "myorg/centos")
    assert stored.uploaded
    assert download_sha256(stored.url) == (digest, size)


def test_content_md5_handler_keeps_the_body_position() -> None:
    body = io.BytesIO(b"xxhello")
    body.seek(2)
    params: dict[str, object] = {"body": body, "headers": {}}
    s3mod._content_md5(params)
    assert params["headers"] == {"Content-MD5": base64.b64encode(hashlib.md5(b"hello").digest()).decode()}
    assert body.tell() == 2


@pytest.mark.usefixtures("aws_env")
def test_extra_args_and_acl(s3_server: S3Server, bucket: str, small_image: Image, context: StorageContext) -> None:
    path, digest, size = small_image
    storage = open_storage(
        "s3",
        settings(
            s3_server.endpoint_url,
            bucket,
            s3_acl="public-read",
            s3_extra_args='{"StorageClass": "STANDARD_IA", "CacheControl": "max-age=60", "Metadata": {"team": "hpc"}}',
        ),
        context,
    )
    stored = storage.store(path, digest, size, "myorg/centos")
    head = s3_server.client().head_object(Bucket=bucket, Key=stored.key)
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["CacheControl"] == "max-age=60"
    assert head["Metadata"] == {"team": "hpc", "sha256": digest}
    grants = s3_server.client().get_object_acl(Bucket=bucket, Key=stored.key)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)


@pytest.mark.usefixtures("aws_env")
def test_large_file_multipart_verified(
    s3_server: S3Server,
    bucket: str,
    large_image: Image,
    context: StorageContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, digest, size = large_image
    storage = open_storage("s3", settings(s3_server.endpoint_url, bucket, s3_part_size="32"), context)
    stored = storage.store(path, digest, size, "myorg/centos")
    assert stored.uploaded
    parts = key_requests(s3_server, stored.key, ("PUT",))
    assert len(parts) == size // (32 << 20) + 1 and all("partNumber=" in p for p in parts)
    head = s3_server.client().head_object(Bucket=bucket, Key=stored.key)
    assert head["ETag"].endswith(f'-{len(parts)}"')
    assert head["Metadata"] == {"sha256": digest}
    assert download_sha256(stored.url) == (digest, size)
    err = capsys.readouterr().err
    assert f"Uploading s3://{bucket}/{stored.key}: 10% (" in err
    assert "% (300.0/300.0 MiB)" in err.splitlines()[-1]


# -- settings and URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ('{"Bogus": 1}', "'Bogus', which boto3 does not accept"),
        ('{"ACL": "private"}', "use the input 's3-acl'"),
        ('{"Metadata": {"a": 1}}', "not an object of strings"),
    ],
)
def test_extra_args_are_validated(raw: str, fragment: str, context: StorageContext) -> None:
    with pytest.raises(UserError, match="s3-extra-args") as e:
        backend("s3").open({"bucket": "b-x", "s3-extra-args": raw}, context)
    assert fragment in str(e.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("bucket", ""),
        ("s3-addressing-style", "sideways"),
        ("s3-checksum", "sha512"),
        ("s3-part-size", "4"),
        ("endpoint-url", "minio:9000"),
        ("s3-retry-mode", "never"),
    ],
)
def test_bad_settings(name: str, value: str, context: StorageContext) -> None:
    with pytest.raises(UserError, match=f"'{name}'"):
        backend("s3").open({"bucket": "b-x", name: value}, context)


def test_public_urls() -> None:
    url = s3mod.public_object_url
    assert url("my-bucket", "a/b.sif", region="eu-west-1") == "https://my-bucket.s3.eu-west-1.amazonaws.com/a/b.sif"
    assert url("my.bucket", "a/b.sif", region="eu-west-1") == "https://s3.eu-west-1.amazonaws.com/my.bucket/a/b.sif"
    assert (
        url("my-bucket", "a/b.sif", region="", addressing_style="path")
        == "https://s3.us-east-1.amazonaws.com/my-bucket/a/b.sif"
    )
    assert url("b1x", "k.sif", region="x", endpoint_url="http://127.0.0.1:9000") == "http://127.0.0.1:9000/b1x/k.sif"
    assert (
        url("b1x", "k.sif", region="x", endpoint_url="https://minio.example.org/s3")
        == "https://minio.example.org/s3/b1x/k.sif"
    )
    assert (
        url("b1x", "k.sif", region="x", endpoint_url="https://r2.example.com", addressing_style="virtual")
        == "https://b1x.r2.example.com/k.sif"
    )
    assert (
        url("b1x", "k.sif", region="x", endpoint_url="http://127.0.0.1:9000", addressing_style="virtual")
        == "http://127.0.0.1:9000/b1x/k.sif"
    )
    assert (
        url("b1x", "a b.sif", region="x", public_url="https://cdn.example.org/img/")
        == "https://cdn.example.org/img/a%20b.sif"
    )


def test_region_from_environment(monkeypatch: pytest.MonkeyPatch, context: StorageContext) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    storage = backend("s3").open({"bucket": "my-bucket"}, context)
    assert storage.url_for("k.sif") == "https://my-bucket.s3.ap-south-1.amazonaws.com/k.sif"
    storage = backend("s3").open({"bucket": "my-bucket", "region": "eu-north-1"}, context)
    assert storage.url_for("k.sif") == "https://my-bucket.s3.eu-north-1.amazonaws.com/k.sif"


# -- failures ------------------------------------------------------------------------------


def store_error(storage_settings: dict[str, str], image: Image, context: StorageContext) -> str:
    path, digest, size = image
    storage = open_storage("s3", storage_settings, context)
    with pytest.raises(StorageError) as e:
        storage.store(path, digest, size, "myorg/centos")
    return str(e.value)


@pytest.mark.usefixtures("aws_env")
def test_missing_bucket(s3_server: S3Server, small_image: Image, context: StorageContext) -> None:
    message = store_error(settings(s3_server.endpoint_url, "no-such-bucket-here"), small_image, context)
    assert_one_sentence(
        message, "no-such-bucket-here", f"myorg/centos/{small_image[1]}.sif", "does not exist", "'bucket'"
    )


def test_access_denied(
    monkeypatch: pytest.MonkeyPatch, s3_auth_server: S3AuthServer, small_image: Image, context: StorageContext
) -> None:
    """moto enforcing IAM: a user without any policy."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_auth_server.denied_access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_auth_server.denied_secret_key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    message = store_error(settings(s3_auth_server.endpoint_url, s3_auth_server.bucket), small_image, context)
    assert_one_sentence(message, s3_auth_server.bucket, small_image[1], "access denied (AccessDenied)", "s3:PutObject")
    assert s3_auth_server.denied_secret_key not in message
    assert s3_auth_server.denied_access_key not in message


def test_unknown_access_key(
    monkeypatch: pytest.MonkeyPatch, s3_auth_server: S3AuthServer, small_image: Image, context: StorageContext
) -> None:
    for k, v in s3_auth_server.env.items():
        monkeypatch.setenv(k, v)
    message = store_error(settings(s3_auth_server.endpoint_url, s3_auth_server.bucket), small_image, context)
    assert_one_sentence(message, s3_auth_server.bucket, small_image[1], "rejected the credentials (InvalidAccessKeyId)")


@pytest.fixture
def stub_env(monkeypatch: pytest.MonkeyPatch, s3_server: S3Server) -> None:
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)


@pytest.mark.usefixtures("stub_env")
def test_wrong_region(s3_stub: StubServer, small_image: Image, context: StorageContext) -> None:
    s3_stub.answer_s3_error(
        301,
        "PermanentRedirect",
        "The bucket you are attempting to access must be addressed using the specified endpoint.",
        {"x-amz-bucket-region": "eu-west-1"},
        Bucket="euro-bucket",
        Endpoint="euro-bucket.s3.eu-west-1.amazonaws.com",
    )
    message = store_error(settings(s3_stub.url, "euro-bucket", region="us-east-1"), small_image, context)
    assert_one_sentence(
        message, "euro-bucket", small_image[1], "another region than 'us-east-1'", "set the input 'region' to eu-west-1"
    )


@pytest.mark.usefixtures("stub_env")
def test_wrong_region_authorization_header(s3_stub: StubServer, small_image: Image, context: StorageContext) -> None:
    s3_stub.answer_s3_error(
        400,
        "AuthorizationHeaderMalformed",
        "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ap-southeast-2'",
        Region="ap-southeast-2",
    )
    message = store_error(settings(s3_stub.url, "syd-bucket"), small_image, context)
    assert_one_sentence(message, "syd-bucket", "set the input 'region' to ap-southeast-2")


@pytest.mark.usefixtures("stub_env")
def test_expired_token(s3_stub: StubServer, small_image: Image, context: StorageContext) -> None:
    s3_stub.answer_s3_error(400, "ExpiredToken", "The provided token has expired.")
    message = store_error(settings(s3_stub.url, "some-bucket"), small_image, context)
    assert_one_sentence(message, "some-bucket", small_image[1], "credentials have expired (ExpiredToken)")
    # the HEAD (no body) was followed by a GET that told the reason
    methods = [m for m, _, _ in s3_stub.seen]
    assert methods[0] == "HEAD" and "GET" in methods
    assert any(h.get("X-Amz-Security-Token") == SESSION_TOKEN for _, _, h in s3_stub.seen)


@pytest.mark.usefixtures("stub_env")
def test_expired_token_on_upload(s3_stub: StubServer, small_image: Image, context: StorageContext) -> None:
    """HEAD says 404 (object missing), then the PUT is refused."""
    s3_stub.answer_s3_error(400, "ExpiredToken", "The provided token has expired.")
    s3_stub.response.status = 400
    storage = open_storage("s3", settings(s3_stub.url, "some-bucket"), context)
    original = storage._head  # type: ignore[attr-defined]
    storage._head = lambda key, doing: None if doing == "check for" else original(key, doing)  # type: ignore[attr-defined]
    with pytest.raises(StorageError, match=r"could not upload key .* credentials have expired") as e:
        storage.store(*small_image[:1], small_image[1], small_image[2], "myorg/centos")
    assert_one_sentence(str(e.value), "some-bucket")


@pytest.mark.usefixtures("stub_env")
def test_signature_mismatch(s3_stub: StubServer, small_image: Image, context: StorageContext) -> None:
    s3_stub.answer_s3_error(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
        AWSAccessKeyId=ACCESS_KEY,
    )
    message = store_error(settings(s3_stub.url, "some-bucket"), small_image, context)
    assert_one_sentence(message, "some-bucket", "rejected the credentials (SignatureDoesNotMatch)")


@pytest.mark.usefixtures("aws_env")
def test_connection_refused(closed_port: int, small_image: Image, context: StorageContext) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}"
    message = store_error(settings(endpoint, "some-bucket", storage_retries="1"), small_image, context)
    assert_one_sentence(message, "some-bucket", small_image[1], f"could not reach {endpoint} (EndpointConnectionError)")


def test_no_credentials(
    monkeypatch: pytest.MonkeyPatch, s3_server: S3Server, small_image: Image, context: StorageContext
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    message = store_error(settings(s3_server.endpoint_url, "some-bucket"), small_image, context)
    assert_one_sentence(message, "some-bucket", "no usable AWS credentials", "configure-aws-credentials")
