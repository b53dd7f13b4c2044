"""Helpers of the registry-side tests: registries on disk, objects, a static HTTP server."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from static_registry.documents import Layer, Manifest, write_collection


class StaticServer:
    """``python -m http.server --bind 127.0.0.1 0`` over a folder, as a separate process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> StaticServer:
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(self.folder), "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 20
        line = ""
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            match = re.search(r"port (\d+)", line)
            if match:
                self.port = int(match.group(1))
                break
            if self.process.poll() is not None:
                break
        if not self.port:
            self.stop()
            raise RuntimeError(f"http.server did not start: {line!r}")
        # http.server logs requests on stderr (discarded); stdout only had the line read above
        self.process.stdout.close()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def put_object(storage: Path, key: str, data: bytes) -> tuple[int, str]:
    """Write an object into a storage folder; return (size, ``sha256:<hex>``)."""
    path = storage / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data), "sha256:" + hashlib.sha256(data).hexdigest()


def manifest(collection: str, tag: str, size: int, digest: str, url: str, **extra: str) -> Manifest:
    return Manifest(collection, tag, size, digest, (Layer(size, digest, url),), **extra)  # type: ignore[arg-type]


def add_collection(
    registry: Path,
    collection: str,
    manifests: list[Manifest],
    description: str = "",
    body: str = "",
) -> None:
    write_collection(registry, collection, manifests, [], description or f"{collection} images", body)
