"""Object storage: where SIF images live, content-addressed and verified.

Each backend is one module exposing ``SETTINGS`` (the inputs it reads, beyond the common
ones) and ``open(settings, context) -> Storage``. Adding a backend means adding a module
and a line in ``BACKENDS``.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol

from ..errors import UserError


@dataclass(frozen=True)
class Setting:
    """An input a backend reads (``with: <name>`` in the workflow, ``--<name>`` on the CLI)."""

    name: str
    help: str
    default: str = ""


@dataclass(frozen=True)
class StoredObject:
    key: str
    url: str
    uploaded: bool
    """False when an object with this digest was already there."""


@dataclass(frozen=True)
class StorageContext:
    """What backends may need from the run besides their own settings."""

    repository: str
    """The container repository, ``owner/repo`` as GitHub spells it."""
    workspace: Path
    github_api_url: str = "https://api.github.com"
    github_token: str = ""
    interactive: bool = False
    """Whether progress may draw a bar (a TTY) or must print lines (the runner's log)."""


class Storage(Protocol):
    """A place that keeps SIF files under content-addressed keys."""

    def store(self, source: Path, sha256: str, size: int, collection: str) -> StoredObject:
        """Put ``source`` (whose digest and size the caller computed) and verify it.

        Skips the upload when an object with that digest already exists. Returns only
        once the object is readable at its key with the right size (and checksum where
        the backend offers one); raises ``StorageError`` otherwise.
        """
        ...

    def describe(self) -> str:
        """Where images go, for the log (``s3://bucket/prefix``); never a secret."""
        ...


RETRIES = Setting("storage-retries", "Attempts per request before giving up (storage: s3, gcs, github-release).", "5")
TIMEOUT = Setting(
    "storage-timeout", "Seconds to wait for the server to answer a request (storage: s3, gcs, github-release).", "120"
)

COMMON_SETTINGS = (
    Setting("prefix", "Key prefix inside the bucket, folder or release.", ""),
    Setting(
        "public-url",
        "Base URL that serves the stored objects (a CDN or custom domain); the manifest "
        "URL is this plus the object key.",
        "",
    ),
)


def object_key(prefix: str, collection: str, sha256: str) -> str:
    """``<prefix>/<owner>/<repo>/<sha256>.sif``: content-addressed, so re-uploads are no-ops."""
    parts = [p for p in prefix.strip("/").split("/") if p]
    return "/".join([*parts, collection, f"{sha256}.sif"])


def join_url(base: str, key: str) -> str:
    return base.rstrip("/") + "/" + key


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


BACKENDS: dict[str, str] = {
    "file": "file",
    "s3": "s3",
    "gcs": "gcs",
    "github-release": "github_release",
}
"""Input value of ``storage`` → module of this package. Imported on demand, so a run loads
only the client library of the backend it uses."""


def backend(name: str) -> ModuleType:
    if name not in BACKENDS:
        raise UserError(
            f"Input 'storage' is '{name}', which is not a storage backend: use one of " + ", ".join(BACKENDS) + "."
        )
    return importlib.import_module(f"{__name__}.{BACKENDS[name]}")


def all_settings() -> list[Setting]:
    """Every storage input of every backend, each once (for action.yml and the CLI)."""
    seen: dict[str, Setting] = {s.name: s for s in COMMON_SETTINGS}
    for name in BACKENDS:
        module = backend(name)
        for s in module.SETTINGS:
            seen.setdefault(s.name, s)
    return list(seen.values())


def open_storage(name: str, settings: Mapping[str, str], context: StorageContext) -> Storage:
    storage: Storage = backend(name).open(settings, context)
    return storage
