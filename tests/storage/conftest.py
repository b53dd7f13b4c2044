"""Fixtures of the storage tests (servers from ``tests/support/storage_servers.py``)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from static_registry.storage import StorageContext

LARGE_SIZE = 300 * 1024 * 1024 + 12345  # not a multiple of any part or chunk size


@pytest.fixture
def context(tmp_path: Path) -> StorageContext:
    return StorageContext(repository="MyOrg/Centos", workspace=tmp_path)


@pytest.fixture
def small_image(tmp_path: Path) -> tuple[Path, str, int]:
    data = b"SIF_MAGIC" + os.urandom(100_000)
    path = tmp_path / "small.sif"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest(), len(data)


@pytest.fixture(scope="session")
def large_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, int]]:
    """A ≥ 300 MB file, mostly sparse, with random blocks spread over it."""
    path = tmp_path_factory.mktemp("large") / "large.sif"
    h = hashlib.sha256()
    block = os.urandom(1 << 20)
    with path.open("wb") as f:
        f.truncate(LARGE_SIZE)
        for offset in range(0, LARGE_SIZE, 37 * (1 << 20)):
            f.seek(offset)
            f.write(block[: min(len(block), LARGE_SIZE - offset)])
    with path.open("rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    yield path, h.hexdigest(), LARGE_SIZE
    path.unlink(missing_ok=True)


def download_sha256(url: str) -> tuple[str, int]:
    import urllib.request

    h = hashlib.sha256()
    n = 0
    with urllib.request.urlopen(url, timeout=60) as r:
        while chunk := r.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n
