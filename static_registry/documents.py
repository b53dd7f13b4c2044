"""The registry repository's files: the static registry's on-disk contract.

For collection ``<owner>/<repo>`` and tag ``<tag>``::

    <owner>/<repo>/README.md                  layout: collection, description
    <owner>/<repo>/tags/README.md             layout: tags
    <owner>/<repo>/manifests/<tag>/README.md  layout: manifests/singularity, size,
                                              digest, layers: [{size, digest, url}]

The keys ``size``, ``digest`` and ``layers[].{size, digest, url}`` keep the seed's
organizational registry (Jekyll layouts) working; the other keys are ours. Values are
written with a YAML emitter, never by string templates, so nothing needs escaping by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from .errors import UserError
from .model import (
    OCI_MANIFEST_MEDIA_TYPE,
    SIF_CONFIG_MEDIA_TYPE,
    SIF_MEDIA_TYPE,
)

EMPTY_CONFIG_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
COLLECTION_LAYOUT = "collection"
TAGS_LAYOUT = "tags"
MANIFEST_LAYOUT = "manifests/singularity"

TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_NAME_PART = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
COLLECTION_RE = re.compile(rf"^{_NAME_PART}/{_NAME_PART}$")


def collection_name(repository: str) -> str:
    """``Owner/Repo`` → ``owner/repo``; the collection (namespace) of a container repository."""
    name = repository.strip().lower()
    if not COLLECTION_RE.match(name):
        raise UserError(
            f"Repository '{repository}' does not make a valid collection name (owner/repo in "
            "lower case letters, digits and . _ -); set 'repository' to the container "
            "repository's owner/name."
        )
    return name


# ---------------------------------------------------------------------------- front matter

# libyaml's loader when PyYAML was built with it: same safe subset, ~10x faster on big registries.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def split_front_matter(text: str, path: str = "<text>") -> tuple[dict[str, Any], str]:
    """Parse ``---\\n<yaml>\\n---\\n<body>``; raise UserError with the file and line when broken."""
    if not text.startswith("---"):
        raise UserError(f"{path} has no front matter: it must start with a '---' line.", file=path, line=1)
    lines = text.splitlines(keepends=True)
    if lines[0].rstrip("\r\n") != "---":
        raise UserError(f"{path}: the first line must be exactly '---'.", file=path, line=1)
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n") == "---":
            head = "".join(lines[1:i])
            body = "".join(lines[i + 1 :])
            break
    else:
        raise UserError(f"{path}: the front matter is not closed by a '---' line.", file=path, line=1)
    try:
        data = yaml.load(head, Loader=_SafeLoader) if head.strip() else {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e)
        raise UserError(f"{path}:{line}: front matter is not valid YAML ({problem}).", file=path, line=line) from e
    if not isinstance(data, dict):
        raise UserError(f"{path}: front matter must be a YAML mapping.", file=path, line=2)
    return data, body


def join_front_matter(data: Mapping[str, Any], body: str = "") -> str:
    head = yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{head}---\n{body}"


# ---------------------------------------------------------------------------- manifests


@dataclass(frozen=True)
class Layer:
    size: int
    digest: str
    url: str
    media_type: str = SIF_MEDIA_TYPE


@dataclass(frozen=True)
class Manifest:
    """One tag of one collection: what ``manifests/<tag>/README.md`` holds."""

    collection: str
    tag: str
    size: int
    digest: str
    layers: tuple[Layer, ...]
    created: str = ""
    recipe: str = ""
    source: str = ""
    revision: str = ""
    run_url: str = ""
    apptainer_version: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.layers[0].url

    def front_matter(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "layout": MANIFEST_LAYOUT,
            "size": self.size,
            "digest": self.digest,
            "layers": [
                {"size": layer.size, "digest": layer.digest, "url": layer.url, "mediaType": layer.media_type}
                for layer in self.layers
            ],
            "mediaType": OCI_MANIFEST_MEDIA_TYPE,
            "tag": self.tag,
        }
        optional = {
            "created": self.created,
            "recipe": self.recipe,
            "source": self.source,
            "revision": self.revision,
            "run": self.run_url,
            "apptainer_version": self.apptainer_version,
        }
        data.update({k: v for k, v in optional.items() if v})
        if self.labels:
            data["labels"] = dict(sorted(self.labels.items()))
        return data

    def to_markdown(self) -> str:
        body = (
            f"\n# {self.collection}:{self.tag}\n\n"
            f"- digest: `{self.digest}`\n- size: {self.size} bytes\n"
            + (f"- recipe: `{self.recipe}`\n" if self.recipe else "")
            + (f"- source commit: `{self.revision}`\n" if self.revision else "")
        )
        return join_front_matter(self.front_matter(), body)

    @classmethod
    def from_markdown(cls, text: str, collection: str, tag: str, path: str = "<manifest>") -> Manifest:
        data, _ = split_front_matter(text, path)
        return cls.from_front_matter(data, collection, tag, path)

    @classmethod
    def from_front_matter(cls, data: Mapping[str, Any], collection: str, tag: str, path: str) -> Manifest:
        def fail(what: str) -> UserError:
            return UserError(f"{path}: {what}.", file=path, line=1)

        size, digest, raw_layers = data.get("size"), data.get("digest"), data.get("layers")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise fail("'size' must be the image size in bytes (a whole number)")
        if not isinstance(digest, str) or not DIGEST_RE.match(digest):
            raise fail("'digest' must be 'sha256:' and 64 lower-case hex digits")
        if not isinstance(raw_layers, list) or not raw_layers:
            raise fail("'layers' must be a list with the image's size, digest and url")
        layers = []
        for i, raw in enumerate(raw_layers):
            if not isinstance(raw, dict):
                raise fail(f"layer {i + 1} must be a mapping of size, digest and url")
            lsize, ldigest, url = raw.get("size"), raw.get("digest"), raw.get("url")
            if not isinstance(lsize, int) or isinstance(lsize, bool) or lsize < 0:
                raise fail(f"layer {i + 1}: 'size' must be a whole number of bytes")
            if not isinstance(ldigest, str) or not DIGEST_RE.match(ldigest):
                raise fail(f"layer {i + 1}: 'digest' must be 'sha256:' and 64 lower-case hex digits")
            if not isinstance(url, str) or not url:
                raise fail(f"layer {i + 1}: 'url' must be the download URL")
            media = raw.get("mediaType", SIF_MEDIA_TYPE)
            layers.append(Layer(lsize, ldigest, url, str(media)))
        labels = data.get("labels") or {}
        if not isinstance(labels, dict):
            raise fail("'labels' must be a mapping")
        return cls(
            collection=collection,
            tag=tag,
            size=size,
            digest=digest,
            layers=tuple(layers),
            created=str(data.get("created", "") or ""),
            recipe=str(data.get("recipe", "") or ""),
            source=str(data.get("source", "") or ""),
            revision=str(data.get("revision", "") or ""),
            run_url=str(data.get("run", "") or ""),
            apptainer_version=str(data.get("apptainer_version", "") or ""),
            labels={str(k): str(v) for k, v in labels.items()},
        )

    def oci(self) -> dict[str, Any]:
        """The manifest endpoint's body: an OCI image manifest whose one layer is the SIF.

        Media types are those of Apptainer's own ``oras://`` push, so the same descriptor
        means something to OCI tooling; ``jq '.layers[].urls[0]'`` gives the download URL.
        """
        annotations = {"org.opencontainers.image.ref.name": self.tag}
        if self.created:
            annotations["org.opencontainers.image.created"] = self.created
        if self.source:
            annotations["org.opencontainers.image.source"] = self.source
        if self.revision:
            annotations["org.opencontainers.image.revision"] = self.revision
        return {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": SIF_CONFIG_MEDIA_TYPE,
                "size": 2,
                "digest": EMPTY_CONFIG_DIGEST,
                "data": "e30=",
            },
            "layers": [
                {
                    "mediaType": layer.media_type,
                    "size": layer.size,
                    "digest": layer.digest,
                    "urls": [layer.url],
                    "annotations": {
                        "org.opencontainers.image.title": f"{self.collection.replace('/', '-')}_{self.tag}.sif"
                    },
                }
                for layer in self.layers
            ],
            "annotations": annotations,
        }


def tags_json(collection: str, tags: Iterable[str]) -> dict[str, Any]:
    """The tags endpoint's body, in the OCI distribution ``tags/list`` shape, sorted."""
    return {"name": collection, "tags": sorted(set(tags))}


# ---------------------------------------------------------------------------- collection files


def collection_readme(description: str, body: str = "") -> str:
    return join_front_matter({"layout": COLLECTION_LAYOUT, "description": description}, body)


def tags_readme() -> str:
    return join_front_matter(
        {"layout": TAGS_LAYOUT},
        "\nThe tags endpoint of this collection is rendered from `../manifests/*/README.md`.\n",
    )


def describe_readme(readme: str, fallback: str) -> str:
    """A one-line description from a README: its first paragraph of prose."""
    paragraph: list[str] = []
    in_code = False
    for raw in readme.splitlines():
        line = raw.strip()
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code or line.startswith(("#", "<", "[![", "!", "|", "---", "===")):
            if paragraph:
                break
            continue
        if not line:
            if paragraph:
                break
            continue
        paragraph.append(line)
    text = " ".join(paragraph)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links → their text
    if len(text) > 300:
        text = text[:297].rsplit(" ", 1)[0] + "…"
    return text or fallback


@dataclass(frozen=True)
class CollectionPaths:
    """Where one collection's files lie inside the registry repository."""

    collection: str

    @property
    def root(self) -> PurePosixPath:
        return PurePosixPath(self.collection)

    @property
    def readme(self) -> PurePosixPath:
        return self.root / "README.md"

    @property
    def tags(self) -> PurePosixPath:
        return self.root / "tags" / "README.md"

    def manifest(self, tag: str) -> PurePosixPath:
        return self.root / "manifests" / tag / "README.md"

    def manifest_dir(self, tag: str) -> PurePosixPath:
        return self.root / "manifests" / tag


def existing_tags(registry: Path, collection: str) -> list[str]:
    """Tags of a collection in a registry checkout: folders under manifests/ with a README."""
    folder = registry / collection / "manifests"
    if not folder.is_dir():
        return []
    return sorted(
        p.name for p in folder.iterdir() if p.is_dir() and TAG_RE.match(p.name) and (p / "README.md").is_file()
    )


def write_collection(
    registry: Path,
    collection: str,
    manifests: Iterable[Manifest],
    removed_tags: Iterable[str],
    description: str,
    readme_body: str,
) -> None:
    """Apply one run's changes to a registry checkout.

    The collection README is created when missing and never overwritten: the registry's
    maintainers own it once it exists.
    """
    paths = CollectionPaths(collection)
    readme = registry / paths.readme
    if not readme.exists():
        readme.parent.mkdir(parents=True, exist_ok=True)
        readme.write_text(collection_readme(description, readme_body), encoding="utf-8")
    tags = registry / paths.tags
    if not tags.exists():
        tags.parent.mkdir(parents=True, exist_ok=True)
        tags.write_text(tags_readme(), encoding="utf-8")
    for manifest in manifests:
        target = registry / paths.manifest(manifest.tag)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(manifest.to_markdown(), encoding="utf-8")
    for tag in removed_tags:
        folder = registry / paths.manifest_dir(tag)
        manifest_file = folder / "README.md"
        if manifest_file.exists():
            manifest_file.unlink()
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


# ---------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """One problem found in a registry file: an annotation on ``path`` at ``line``.

    ``severity`` is ``"error"`` (the check fails) or ``"warning"`` (reported, not fatal).
    """

    path: str
    line: int | None
    message: str
    severity: str = "error"
