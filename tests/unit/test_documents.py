from __future__ import annotations

import json
from pathlib import Path

import pytest

from static_registry.documents import (
    Layer,
    Manifest,
    collection_name,
    describe_readme,
    existing_tags,
    split_front_matter,
    tags_json,
    write_collection,
)
from static_registry.errors import UserError

DIGEST = "sha256:" + "ab" * 32


def manifest(tag: str = "latest", url: str = "https://x.example/a.sif") -> Manifest:
    return Manifest("org/repo", tag, 10, DIGEST, (Layer(10, DIGEST, url),), recipe="Singularity", revision="c0ffee")


def test_manifest_round_trips_and_keeps_the_seed_keys() -> None:
    m = manifest(url='https://x.example/a"b: #c.sif')
    text = m.to_markdown()
    data, _ = split_front_matter(text)
    assert data["layout"] == "manifests/singularity"
    assert data["size"] == 10 and data["digest"] == DIGEST
    assert data["layers"][0] == {
        "size": 10,
        "digest": DIGEST,
        "url": 'https://x.example/a"b: #c.sif',
        "mediaType": "application/vnd.sylabs.sif.layer.v1.sif",
    }
    assert Manifest.from_markdown(text, "org/repo", "latest") == m


def test_oci_manifest_gives_the_url_where_the_seed_looks() -> None:
    body = json.loads(json.dumps(manifest().oci()))
    assert body["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [layer["urls"][0] for layer in body["layers"]] == ["https://x.example/a.sif"]
    assert body["layers"][0]["mediaType"] == "application/vnd.sylabs.sif.layer.v1.sif"
    assert body["layers"][0]["digest"] == DIGEST and body["layers"][0]["size"] == 10


def test_tags_are_sorted_and_unique() -> None:
    assert tags_json("a/b", ["z", "1.0", "latest", "z"]) == {"name": "a/b", "tags": ["1.0", "latest", "z"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "has no front matter"),
        ("---\nsize: [\n---\n", "front matter is not valid YAML"),
        ("---\nsize: 1\n", "not closed"),
        ("---\nsize: -1\ndigest: x\nlayers: []\n---\n", "'size' must be"),
        ("---\nsize: 1\ndigest: md5:abc\nlayers: []\n---\n", "'digest' must be"),
        (f"---\nsize: 1\ndigest: {DIGEST}\nlayers: []\n---\n", "'layers' must be"),
    ],
)
def test_broken_manifests_are_named(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        Manifest.from_markdown(text, "a/b", "t", "a/b/manifests/t/README.md")


def test_collection_names_are_lower_case_and_checked() -> None:
    assert collection_name("SingularityHub/CentOS") == "singularityhub/centos"
    with pytest.raises(UserError):
        collection_name("not a repo")


def test_description_is_the_first_paragraph_of_prose() -> None:
    readme = "# Title\n\n[![badge](x)](y)\n\nBuilds [CentOS](https://c) images\nfor HPC.\n\nMore text.\n"
    assert describe_readme(readme, "fallback") == "Builds CentOS images for HPC."
    assert describe_readme("# only a title\n", "fallback") == "fallback"


def test_write_collection_never_overwrites_the_collection_readme(tmp_path: Path) -> None:
    write_collection(tmp_path, "org/repo", [manifest("a"), manifest("b")], [], "first", "body")
    readme = tmp_path / "org/repo/README.md"
    readme.write_text("---\nlayout: collection\ndescription: curated by maintainers\n---\n")
    write_collection(tmp_path, "org/repo", [manifest("c")], ["a"], "second", "other")
    assert "curated by maintainers" in readme.read_text()
    assert existing_tags(tmp_path, "org/repo") == ["b", "c"]
    assert not (tmp_path / "org/repo/manifests/a").exists()
