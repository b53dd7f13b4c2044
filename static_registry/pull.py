"""``static-registry pull <site>/<owner>/<repo>[:<tag>]``: resolve, download, verify, write.

The static API is resolved as the seed documents it: ``<site>/<ns>/manifests/<tag>/`` is an
OCI image manifest whose SIF layer lists download ``urls``. The image is streamed into a
temporary file beside the destination while its sha256 is computed, checked against the
manifest's size and digest, and only then renamed into place: a failed or tampered
download leaves nothing behind. ``file://`` sites and storage URLs work too.

The streaming helpers here (``stream_url``, ``is_transient``) are shared with ``verify``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import json
import os
import re
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO
from urllib.parse import unquote, urlsplit

from . import __version__
from .documents import COLLECTION_RE, TAG_RE
from .errors import UserError
from .model import SIF_MEDIA_TYPE

CHUNK = 1024 * 1024
USER_AGENT = f"static-registry/{__version__}"


# ---------------------------------------------------------------------------- streaming


class SizeExceeded(Exception):
    """The object is larger than the manifest says (download stopped early)."""


def is_transient(error: BaseException) -> bool:
    """Worth retrying: 5xx/408/429, resets, refused connections, timeouts, truncated bodies."""
    if isinstance(error, urllib.error.HTTPError):
        return error.code >= 500 or error.code in (408, 429)
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, socket.gaierror):
            return False
        return isinstance(reason, (TimeoutError, ConnectionError, OSError))
    return isinstance(
        error, (TimeoutError, ConnectionError, http.client.IncompleteRead, http.client.RemoteDisconnected)
    )


def describe_error(error: BaseException) -> str:
    """A short phrase for an exception raised while fetching a URL."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, BaseException):
            return describe_error(reason)
        return str(reason)
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    if isinstance(error, http.client.IncompleteRead):
        return "connection closed before the end of the object"
    if isinstance(error, FileNotFoundError):
        return "no such file"
    text = str(error) or type(error).__name__
    return text


def open_url(url: str, timeout: float) -> Any:
    """``urlopen`` with our User-Agent; the caller closes the response."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    return urllib.request.urlopen(request, timeout=timeout)


def stream_url(
    url: str,
    sink: IO[bytes] | None,
    *,
    timeout: float,
    max_size: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
    on_length: Callable[[int | None], None] | None = None,
) -> tuple[int, str]:
    """Stream ``url`` in 1 MiB chunks; return (size, sha256 hex). Never holds the object.

    Stops with ``SizeExceeded`` as soon as more than ``max_size`` bytes arrive (or the
    server announces more), so a wrong object is not downloaded in full.
    """
    digest = hashlib.sha256()
    size = 0
    with open_url(url, timeout) as response:
        length_header = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        length = int(length_header) if length_header and length_header.isdigit() else None
        if on_length is not None:
            on_length(length)
        if max_size is not None and length is not None and length > max_size:
            raise SizeExceeded(length)
        while True:
            chunk = response.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if max_size is not None and size > max_size:
                raise SizeExceeded(size)
            digest.update(chunk)
            if sink is not None:
                sink.write(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
        if length is not None and size < length:
            raise http.client.IncompleteRead(b"", length - size)
    return size, digest.hexdigest()


def with_retries(
    action: Callable[[], Any],
    *,
    retries: int,
    delay: float,
    on_retry: Callable[[BaseException, int], None] | None = None,
) -> Any:
    """Run ``action``; on a transient error retry up to ``retries`` times, delay doubling."""
    attempt = 0
    while True:
        try:
            return action()
        except Exception as e:
            if attempt >= retries or not is_transient(e):
                raise
            attempt += 1
            if on_retry is not None:
                on_retry(e, attempt)
            time.sleep(delay * (2 ** (attempt - 1)))


# ---------------------------------------------------------------------------- references


@dataclass(frozen=True)
class Reference:
    """What to pull: the site's base URL, the collection and the tag."""

    site: str
    collection: str
    tag: str

    @property
    def manifest_url(self) -> str:
        return f"{self.site}/{self.collection}/manifests/{self.tag}/"

    @property
    def tags_url(self) -> str:
        return f"{self.site}/{self.collection}/tags/"


def parse_reference(reference: str) -> Reference:
    """``<site>/<owner>/<repo>[:<tag>]`` or a manifest URL ``<site>/<ns>/manifests/<tag>/``.

    A site without a scheme gets ``https://``; a local folder path becomes ``file://``.
    """
    ref = reference.strip()
    if not ref:
        raise UserError("Give an image to pull as <site>/<owner>/<repo>[:<tag>].")
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", ref):
        if ref.startswith(("/", "./", "../")):
            ref = Path(ref).resolve().as_uri() if ":" not in Path(ref).name else _local_uri(ref)
        else:
            ref = "https://" + ref
    parts = urlsplit(ref)
    if parts.scheme not in ("http", "https", "file"):
        raise UserError(f"'{reference}' uses scheme '{parts.scheme}'; pull works with https, http and file URLs.")
    path = parts.path.rstrip("/")
    prefix = f"{parts.scheme}://{parts.netloc}"
    segments = path.split("/")
    for suffix in ("index.json", "index.html"):
        if segments and segments[-1] == suffix:
            segments = segments[:-1]
    if len(segments) >= 4 and segments[-2] == "manifests":
        owner, repo, tag = segments[-4], segments[-3], unquote(segments[-1])
        site_path = "/".join(segments[:-4])
    else:
        if len(segments) < 3:
            raise UserError(f"'{reference}' does not name an image; use <site>/<owner>/<repo>[:<tag>].")
        last = segments[-1]
        repo, _, tag = last.partition(":")
        tag = tag or "latest"
        owner = segments[-2]
        site_path = "/".join(segments[:-2])
    collection = f"{owner}/{repo}".lower()
    if not COLLECTION_RE.match(collection):
        raise UserError(f"'{owner}/{repo}' in '{reference}' is not a collection name (owner/repo).")
    if not TAG_RE.match(tag):
        raise UserError(f"'{tag}' in '{reference}' is not a valid tag (letters, digits, '.', '_' and '-').")
    return Reference(site=prefix + site_path, collection=collection, tag=tag)


def _local_uri(path: str) -> str:
    head, _, tail = path.rpartition("/")
    repo, _, tag = tail.partition(":")
    return Path(head, repo).resolve().as_uri() + ":" + tag


# ---------------------------------------------------------------------------- resolving


class NotFound(Exception):
    pass


def fetch_json(url: str, timeout: float, retries: int = 2, delay: float = 0.5) -> Any:
    """GET a static API endpoint and parse JSON; ``NotFound`` on 404 or a missing file.

    A ``file://`` folder URL reads its ``index.json`` (or ``index.html``) as a web server would.
    """
    candidates = [url]
    if url.startswith("file:") and url.endswith("/"):
        candidates = [url + "index.json", url + "index.html"]

    def get(candidate: str) -> bytes:
        with open_url(candidate, timeout) as response:
            data: bytes = response.read(16 * CHUNK)
            return data

    body: bytes | None = None
    for candidate in candidates:
        try:
            body = with_retries(functools.partial(get, candidate), retries=retries, delay=delay)
            break
        except urllib.error.HTTPError as e:
            if e.code in (404, 410):
                continue
            raise
        except urllib.error.URLError as e:
            if candidate.startswith("file:") and isinstance(e.reason, (FileNotFoundError, NotADirectoryError)):
                continue
            raise
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
    if body is None:
        raise NotFound(url)
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{url} did not return JSON") from e


def _explain_missing(ref: Reference, timeout: float) -> UserError:
    try:
        tags = fetch_json(ref.tags_url, timeout)
    except NotFound:
        tags = None
    except (OSError, ValueError, http.client.HTTPException):
        tags = None
    if isinstance(tags, dict) and isinstance(tags.get("tags"), list):
        available = ", ".join(str(t) for t in tags["tags"]) or "none"
        return UserError(f"Tag '{ref.tag}' is not in {ref.collection} at {ref.site}; available tags: {available}.")
    try:
        catalog = fetch_json(f"{ref.site}/v2/_catalog.json", timeout)
    except (NotFound, OSError, ValueError, http.client.HTTPException):
        catalog = None
    if isinstance(catalog, dict) and isinstance(catalog.get("repositories"), list):
        names = [str(n) for n in catalog["repositories"]]
        listed = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
        return UserError(
            f"Collection '{ref.collection}' is not in the registry at {ref.site}; it has: {listed or 'no collections'}."
        )
    return UserError(
        f"{ref.site} does not look like a static registry: {ref.manifest_url} and {ref.tags_url} were not found."
    )


def resolve(ref: Reference, timeout: float = 60.0) -> dict[str, Any]:
    """Fetch and check the manifest of ``ref``; return the SIF layer descriptor."""
    try:
        manifest = fetch_json(ref.manifest_url, timeout)
    except NotFound:
        raise _explain_missing(ref, timeout) from None
    except ValueError:
        raise UserError(
            f"{ref.manifest_url} did not return JSON: {ref.site} does not look like a static registry."
        ) from None
    except (OSError, http.client.HTTPException) as e:
        raise UserError(f"Could not reach the registry at {ref.manifest_url} ({describe_error(e)}).") from None
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    if not isinstance(layers, list) or not layers or not all(isinstance(x, dict) for x in layers):
        raise UserError(
            f"{ref.manifest_url} is not an image manifest with layers: {ref.site} is not a static registry."
        )
    layer = next((x for x in layers if x.get("mediaType") == SIF_MEDIA_TYPE), layers[0])
    digest, size, urls = layer.get("digest"), layer.get("size"), layer.get("urls")
    if not isinstance(digest, str) or not re.match(r"^sha256:[0-9a-f]{64}$", digest):
        raise UserError(
            f"The manifest of {ref.collection}:{ref.tag} has digest '{digest}'; pull can only check sha256 digests."
        )
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise UserError(f"The manifest of {ref.collection}:{ref.tag} has no valid layer size.")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise UserError(f"The manifest of {ref.collection}:{ref.tag} lists no download URLs for its image.")
    result: dict[str, Any] = layer
    return result


# ---------------------------------------------------------------------------- pulling


@dataclass(frozen=True)
class PullResult:
    path: Path
    collection: str
    tag: str
    digest: str
    size: int
    url: str


def default_filename(ref: Reference) -> str:
    return f"{ref.collection.split('/')[1]}_{ref.tag}.sif"


def _make_progress(label: str, total: int, stream: TextIO) -> Callable[[int], None] | None:
    interactive = bool(getattr(stream, "isatty", lambda: False)())
    try:
        from .progress import Progress
    except ImportError:  # pragma: no cover - progress.py is part of the package
        return None
    return Progress(label, total, interactive=interactive, stream=stream)


def pull(
    reference: str,
    output: Path | None = None,
    *,
    timeout: float = 60.0,
    retries: int = 3,
    retry_delay: float = 1.0,
    progress: bool | None = None,
    stream: TextIO | None = None,
) -> PullResult:
    """Download the image ``reference`` names and write it to ``output`` once verified.

    ``output`` defaults to ``<repo>_<tag>.sif`` in the current folder (an existing folder
    gets that name inside it). ``progress``: None shows it when ``stream`` (stderr) is a TTY.
    Raises ``UserError`` with one sentence on any failure; nothing is left at ``output``.
    """
    err = sys.stderr if stream is None else stream
    ref = parse_reference(reference)
    layer = resolve(ref, timeout)
    digest: str = layer["digest"]
    size: int = layer["size"]
    urls: list[str] = layer["urls"]
    dest = Path(default_filename(ref)) if output is None else Path(output)
    if dest.is_dir():
        dest = dest / default_filename(ref)
    dest = dest.absolute()
    if not dest.parent.is_dir():
        raise UserError(f"Folder '{dest.parent}' does not exist; create it or choose another --output.")
    show = bool(getattr(err, "isatty", lambda: False)()) if progress is None else progress
    failures: list[str] = []
    for url in urls:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https", "file"):
            failures.append(f"{url}: unsupported scheme '{scheme}'")
            continue
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            meter = _make_progress(f"{ref.collection}:{ref.tag}", size, err) if show else None

            def attempt(url: str = url, fd: int = fd, meter: Callable[[int], None] | None = meter) -> tuple[int, str]:
                with open(fd, "wb", closefd=False) as sink:
                    sink.seek(0)
                    sink.truncate()
                    result = stream_url(url, sink, timeout=timeout, max_size=size, on_bytes=meter)
                    sink.flush()
                    os.fsync(sink.fileno())
                    return result

            try:
                got_size, got_hex = with_retries(attempt, retries=retries, delay=retry_delay)
            except SizeExceeded:
                failures.append(f"{url}: the object is larger than the manifest's {size} bytes")
                continue
            except (OSError, http.client.HTTPException) as e:
                failures.append(f"{url}: {describe_error(e)}")
                continue
            finally:
                finish = getattr(meter, "finish", None)
                if callable(finish):
                    finish()
            if got_size != size:
                failures.append(f"{url}: got {got_size} bytes, the manifest says {size}")
                continue
            if f"sha256:{got_hex}" != digest:
                failures.append(f"{url}: digest sha256:{got_hex} does not match the manifest's {digest}")
                continue
            os.close(fd)
            fd = -1
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
            return PullResult(dest, ref.collection, ref.tag, digest, size, url)
        finally:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    detail = "; ".join(failures)
    if any("digest" in f or "bytes" in f for f in failures):
        raise UserError(
            f"The image {ref.collection}:{ref.tag} did not match its manifest and was not written ({detail})."
        )
    raise UserError(f"Could not download {ref.collection}:{ref.tag} from its storage ({detail}).")
