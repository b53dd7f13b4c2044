"""``s3``: Amazon S3 or any S3-compatible store (MinIO, Ceph, Wasabi, R2…) through boto3.

Uploads go through s3transfer (multipart with parallel parts above ``s3-part-size``; the
parts are read from the file on demand, so memory stays bounded whatever the image size).
Each request carries a checksum the server verifies (SHA256 by default, Content-MD5 per
part for servers without flexible checksums). The file's sha256 is recorded as object
metadata (``x-amz-meta-sha256``): the skip check and the check after upload read it back.

Credentials are whatever boto3 finds (environment incl. ``AWS_SESSION_TOKEN`` written by
aws-actions/configure-aws-credentials, profiles, instance and container roles). Retries and
timeouts are botocore's own (``Config(retries=..., connect_timeout=..., read_timeout=...)``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

from ..errors import StorageError, UserError
from ..model import SIF_MEDIA_TYPE
from ..progress import Progress
from . import RETRIES, TIMEOUT, Setting, StorageContext, StoredObject, join_url, object_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NAME = "s3"
METADATA_KEY = "sha256"
"""Object metadata holding the file's sha256 hex (``x-amz-meta-sha256``)."""
MIB = 1024 * 1024
PROGRESS_MIN_SIZE = 16 * MIB

CHECKSUMS = ("auto", "sha256", "crc32", "md5", "none")

SETTINGS = (
    Setting("bucket", "Bucket that receives the images (storage: s3 or gcs).", ""),
    Setting(
        "region",
        "Region of the bucket (storage: s3); empty: AWS_REGION / AWS_DEFAULT_REGION / the profile, else us-east-1.",
        "",
    ),
    Setting(
        "endpoint-url",
        "Endpoint of an S3-compatible store (MinIO, Ceph, Wasabi, Cloudflare R2…), e.g. "
        "https://minio.example.org:9000 (storage: s3); empty: AWS.",
        "",
    ),
    Setting(
        "s3-addressing-style",
        "How requests and public URLs name the bucket (storage: s3): auto, path "
        "(<endpoint>/<bucket>/<key>) or virtual (<bucket>.<host>/<key>).",
        "auto",
    ),
    Setting(
        "s3-acl",
        "Canned ACL given to each image (storage: s3), e.g. public-read; empty: none, the "
        "bucket policy decides who may read.",
        "",
    ),
    Setting(
        "s3-extra-args",
        'JSON object of extra upload arguments (storage: s3), e.g. {"StorageClass": '
        '"INTELLIGENT_TIERING", "CacheControl": "max-age=31536000"}; keys are those boto3 '
        "allows for uploads.",
        "",
    ),
    Setting(
        "s3-checksum",
        "Checksum the server verifies on each request (storage: s3): sha256, crc32, md5 "
        "(Content-MD5 per part, for S3-compatible servers without flexible checksums), "
        "none, or auto (sha256, falling back to md5 when the server rejects it).",
        "auto",
    ),
    Setting(
        "s3-part-size",
        "Multipart part size in MiB (storage: s3, 5 to 5120); files up to this size go in one request.",
        "64",
    ),
    Setting("s3-concurrency", "Parts uploaded at once (storage: s3).", "8"),
    Setting(
        "s3-retry-mode",
        "botocore retry mode (storage: s3): standard or adaptive.",
        "standard",
    ),
    RETRIES,
    TIMEOUT,
)

_CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

_NOT_FOUND = {"NoSuchBucket"}
_DENIED = {"AccessDenied", "AllAccessDisabled", "AccountProblem", "InvalidObjectState"}
_REGION = {
    "PermanentRedirect",
    "TemporaryRedirect",
    "Redirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired", "RequestExpired"}
_REJECTED = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "AuthFailure",
}
_CORRUPT = {
    "BadDigest",
    "InvalidDigest",
    "XAmzContentSHA256Mismatch",
    "XAmzContentChecksumMismatch",
    "InvalidChecksum",
}


@dataclass(frozen=True)
class S3Options:
    bucket: str
    region: str = ""
    endpoint_url: str = ""
    addressing_style: str = "auto"
    acl: str = ""
    extra_args: dict[str, Any] = field(default_factory=dict)
    checksum: str = "auto"
    part_size: int = 64 * MIB
    concurrency: int = 8
    retry_mode: str = "standard"
    max_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    prefix: str = ""
    public_url: str = ""


def _int_setting(settings: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = (settings.get(name) or "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise UserError(f"Input '{name}' is '{raw}'; give a whole number from {lo} to {hi}.")
    return value


def parse_extra_args(raw: str) -> dict[str, Any]:
    """``s3-extra-args``: a JSON object whose keys boto3 accepts for uploads."""
    from boto3.s3.transfer import S3Transfer

    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise UserError(
            f"Input 's3-extra-args' is not valid JSON ({e.msg} at character {e.pos}); give a "
            'JSON object such as {"StorageClass": "STANDARD_IA"}.'
        ) from e
    if not isinstance(value, dict):
        raise UserError(
            "Input 's3-extra-args' must be a JSON object such as "
            '{"StorageClass": "STANDARD_IA"}, not a JSON ' + type(value).__name__ + "."
        )
    allowed = set(S3Transfer.ALLOWED_UPLOAD_ARGS)
    managed = {"ChecksumAlgorithm": "s3-checksum", "ACL": "s3-acl"}
    for key in value:
        if key in managed:
            raise UserError(f"Input 's3-extra-args' sets '{key}'; use the input '{managed[key]}' instead.")
        if key not in allowed:
            raise UserError(
                f"Input 's3-extra-args' has the key '{key}', which boto3 does not accept for "
                "uploads; use one of " + ", ".join(sorted(allowed - set(managed))) + "."
            )
    if "Metadata" in value and not (
        isinstance(value["Metadata"], dict) and all(isinstance(v, str) for v in value["Metadata"].values())
    ):
        raise UserError(
            "Input 's3-extra-args' has a 'Metadata' that is not an object of strings; give "
            'e.g. {"Metadata": {"team": "hpc"}}.'
        )
    return value


def parse_options(settings: Mapping[str, str]) -> S3Options:
    bucket = (settings.get("bucket") or "").strip()
    if not bucket:
        raise UserError("Input 'bucket' is required with storage: s3; name the S3 bucket.")
    style = (settings.get("s3-addressing-style") or "auto").strip().lower()
    if style not in ("auto", "path", "virtual"):
        raise UserError(f"Input 's3-addressing-style' is '{style}'; use auto, path or virtual.")
    checksum = (settings.get("s3-checksum") or "auto").strip().lower()
    if checksum not in CHECKSUMS:
        raise UserError(f"Input 's3-checksum' is '{checksum}'; use one of " + ", ".join(CHECKSUMS) + ".")
    mode = (settings.get("s3-retry-mode") or "standard").strip().lower()
    if mode not in ("standard", "adaptive", "legacy"):
        raise UserError(f"Input 's3-retry-mode' is '{mode}'; use standard or adaptive.")
    endpoint = (settings.get("endpoint-url") or "").strip()
    if endpoint and not re.match(r"^https?://[^/\s]+", endpoint):
        raise UserError(f"Input 'endpoint-url' is '{endpoint}'; give a URL such as https://minio.example.org:9000.")
    return S3Options(
        bucket=bucket,
        region=(settings.get("region") or "").strip(),
        endpoint_url=endpoint.rstrip("/"),
        addressing_style=style,
        acl=(settings.get("s3-acl") or "").strip(),
        extra_args=parse_extra_args(settings.get("s3-extra-args") or ""),
        checksum=checksum,
        part_size=_int_setting(settings, "s3-part-size", 64, 5, 5120) * MIB,
        concurrency=_int_setting(settings, "s3-concurrency", 8, 1, 64),
        retry_mode=mode,
        max_attempts=_int_setting(settings, "storage-retries", 5, 1, 20),
        read_timeout=float(_int_setting(settings, "storage-timeout", 120, 1, 3600)),
        prefix=settings.get("prefix", ""),
        public_url=(settings.get("public-url") or "").strip(),
    )


def _is_ip_or_local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _dns_compatible(bucket: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", bucket))


def public_object_url(
    bucket: str,
    key: str,
    *,
    region: str,
    endpoint_url: str = "",
    addressing_style: str = "auto",
    public_url: str = "",
) -> str:
    """The URL that serves ``key`` to anyone the bucket lets read it.

    ``public-url`` + key when a CDN or custom domain fronts the bucket; else AWS's
    virtual-hosted URL (path style for names with dots or when asked); for a custom
    endpoint, path style (``<endpoint>/<bucket>/<key>``, what MinIO/Ceph serve without
    wildcard DNS) unless ``s3-addressing-style`` is ``virtual``.
    """
    quoted = quote(key, safe="/-_.~")
    if public_url:
        return join_url(public_url, quoted)
    if endpoint_url:
        parts = urlsplit(endpoint_url)
        base_path = parts.path.rstrip("/")
        if addressing_style == "virtual" and not _is_ip_or_local(parts.hostname or ""):
            return f"{parts.scheme}://{bucket}.{parts.netloc}{base_path}/{quoted}"
        return f"{parts.scheme}://{parts.netloc}{base_path}/{quote(bucket, safe='')}/{quoted}"
    region = region or "us-east-1"
    host = f"s3.{region}.amazonaws.com"
    if addressing_style == "path" or not _dns_compatible(bucket):
        return f"https://{host}/{quote(bucket, safe='')}/{quoted}"
    return f"https://{bucket}.{host}/{quoted}"


def _content_md5(params: dict[str, Any], **_: Any) -> None:
    """Set ``Content-MD5`` of a PutObject/UploadPart body (``s3-checksum: md5``)."""
    body = params.get("body")
    if body is None or "Content-MD5" in params["headers"]:
        return
    md5 = hashlib.md5(usedforsecurity=False)
    if isinstance(body, (bytes, bytearray)):
        md5.update(body)
    else:
        start = body.tell()
        while chunk := body.read(MIB):
            md5.update(chunk)
        body.seek(start)
    params["headers"]["Content-MD5"] = base64.b64encode(md5.digest()).decode("ascii")


class S3Storage:
    def __init__(self, options: S3Options, context: StorageContext) -> None:
        import boto3
        from botocore.config import Config

        self.options = options
        self.context = context
        session = boto3.session.Session()
        self.region = options.region or session.region_name or "us-east-1"
        self._session = session
        self._config_base: dict[str, Any] = {
            "region_name": self.region,
            "retries": {"mode": options.retry_mode, "max_attempts": options.max_attempts},
            "connect_timeout": options.connect_timeout,
            "read_timeout": options.read_timeout,
            "max_pool_connections": max(10, options.concurrency + 2),
            "s3": {"addressing_style": options.addressing_style},
            "user_agent_extra": "static-registry",
        }
        self._clients: dict[str, S3Client] = {}
        self._Config = Config
        self.checksum = "sha256" if options.checksum == "auto" else options.checksum

    # -- clients -------------------------------------------------------------------------

    def client(self, checksum: str | None = None) -> S3Client:
        """A client whose requests carry ``checksum`` (one client per checksum mode)."""
        checksum = checksum or self.checksum
        if checksum not in self._clients:
            when: Literal["when_supported", "when_required"] = (
                "when_required" if checksum in ("md5", "none") else "when_supported"
            )
            config = self._Config(
                **self._config_base,
                request_checksum_calculation=when,
                response_checksum_validation="when_supported",
            )
            client: S3Client = self._session.client("s3", endpoint_url=self.options.endpoint_url or None, config=config)
            if checksum == "md5":
                client.meta.events.register("before-call.s3.PutObject", _content_md5)
                client.meta.events.register("before-call.s3.UploadPart", _content_md5)
            self._clients[checksum] = client
        return self._clients[checksum]

    # -- Storage protocol ----------------------------------------------------------------

    def describe(self) -> str:
        where = f"s3://{self.options.bucket}/{self.options.prefix.strip('/')}".rstrip("/")
        if self.options.endpoint_url:
            where += f" at {self.options.endpoint_url}"
        return where

    def url_for(self, key: str) -> str:
        return public_object_url(
            self.options.bucket,
            key,
            region=self.region,
            endpoint_url=self.options.endpoint_url,
            addressing_style=self.options.addressing_style,
            public_url=self.options.public_url,
        )

    def store(self, source: Path, sha256: str, size: int, collection: str) -> StoredObject:
        key = object_key(self.options.prefix, collection, sha256)
        url = self.url_for(key)
        existing = self._head(key, "check for")
        if existing is not None and self._matches(existing, sha256, size):
            return StoredObject(key, url, uploaded=False)
        self._upload(source, key, sha256, size)
        self._verify(key, sha256, size)
        return StoredObject(key, url, uploaded=True)

    # -- steps ---------------------------------------------------------------------------

    @staticmethod
    def _matches(head: Mapping[str, Any], sha256: str, size: int) -> bool:
        metadata = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        return bool(head.get("ContentLength") == size and metadata.get(METADATA_KEY) == sha256)

    def _head(self, key: str, doing: str) -> Mapping[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        try:
            return client.head_object(Bucket=self.options.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as e:
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = str(e.response.get("Error", {}).get("Code", ""))
            if status == 404 or code in ("404", "NoSuchKey", "NotFound"):
                return None  # a missing bucket shows up (with its name) at upload
            raise self._error(self._probe(key, e), key, doing) from e
        except BotoCoreError as e:
            raise self._error(e, key, doing) from e

    def _probe(self, key: str, error: Exception) -> Exception:
        """A HEAD error has no body, so no code: ask again with a GET that has one."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(error, ClientError):
            return error
        code = str(error.response.get("Error", {}).get("Code", ""))
        if not code.isdigit():
            return error
        try:
            self.client().get_object(Bucket=self.options.bucket, Key=key, Range="bytes=0-0")
        except ClientError as e:
            if str(e.response.get("Error", {}).get("Code", "")) not in ("NoSuchKey", "InvalidRange"):
                return e
        except BotoCoreError:
            pass
        return error

    def _extra_args(self, sha256: str, checksum: str) -> dict[str, Any]:
        extra = dict(self.options.extra_args)
        metadata = dict(extra.get("Metadata") or {})
        metadata[METADATA_KEY] = sha256
        extra["Metadata"] = metadata
        extra.setdefault("ContentType", SIF_MEDIA_TYPE)
        if self.options.acl:
            extra["ACL"] = self.options.acl
        if checksum in ("sha256", "crc32"):
            extra["ChecksumAlgorithm"] = checksum.upper()
        return extra

    def _upload(self, source: Path, key: str, sha256: str, size: int) -> None:
        from botocore.exceptions import ClientError

        try:
            self._transfer(source, key, sha256, size, self.checksum)
        except ClientError as e:
            if self.options.checksum == "auto" and _checksum_unsupported(e):
                self.checksum = "md5"
                self._transfer(source, key, sha256, size, "md5")
            else:
                raise self._error(e, key, "upload") from e

    def _transfer(self, source: Path, key: str, sha256: str, size: int, checksum: str) -> None:
        from boto3.s3.transfer import ProgressCallbackInvoker, TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError
        from s3transfer.manager import TransferManager

        config = TransferConfig(
            multipart_threshold=self.options.part_size + 1,
            multipart_chunksize=self.options.part_size,
            max_concurrency=self.options.concurrency,
            use_threads=True,
        )
        progress = None
        if size >= PROGRESS_MIN_SIZE:
            progress = Progress(
                f"Uploading s3://{self.options.bucket}/{key}",
                size,
                interactive=self.context.interactive,
            )
        subscribers = [ProgressCallbackInvoker(progress)] if progress else []
        try:
            with TransferManager(self.client(checksum), config) as manager:
                future = manager.upload(
                    str(source),
                    self.options.bucket,
                    key,
                    extra_args=self._extra_args(sha256, checksum),
                    subscribers=subscribers,
                )
                future.result()
        except ClientError:
            raise
        except BotoCoreError as e:
            raise self._error(e, key, "upload") from e
        except OSError as e:
            raise StorageError(
                f"Could not read {source} to upload it to key '{key}' in bucket "
                f"'{self.options.bucket}' (storage: s3): {e.strerror or e}; check that the "
                "image file is still there."
            ) from e
        finally:
            if progress:
                progress.finish()

    def _verify(self, key: str, sha256: str, size: int) -> None:
        head = self._head(key, "verify")
        problem = ""
        if head is None:
            problem = "the object is not there after the upload"
        elif head.get("ContentLength") != size:
            problem = f"it holds {head.get('ContentLength')} bytes instead of {size}"
        elif not self._matches(head, sha256, size):
            problem = "its recorded sha256 (x-amz-meta-sha256) differs from the image's"
        else:
            whole = head.get("ChecksumSHA256") or ""
            expected = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
            single = size <= self.options.part_size and "-" not in whole
            if whole and single and whole != expected:
                problem = "its SHA256 checksum differs from the image's"
        if not problem:
            return
        if head is not None:
            with contextlib.suppress(Exception):  # the error below is what matters
                self.client().delete_object(Bucket=self.options.bucket, Key=key)
        raise StorageError(
            f"s3 storage: key '{key}' in bucket '{self.options.bucket}' failed the check "
            f"after upload: {problem}; check the endpoint ('endpoint-url') and any proxy in "
            "between, then run again."
        )

    # -- errors --------------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        values = [os.environ.get(name, "") for name in _CREDENTIAL_ENV]
        try:
            creds = self._session.get_credentials()
            if creds is not None:
                frozen = creds.get_frozen_credentials()
                values += [frozen.access_key or "", frozen.secret_key or "", frozen.token or ""]
        except Exception:
            pass
        return [v for v in values if len(v) >= 4]

    def _error(self, error: Exception, key: str, doing: str) -> StorageError:
        message = describe_error(
            error,
            bucket=self.options.bucket,
            key=key,
            doing=doing,
            region=self.region,
            endpoint=self.options.endpoint_url,
        )
        for secret in self._secrets():
            message = message.replace(secret, "***")
        return StorageError(message)


def _checksum_unsupported(e: Exception) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(e, ClientError):
        return False
    err = e.response.get("Error", {})
    code = str(err.get("Code", ""))
    text = (str(err.get("Message", "")) + " " + str(err.get("ArgumentName", ""))).lower()
    if code == "NotImplemented":
        return True
    return code in ("InvalidArgument", "InvalidRequest") and (
        "checksum" in text or "x-amz-sdk" in text or "trailer" in text
    )


def describe_error(error: Exception, *, bucket: str, key: str, doing: str, region: str, endpoint: str) -> str:
    """One sentence: what went wrong with which bucket and key, and what to check."""
    from botocore import exceptions as bx

    where = f"key '{key}' in bucket '{bucket}'"
    head = f"s3 storage: could not {doing} {where}"
    at = endpoint or f"the AWS endpoint for region {region}"

    if isinstance(error, bx.ClientError):
        err = error.response.get("Error", {})
        meta = error.response.get("ResponseMetadata", {})
        headers = {k.lower(): v for k, v in (meta.get("HTTPHeaders") or {}).items()}
        code = str(err.get("Code", "")) or str(meta.get("HTTPStatusCode", ""))
        status = meta.get("HTTPStatusCode")
        if code in _NOT_FOUND or (code == "404" and doing == "upload"):
            return (
                f"{head}: the bucket does not exist at {at}; check the input 'bucket' "
                "(and 'endpoint-url' / 'region'), or create the bucket."
            )
        if code in _REGION or code == "301" or status in (301, 307):
            right = headers.get("x-amz-bucket-region") or str(err.get("Region", ""))
            fix = f"set the input 'region' to {right}" if right else ("set the input 'region' to the bucket's region")
            return f"{head}: the bucket is in another region than '{region}' ({code}); {fix}."
        if code in _EXPIRED:
            return (
                f"{head}: the AWS credentials have expired ({code}); refresh them (e.g. run "
                "aws-actions/configure-aws-credentials closer to this step or with a longer "
                "role-duration-seconds, or log in to the profile again)."
            )
        if code in _REJECTED:
            return (
                f"{head}: the server rejected the credentials ({code}); check "
                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or the "
                "profile, and that they belong to the account and endpoint of the bucket."
            )
        if code in _DENIED or code == "403":
            return (
                f"{head}: access denied ({code}); check that the IAM policy of the "
                "credentials and the bucket policy allow s3:GetObject and s3:PutObject on "
                "this key (and s3:PutObjectAcl when 's3-acl' is set)."
            )
        if code in _CORRUPT:
            return (
                f"{head}: the server found the received bytes corrupt ({code}); run again, "
                "and if it persists check proxies between the runner and the endpoint."
            )
        if _checksum_unsupported(error):
            return (
                f"{head}: the server does not accept the request checksum ({code}); set "
                "the input 's3-checksum' to md5 or none."
            )
        text = str(err.get("Message", "")).strip().rstrip(".")
        return (
            f"{head}: the server answered {code or status}"
            + (f" ({text})" if text else "")
            + "; check the bucket's configuration and the inputs 'bucket', 'region' and "
            "'endpoint-url'."
        )
    credential_errors: tuple[type[Exception], ...] = (
        bx.NoCredentialsError,
        bx.PartialCredentialsError,
        bx.CredentialRetrievalError,
        bx.NoAuthTokenError,
        bx.TokenRetrievalError,
        bx.SSOError,
    )
    if isinstance(error, credential_errors):
        return (
            f"{head}: no usable AWS credentials were found ({type(error).__name__}); "
            "configure them with aws-actions/configure-aws-credentials (OIDC role), "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE."
        )
    connection_errors: tuple[type[Exception], ...] = (
        bx.EndpointConnectionError,
        bx.ConnectTimeoutError,
        bx.ReadTimeoutError,
        bx.ConnectionClosedError,
        bx.ProxyConnectionError,
        bx.SSLError,
        bx.HTTPClientError,
    )
    if isinstance(error, connection_errors):
        return (
            f"{head}: could not reach {at} ({type(error).__name__}); check the inputs "
            "'endpoint-url' and 'region', the network, proxies and firewalls."
        )
    return (
        f"{head}: {type(error).__name__}; check the inputs 'bucket', 'region' and "
        "'endpoint-url' and the AWS credentials."
    )


def open(settings: Mapping[str, str], context: StorageContext) -> S3Storage:  # noqa: A001
    return S3Storage(parse_options(settings), context)
