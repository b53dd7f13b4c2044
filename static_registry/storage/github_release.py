"""``github-release``: assets of one release of the container repository (free storage).

The release (tag ``release-tag``, default ``static-registry-images``) is created when
missing. Each image is an asset named after its digest (``<sha256>.sif``; a ``prefix`` is
folded into the name with ``-`` since asset names are flat). An asset with that name and
size is not uploaded again. GitHub refuses assets of 2 GiB or more: that is reported before
any byte is sent. The file is streamed to the uploads endpoint (never held in memory), and
the asset is read back (state ``uploaded``, size, and GitHub's sha256 digest when it gives
one) before its ``browser_download_url`` is returned.

Talks to the REST API with the standard library (``context.github_api_url``, so GitHub
Enterprise Server works too) and ``context.github_token``, which is never printed.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from ..errors import StorageError, UserError
from ..model import SIF_MEDIA_TYPE
from ..progress import Progress
from . import RETRIES, TIMEOUT, Setting, StorageContext, StoredObject, join_url

NAME = "github-release"
DEFAULT_TAG = "static-registry-images"
MAX_ASSET_SIZE = 2 * 1024**3
"""GitHub: each file in a release must be under 2 GiB."""
MIB = 1024 * 1024
PROGRESS_MIN_SIZE = 16 * MIB
RETRY_STATUSES = {500, 502, 503, 504}

SETTINGS = (
    Setting(
        "release-tag",
        "Tag of the release of the container repository whose assets hold the images "
        "(storage: github-release); the release is created when missing. Assets must be "
        "under 2 GiB.",
        DEFAULT_TAG,
    ),
    RETRIES,
    TIMEOUT,
)


def asset_name(prefix: str, sha256: str) -> str:
    """``<sha256>.sif``, with the prefix's folders in front joined by ``-``."""
    parts = [p for p in prefix.strip("/").split("/") if p]
    return "-".join([*parts, f"{sha256}.sif"])


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str]


class GitHubError(Exception):
    def __init__(self, status: int, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []


class GitHubReleaseStorage:
    def __init__(self, settings: Mapping[str, str], context: StorageContext) -> None:
        if not context.repository or "/" not in context.repository:
            raise UserError(
                "storage: github-release needs the container repository (owner/repo); run it "
                "in a GitHub workflow or pass --repository."
            )
        if not context.github_token:
            raise UserError(
                "storage: github-release needs a token that may write releases of "
                f"{context.repository}; set the input 'github-token' (the workflow needs "
                "'permissions: contents: write')."
            )
        self.context = context
        self.repository = context.repository
        self.api = context.github_api_url.rstrip("/")
        self.tag = (settings.get("release-tag") or DEFAULT_TAG).strip()
        if not self.tag or any(c in self.tag for c in " ~^:?*[\\") or ".." in self.tag:
            raise UserError(f"Input 'release-tag' is '{self.tag}'; give a valid git tag name.")
        self.prefix = settings.get("prefix", "")
        self.public_url = (settings.get("public-url") or "").strip()
        try:
            self.attempts = max(1, min(20, int((settings.get("storage-retries") or "5").strip())))
            self.timeout = float(int((settings.get("storage-timeout") or "120").strip()))
        except ValueError as e:
            raise UserError("Inputs 'storage-retries' and 'storage-timeout' must be whole numbers.") from e
        self._token = context.github_token

    def describe(self) -> str:
        return f"release {self.tag} of {self.repository} ({self.api})"

    # -- HTTP ----------------------------------------------------------------------------

    def _connection(self, url: str) -> tuple[http.client.HTTPConnection, str]:
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.netloc, timeout=self.timeout)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return conn, path

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "static-registry",
        }

    def _request(self, method: str, url: str, body: Any = None) -> Response:
        """A JSON API call, retried on 5xx and dropped connections."""
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(1, self.attempts + 1):
            conn, path = self._connection(url)
            try:
                headers = self._headers()
                if data is not None:
                    headers["Content-Type"] = "application/json"
                conn.request(method, path, body=data, headers=headers)
                r = conn.getresponse()
                raw = r.read()
                response = Response(r.status, _json(raw), {k.lower(): v for k, v in r.getheaders()})
            except (OSError, http.client.HTTPException):
                if attempt == self.attempts:
                    raise
                time.sleep(min(2.0 ** (attempt - 1), 20))
                continue
            finally:
                conn.close()
            if response.status in RETRY_STATUSES and attempt < self.attempts:
                time.sleep(min(2.0 ** (attempt - 1), 20))
                continue
            if response.status >= 400:
                b = response.body if isinstance(response.body, dict) else {}
                raise GitHubError(response.status, str(b.get("message", "")), b.get("errors"))
            return response
        raise AssertionError("unreachable")

    # -- release and assets ----------------------------------------------------------------

    def _repo_url(self) -> str:
        return f"{self.api}/repos/{self.repository}"

    def release(self) -> dict[str, Any]:
        """The release with ``release-tag``, created (published, not latest) when missing."""
        try:
            found: dict[str, Any] = self._request(
                "GET", f"{self._repo_url()}/releases/tags/{quote(self.tag, safe='')}"
            ).body
            return found
        except GitHubError as e:
            if e.status != 404:
                raise
        body = {
            "tag_name": self.tag,
            "name": "Container images (static-registry)",
            "body": "SIF images stored by static-registry; each asset is named after its "
            "sha256 digest. Do not delete assets that registry manifests point at.",
            "draft": False,
            "prerelease": False,
            "make_latest": "false",
        }
        try:
            created: dict[str, Any] = self._request("POST", f"{self._repo_url()}/releases", body).body
            return created
        except GitHubError as e:
            if e.status == 422 and any(
                isinstance(x, dict) and x.get("code") == "already_exists" for x in e.errors
            ):  # another run created it meanwhile
                again: dict[str, Any] = self._request(
                    "GET", f"{self._repo_url()}/releases/tags/{quote(self.tag, safe='')}"
                ).body
                return again
            raise

    def assets(self, release: Mapping[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            url = f"{self._repo_url()}/releases/{release['id']}/assets?per_page=100&page={page}"
            batch = self._request("GET", url).body or []
            found.extend(batch)
            if len(batch) < 100:
                return found
            page += 1

    # -- Storage protocol ------------------------------------------------------------------

    def store(self, source: Path, sha256: str, size: int, collection: str) -> StoredObject:
        name = asset_name(self.prefix, sha256)
        try:
            return self._store(source, sha256, size, name)
        except GitHubError as e:
            raise StorageError(self._describe(e, name)) from e
        except (OSError, http.client.HTTPException) as e:
            if isinstance(e, FileNotFoundError) and e.filename == str(source):
                raise StorageError(
                    f"Could not read {source} to upload it as asset '{name}' (storage: "
                    "github-release); check that the image file is still there."
                ) from e
            raise StorageError(
                f"github-release storage: could not reach {self.api} to store asset '{name}' "
                f"of release '{self.tag}' in {self.repository} ({type(e).__name__}); check "
                "the network and the GitHub API URL."
            ) from e

    def _url(self, asset: Mapping[str, Any], name: str) -> str:
        if self.public_url:
            return join_url(self.public_url, quote(name))
        return str(asset["browser_download_url"])

    @staticmethod
    def _matches(asset: Mapping[str, Any], sha256: str, size: int) -> bool:
        digest = asset.get("digest")
        return bool(
            asset.get("state") == "uploaded"
            and asset.get("size") == size
            and (not digest or digest == f"sha256:{sha256}")
        )

    def _store(self, source: Path, sha256: str, size: int, name: str) -> StoredObject:
        if size >= MAX_ASSET_SIZE:
            raise StorageError(
                f"github-release storage: asset '{name}' of release '{self.tag}' in "
                f"{self.repository} would be {size} bytes, and GitHub release assets must be "
                f"under 2 GiB ({MAX_ASSET_SIZE} bytes); use storage s3 or gcs for this image."
            )
        release = self.release()
        for asset in self.assets(release):
            if asset.get("name") != name:
                continue
            if self._matches(asset, sha256, size):
                return StoredObject(name, self._url(asset, name), uploaded=False)
            # a broken or partial upload from an earlier run: replace it
            self._request("DELETE", f"{self._repo_url()}/releases/assets/{asset['id']}")
        uploaded = self._upload(release, source, name, size)
        checked = self._request("GET", f"{self._repo_url()}/releases/assets/{uploaded['id']}").body
        if not self._matches(checked, sha256, size):
            self._request("DELETE", f"{self._repo_url()}/releases/assets/{uploaded['id']}")
            raise StorageError(
                f"github-release storage: asset '{name}' of release '{self.tag}' in "
                f"{self.repository} failed the check after upload (state "
                f"{checked.get('state')}, {checked.get('size')} bytes instead of {size}, "
                f"digest {checked.get('digest')}); run again."
            )
        return StoredObject(name, self._url(checked, name), uploaded=True)

    def _upload(self, release: Mapping[str, Any], source: Path, name: str, size: int) -> Any:
        template = str(release["upload_url"])
        base = template.split("{", 1)[0]
        url = f"{base}?{urlencode({'name': name})}"
        for attempt in range(1, self.attempts + 1):
            try:
                status, body = self._send_file(url, source, size, name)
            except (OSError, http.client.HTTPException):
                if attempt == self.attempts or not source.is_file():
                    raise
                self._drop_partial(release, name)
                time.sleep(min(2.0 ** (attempt - 1), 20))
                continue
            if status in RETRY_STATUSES and attempt < self.attempts:
                self._drop_partial(release, name)
                time.sleep(min(2.0 ** (attempt - 1), 20))
                continue
            if status >= 400:
                b = body if isinstance(body, dict) else {}
                raise GitHubError(status, str(b.get("message", "")), b.get("errors"))
            return body
        raise AssertionError("unreachable")

    def _drop_partial(self, release: Mapping[str, Any], name: str) -> None:
        for asset in self.assets(release):
            if asset.get("name") == name:
                self._request("DELETE", f"{self._repo_url()}/releases/assets/{asset['id']}")

    def _send_file(self, url: str, source: Path, size: int, name: str) -> tuple[int, Any]:
        """POST the file to the uploads endpoint in 1 MiB pieces."""
        progress = None
        if size >= PROGRESS_MIN_SIZE:
            progress = Progress(
                f"Uploading {name} to release {self.tag} of {self.repository}",
                size,
                interactive=self.context.interactive,
            )
        conn, path = self._connection(url)
        try:
            conn.putrequest("POST", path, skip_accept_encoding=True)
            headers = self._headers()
            headers["Content-Type"] = SIF_MEDIA_TYPE
            headers["Content-Length"] = str(size)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders()
            sent = 0
            with source.open("rb") as f:
                while chunk := f.read(MIB):
                    conn.send(chunk)
                    sent += len(chunk)
                    if progress:
                        progress.update(sent)
            r = conn.getresponse()
            return r.status, _json(r.read())
        finally:
            conn.close()
            if progress:
                progress.finish()

    # -- errors ----------------------------------------------------------------------------

    def _describe(self, e: GitHubError, name: str) -> str:
        head = f"github-release storage: could not store asset '{name}' of release '{self.tag}' in {self.repository}"
        details = "; ".join(
            str(x.get("message") or f"{x.get('field', '')} {x.get('code', '')}".strip())
            for x in e.errors
            if isinstance(x, dict)
        )
        if e.status == 401:
            return (
                f"{head}: GitHub rejected the token (401 Bad credentials); check the input "
                "'github-token' (expired or revoked tokens fail this way)."
            )
        if e.status == 403:
            return (
                f"{head}: the token may not write releases (403 {e.message or 'Forbidden'}); "
                "give the workflow 'permissions: contents: write' or use a token with that "
                "right on the repository."
            )
        if e.status == 404:
            return (
                f"{head}: GitHub answered 404 (repository missing or not visible to the "
                "token); check the repository name and that the token can write to it."
            )
        return (
            f"{head}: GitHub answered {e.status} ({e.message or 'no message'}"
            + (f": {details}" if details else "")
            + "); check the release and the token's rights."
        )


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {"message": raw[:200].decode("utf-8", "replace")}


def open(settings: Mapping[str, str], context: StorageContext) -> GitHubReleaseStorage:  # noqa: A001
    return GitHubReleaseStorage(settings, context)
