"""``file``: a local folder or mounted share. The embedded default for trying things out."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..errors import StorageError, UserError
from . import Setting, StorageContext, StoredObject, join_url, object_key, sha256_file

SETTINGS = (Setting("storage-path", "Folder that receives the images (storage: file).", "images"),)


class FileStorage:
    def __init__(self, root: Path, prefix: str, public_url: str) -> None:
        self.root = root
        self.prefix = prefix
        self.public_url = public_url or self.root.resolve().as_uri()

    def describe(self) -> str:
        return str(self.root)

    def store(self, source: Path, sha256: str, size: int, collection: str) -> StoredObject:
        key = object_key(self.prefix, collection, sha256)
        target = self.root / key
        url = join_url(self.public_url, key)
        if target.is_file() and target.stat().st_size == size and sha256_file(target) == sha256:
            return StoredObject(key, url, uploaded=False)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".sif")
            try:
                with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:
            raise StorageError(
                f"Could not write {target} (storage: file): {e.strerror or e}; check that "
                "'storage-path' is a writable folder."
            ) from e
        if target.stat().st_size != size or sha256_file(target) != sha256:
            target.unlink(missing_ok=True)
            raise StorageError(
                f"{target} does not hold the bytes just written (storage: file); check the "
                "disk or share behind 'storage-path'."
            )
        return StoredObject(key, url, uploaded=True)


def open(settings: Mapping[str, str], context: StorageContext) -> FileStorage:  # noqa: A001
    path = settings.get("storage-path") or "images"
    root = Path(path)
    if not root.is_absolute():
        root = context.workspace / root
    if root.exists() and not root.is_dir():
        raise UserError(f"Input 'storage-path' is {root}, which is not a folder; name a folder.")
    return FileStorage(root, settings.get("prefix", ""), settings.get("public-url", ""))
