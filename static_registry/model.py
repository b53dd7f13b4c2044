"""The values that travel down the pipeline: recipe → built image → stored image."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIF_MEDIA_TYPE = "application/vnd.sylabs.sif.layer.v1.sif"
SIF_CONFIG_MEDIA_TYPE = "application/vnd.sylabs.sif.config.v1+json"
OCI_MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class Recipe:
    """A recipe file of the container repository and the tag it builds."""

    path: Path
    """Relative to the container repository's root, always with ``/`` separators."""
    tag: str


@dataclass(frozen=True)
class Image:
    """A built SIF file, with what the registry records about it."""

    recipe: Recipe
    path: Path
    sha256: str
    """Lower-case hex, without the ``sha256:`` prefix."""
    size: int
    """Bytes."""
    labels: dict[str, str] = field(default_factory=dict)
    """``apptainer inspect`` labels: build date, Apptainer version, the recipe's own."""

    @property
    def tag(self) -> str:
        return self.recipe.tag

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha256}"


@dataclass(frozen=True)
class StoredImage:
    """An image that object storage holds, verified, under a public URL."""

    image: Image
    url: str
    key: str
    uploaded: bool
    """False when the object was already there with that digest."""

    def to_json(self, collection: str) -> dict[str, Any]:
        return {
            "collection": collection,
            "tag": self.image.tag,
            "digest": self.image.digest,
            "size": self.image.size,
            "url": self.url,
            "recipe": self.image.recipe.path.as_posix(),
        }
