"""``gcs``: Google Cloud Storage through google-cloud-storage.

Images go up as resumable uploads in chunks of ``gcs-chunk-size`` (memory stays at about
one chunk), each upload checked by the library against the server's crc32c (or md5). The
file's sha256 is recorded in the object's metadata (``sha256``): the skip check and the
check after upload read it back, and the reloaded object's size and crc32c are compared
with what was sent.

Credentials: Application Default Credentials. ``GOOGLE_APPLICATION_CREDENTIALS`` written by
google-github-actions/auth names a file under the runner's workspace on the HOST; inside
the action's container that workspace is ``/github/workspace``, so the path is translated
(``container_credentials_path``). ``STORAGE_EMULATOR_HOST`` selects an emulator, with
anonymous credentials. Retries are google's own ``DEFAULT_RETRY`` with a configured deadline.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import quote

from ..errors import StorageError, UserError
from ..model import SIF_MEDIA_TYPE
from ..progress import Progress
from . import RETRIES, TIMEOUT, Setting, StorageContext, StoredObject, join_url, object_key

NAME = "gcs"
METADATA_KEY = "sha256"
MIB = 1024 * 1024
CHUNK_UNIT = 256 * 1024
PROGRESS_MIN_SIZE = 16 * MIB
PUBLIC_HOST = "https://storage.googleapis.com"
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"

SETTINGS = (
    Setting("bucket", "Bucket that receives the images (storage: s3 or gcs).", ""),
    Setting(
        "gcs-project",
        "Google Cloud project for the client (storage: gcs); empty: the credentials' own.",
        "",
    ),
    Setting(
        "gcs-chunk-size",
        "Resumable upload chunk size in MiB (storage: gcs); a multiple of 0.25 MiB, e.g. 8, 16.5 or 32.",
        "32",
    ),
    Setting(
        "gcs-checksum",
        "Checksum the upload is checked with (storage: gcs): crc32c, md5 or none.",
        "crc32c",
    ),
    RETRIES,
    TIMEOUT,
)


def _module(name: str) -> Any:
    """google-cloud-storage and google-crc32c ship no type information: use them untyped."""
    return importlib.import_module(name)


# -- GOOGLE_APPLICATION_CREDENTIALS across the container boundary --------------------------


def container_credentials_path(
    path: str,
    workspace: Path,
    *,
    host_workspace: str = "",
    exists: Callable[[str], bool] = os.path.exists,
) -> str:
    """Where the credentials file named by a HOST path is inside this container.

    google-github-actions/auth writes ``<host workspace>/gha-creds-<id>.json`` (e.g.
    ``/home/runner/work/repo/repo/gha-creds-1a2b.json``) and exports that path; a Docker
    container action sees the workspace at ``/github/workspace``. When ``path`` does not
    exist here and lies under the host workspace (``host_workspace`` when known, else the
    runner's ``…/<repo>/<repo>/`` layout), the same relative path under ``workspace`` is
    returned if it exists. Otherwise ``path`` comes back unchanged.
    """
    if not path or exists(path):
        return path
    pure = PurePosixPath(path)
    candidates: list[PurePosixPath] = []
    if host_workspace:
        with contextlib.suppress(ValueError):
            candidates.append(pure.relative_to(PurePosixPath(host_workspace)))
    parts = pure.parts
    for i in range(1, len(parts) - 2):
        if parts[i] == parts[i + 1]:  # <work>/<repo>/<repo>/… is the runner's workspace
            candidates.append(PurePosixPath(*parts[i + 2 :]))
    for rel in candidates:
        mapped = str(workspace.joinpath(*rel.parts))
        if rel.parts and exists(mapped):
            return mapped
    return path


# -- reading the file: progress and crc32c in the same pass --------------------------------


class _Reader:
    """Wraps the image file: reports progress, computes crc32c of each byte once."""

    def __init__(self, f: BinaryIO, progress: Progress | None) -> None:
        self.f = f
        self.progress = progress
        self.crc: Any = _module("google_crc32c").Checksum()
        self.hashed = 0

    def read(self, n: int = -1) -> bytes:
        start = self.f.tell()
        data = self.f.read(n)
        end = start + len(data)
        if start <= self.hashed < end:
            self.crc.update(data[self.hashed - start :])
            self.hashed = end
        if self.progress:
            self.progress.update(end)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()

    def crc32c(self) -> str:
        return base64.b64encode(self.crc.digest()).decode("ascii")


def emulator_host() -> str:
    host = os.environ.get(EMULATOR_ENV, "").strip().rstrip("/")
    if host and "://" not in host:
        host = "http://" + host
    return host


def public_object_url(bucket: str, key: str, *, public_url: str = "", emulator: str = "") -> str:
    quoted = quote(key, safe="/-_.~")
    if public_url:
        return join_url(public_url, quoted)
    return f"{emulator or PUBLIC_HOST}/{quote(bucket, safe='')}/{quoted}"


def _chunk_size(settings: Mapping[str, str]) -> int:
    raw = (settings.get("gcs-chunk-size") or "32").strip()
    try:
        size = int(float(raw) * MIB)
    except ValueError:
        size = 0
    if size <= 0 or size % CHUNK_UNIT or size > 1024 * MIB:
        raise UserError(
            f"Input 'gcs-chunk-size' is '{raw}'; give MiB as a multiple of 0.25 (256 KiB) up to 1024, e.g. 32."
        )
    return size


def _int(settings: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = (settings.get(name) or "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise UserError(f"Input '{name}' is '{raw}'; give a whole number from {lo} to {hi}.")
    return value


class GCSStorage:
    def __init__(self, settings: Mapping[str, str], context: StorageContext) -> None:
        self.bucket_name = (settings.get("bucket") or "").strip()
        if not self.bucket_name:
            raise UserError("Input 'bucket' is required with storage: gcs; name the GCS bucket.")
        self.context = context
        self.prefix = settings.get("prefix", "")
        self.public_url = (settings.get("public-url") or "").strip()
        self.project = (settings.get("gcs-project") or "").strip()
        self.chunk_size = _chunk_size(settings)
        checksum = (settings.get("gcs-checksum") or "crc32c").strip().lower()
        if checksum not in ("crc32c", "md5", "none"):
            raise UserError(f"Input 'gcs-checksum' is '{checksum}'; use crc32c, md5 or none.")
        self.checksum: str | None = None if checksum == "none" else checksum
        attempts = _int(settings, "storage-retries", 5, 1, 20)
        self.read_timeout = float(_int(settings, "storage-timeout", 120, 1, 3600))
        self.timeout = (10.0, self.read_timeout)
        # google's retry is deadline-based: allow every attempt its full timeout.
        self.retry = _module("google.cloud.storage.retry").DEFAULT_RETRY.with_timeout(self.read_timeout * attempts)
        self.emulator = emulator_host()
        self._client: Any = None

    # -- client ----------------------------------------------------------------------

    def client(self, key: str) -> Any:
        if self._client is not None:
            return self._client
        from google.auth.exceptions import GoogleAuthError

        storage = _module("google.cloud.storage")

        try:
            if self.emulator:
                anonymous: Any = _module("google.auth.credentials").AnonymousCredentials
                self._client = storage.Client(
                    project=self.project or "static-registry",
                    credentials=anonymous(),
                )
            else:
                self._translate_credentials()
                kw: dict[str, Any] = {}
                if self.project:
                    kw["project"] = self.project
                    # spares google.auth.default() a project lookup over the network
                    os.environ.setdefault("GOOGLE_CLOUD_PROJECT", self.project)
                self._client = storage.Client(**kw)
        except (GoogleAuthError, OSError, ValueError) as e:
            raise self._error(e, key, "connect to") from e
        return self._client

    def _translate_credentials(self) -> None:
        path = os.environ.get(CREDENTIALS_ENV, "")
        mapped = container_credentials_path(
            path,
            self.context.workspace,
            host_workspace=os.environ.get("STATIC_REGISTRY_HOST_WORKSPACE", ""),
        )
        if mapped != path:
            os.environ[CREDENTIALS_ENV] = mapped

    # -- Storage protocol ------------------------------------------------------------

    def describe(self) -> str:
        where = f"gs://{self.bucket_name}/{self.prefix.strip('/')}".rstrip("/")
        return where + (f" at {self.emulator}" if self.emulator else "")

    def url_for(self, key: str) -> str:
        return public_object_url(self.bucket_name, key, public_url=self.public_url, emulator=self.emulator)

    def store(self, source: Path, sha256: str, size: int, collection: str) -> StoredObject:
        key = object_key(self.prefix, collection, sha256)
        url = self.url_for(key)
        bucket = self.client(key).bucket(self.bucket_name)
        existing = self._get(bucket, key, "check for")
        if existing is not None and self._matches(existing, sha256, size):
            return StoredObject(key, url, uploaded=False)
        crc = self._upload(bucket, source, key, sha256, size, existing)
        self._verify(bucket, key, sha256, size, crc)
        return StoredObject(key, url, uploaded=True)

    # -- steps -----------------------------------------------------------------------

    @staticmethod
    def _matches(blob: Any, sha256: str, size: int) -> bool:
        return bool(blob.size == size and (blob.metadata or {}).get(METADATA_KEY) == sha256)

    def _get(self, bucket: Any, key: str, doing: str) -> Any:
        try:
            return bucket.get_blob(key, retry=self.retry, timeout=self.timeout)
        except Exception as e:
            raise self._error(e, key, doing) from e

    def _upload(self, bucket: Any, source: Path, key: str, sha256: str, size: int, existing: Any) -> str:
        blob = bucket.blob(key, chunk_size=self.chunk_size)
        blob.metadata = {METADATA_KEY: sha256}
        blob.content_type = SIF_MEDIA_TYPE
        progress = None
        if size >= PROGRESS_MIN_SIZE:
            progress = Progress(
                f"Uploading gs://{self.bucket_name}/{key}",
                size,
                interactive=self.context.interactive,
            )
        try:
            with source.open("rb") as f:
                reader = _Reader(f, progress)
                blob.upload_from_file(
                    reader,
                    size=size,
                    content_type=SIF_MEDIA_TYPE,
                    checksum=self.checksum,
                    retry=self.retry,
                    timeout=self.timeout,
                    # replace exactly what we saw (or nothing): safe to retry, and two runs
                    # racing on the same digest cannot clobber each other.
                    if_generation_match=existing.generation if existing is not None else 0,
                )
        except Exception as e:
            if _status(e) == 412:  # another run stored it meanwhile: the check decides
                return ""
            if isinstance(e, OSError) and not _is_network(e):
                raise StorageError(
                    f"Could not read {source} to upload it to key '{key}' in bucket "
                    f"'{self.bucket_name}' (storage: gcs): {e.strerror or e}; check that the "
                    "image file is still there."
                ) from e
            raise self._error(e, key, "upload") from e
        finally:
            if progress:
                progress.finish()
        return reader.crc32c() if reader.hashed == size else ""

    def _verify(self, bucket: Any, key: str, sha256: str, size: int, crc32c: str) -> None:
        blob = self._get(bucket, key, "verify")
        problem = ""
        if blob is None:
            problem = "the object is not there after the upload"
        elif blob.size != size:
            problem = f"it holds {blob.size} bytes instead of {size}"
        elif (blob.metadata or {}).get(METADATA_KEY) != sha256:
            problem = "its recorded sha256 (metadata 'sha256') differs from the image's"
        elif crc32c and blob.crc32c and blob.crc32c != crc32c:
            problem = f"its crc32c is {blob.crc32c} where the image's is {crc32c}"
        if not problem:
            return
        if blob is not None:
            with contextlib.suppress(Exception):  # the error below is what matters
                blob.delete(if_generation_match=blob.generation, timeout=self.timeout)
        raise StorageError(
            f"gcs storage: key '{key}' in bucket '{self.bucket_name}' failed the check after "
            f"upload: {problem}; run again, and if it persists check proxies between the "
            "runner and Cloud Storage."
        )

    def _error(self, error: Exception, key: str, doing: str) -> StorageError:
        message = describe_error(error, bucket=self.bucket_name, key=key, doing=doing)
        return StorageError(message)


def _status(e: Exception) -> int | None:
    code = getattr(e, "code", None)
    if isinstance(code, int):
        return code
    response = getattr(e, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _is_network(e: BaseException) -> bool:
    import requests

    return isinstance(e, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))


def describe_error(error: Exception, *, bucket: str, key: str, doing: str) -> str:
    """One sentence: what went wrong with which bucket and key, and what to check."""
    from google.api_core import exceptions as gx
    from google.auth import exceptions as ax

    data_corruption: type[Exception] = _module("google.cloud.storage.exceptions").DataCorruption

    head = f"gcs storage: could not {doing} key '{key}' in bucket '{bucket}'"
    cause: BaseException = error
    # google wraps network failures in RetryError once the deadline is spent
    if isinstance(error, gx.RetryError) and error.cause is not None:
        cause = error.cause
    status = _status(cause) if isinstance(cause, Exception) else None
    if isinstance(cause, ax.InvalidOperation) and emulator_host():
        return (
            f"{head}: the server at {emulator_host()} asked for credentials (401), which an "
            f"emulator does not get; check {EMULATOR_ENV}."
        )
    if isinstance(cause, ax.DefaultCredentialsError):
        return (
            f"{head}: no Google credentials were found; run google-github-actions/auth before "
            f"this step, or set {CREDENTIALS_ENV} to a credentials file (under the workspace "
            "when the action runs in a container)."
        )
    if isinstance(cause, (ax.RefreshError, ax.OAuthError)):
        return (
            f"{head}: the Google credentials could not be refreshed ({type(cause).__name__}); "
            "check the workload identity provider / service account given to "
            "google-github-actions/auth, or that the key file is still valid."
        )
    if isinstance(cause, data_corruption):
        return (
            f"{head}: the server's checksum of the received bytes differs from the file's; "
            "run again, and if it persists check proxies between the runner and Cloud Storage."
        )
    if isinstance(cause, gx.Unauthorized) or status == 401:
        return (
            f"{head}: the credentials were rejected (401 Unauthorized, expired or invalid); "
            "check google-github-actions/auth and that the token has not expired."
        )
    if isinstance(cause, gx.Forbidden) or status == 403:
        return (
            f"{head}: access denied (403 Forbidden); give the service account "
            "roles/storage.objectUser (storage.objects.create/get/delete) on the bucket."
        )
    if isinstance(cause, gx.NotFound) or status == 404:
        return (
            f"{head}: the bucket does not exist (404 Not Found); check the input 'bucket' "
            "(and 'gcs-project'), or create the bucket."
        )
    if _is_network(cause) or isinstance(cause, (ax.TransportError, ConnectionError)):
        where = emulator_host() or PUBLIC_HOST
        return (
            f"{head}: could not reach {where} ({type(cause).__name__}); check the network, "
            f"proxies and firewalls{' and ' + EMULATOR_ENV if emulator_host() else ''}."
        )
    if isinstance(cause, gx.GoogleAPICallError):
        text = str(cause.message or "").strip().rstrip(".")
        return (
            f"{head}: the server answered {cause.code}"
            + (f" ({text})" if text else "")
            + "; check the bucket's configuration and the inputs 'bucket' and 'gcs-project'."
        )
    if isinstance(cause, gx.RetryError):
        return (
            f"{head}: the server kept failing until the retry deadline; check the network "
            "and raise 'storage-timeout' or 'storage-retries'."
        )
    return f"{head}: {type(cause).__name__}; check the inputs 'bucket' and 'gcs-project' and the Google credentials."


def open(settings: Mapping[str, str], context: StorageContext) -> GCSStorage:  # noqa: A001
    return GCSStorage(settings, context)
