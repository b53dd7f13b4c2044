"""render: every endpoint is JSON with exactly the right tags; the seed's Jekyll defects are gone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from static_registry.errors import UserError
from static_registry.render import default_site_url, markdown_to_html, render
from tests.registry.helpers import add_collection, manifest

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
TRICKY_URL = 'https://storage.example.org/we"ird/<b>&x.sif'


def tags_of(site: Path, ns: str) -> list[str]:
    endpoints = [
        site / ns / "tags" / "index.html",
        site / ns / "tags" / "index.json",
        site / "v2" / ns / "tags" / "list",
    ]
    bodies = [json.loads(p.read_text(encoding="utf-8")) for p in endpoints]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["name"] == ns
    tags: list[str] = bodies[0]["tags"]
    return tags


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    reg = tmp_path / "registry"
    reg.mkdir()
    (reg / "README.md").write_text("# The registry\n")
    (reg / ".github" / "workflows").mkdir(parents=True)
    (reg / ".github" / "workflows" / "pages.yml").write_text("on: push\n")
    (reg / "_layouts").mkdir()
    (reg / "_layouts" / "tags.html").write_text("{{ content }}")
    add_collection(
        reg, "a/b", [manifest("a/b", t, 10, D1, f"https://s.example.org/a/b/{t}.sif") for t in ("latest", "2.0", "1.0")]
    )
    add_collection(reg, "a/b-extra", [manifest("a/b-extra", "extra", 11, D2, "https://s.example.org/extra.sif")])
    add_collection(reg, "xa/b", [manifest("xa/b", "leak", 12, D1, "https://s.example.org/leak.sif")])
    add_collection(reg, "org/tagsoup", [manifest("org/tagsoup", "soup", 13, D2, "https://s.example.org/soup.sif")])
    add_collection(
        reg,
        "org/quotes",
        [
            manifest(
                "org/quotes", "q", 14, D1, TRICKY_URL, recipe='odd"<dir>/Singularity.q', created="2024-05-06T07:08:09Z"
            )
        ],
        description='Say "hello" to <script>alert(1)</script> & co',
        body="\n# About\n\nRead <b>this</b> and [that](javascript:alert(1)) or [docs](https://docs.example.org).\n",
    )
    # a collection with a tags README but no manifests
    add_collection(reg, "org/empty", [])
    # a stray README directly under manifests/
    (reg / "a" / "b" / "manifests" / "README.md").write_text("---\nlayout: manifests/singularity\n---\n")
    # a tag folder whose README was deleted (the seed's "rebuild" flag): not a tag
    (reg / "a" / "b" / "manifests" / "old").mkdir()
    (reg / "a" / "b" / "manifests" / "old" / "Singularity").write_text("Bootstrap: scratch\n")
    # a broken manifest: a warning, the tag is skipped, the site still renders
    bad = reg / "org" / "broken" / "manifests" / "bad"
    bad.mkdir(parents=True)
    (bad / "README.md").write_text("---\nlayout: manifests/singularity\nsize: [\n---\n")
    return reg


def test_endpoints_hold_exactly_their_tags(registry: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = render(registry, site, "https://org.github.io/registry")
    names = [c.name for c in result.collections]
    assert names == ["a/b", "a/b-extra", "org/broken", "org/empty", "org/quotes", "org/tagsoup", "xa/b"]
    assert tags_of(site, "a/b") == ["1.0", "2.0", "latest"]  # sorted; no README.md, no old, no leak
    assert tags_of(site, "a/b-extra") == ["extra"]
    assert tags_of(site, "xa/b") == ["leak"]
    assert tags_of(site, "org/tagsoup") == ["soup"]
    assert tags_of(site, "org/empty") == []
    assert tags_of(site, "org/broken") == []
    assert (site / ".nojekyll").exists()
    catalog = json.loads((site / "v2" / "_catalog.json").read_text())
    assert catalog == json.loads((site / "v2" / "_catalog").read_text())
    assert catalog["repositories"] == names
    # nothing from the registry's own site files or workflows is published
    assert not (site / ".github").exists() and not (site / "_layouts").exists()
    warnings = {w.path: w.message for w in result.warnings}
    assert "a/b/manifests/README.md" in warnings and "ignored" in warnings["a/b/manifests/README.md"]
    assert any(p.startswith("org/broken/manifests/bad") for p in warnings)
    assert not (site / "a" / "b" / "manifests" / "README.md").exists()
    assert not (site / "a" / "b" / "manifests" / "index.html").exists()


def test_manifest_endpoint_is_oci_and_jq_gives_the_url(registry: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    render(registry, site, "https://org.github.io/registry")
    for ns, tag, url in [("a/b", "2.0", "https://s.example.org/a/b/2.0.sif"), ("org/quotes", "q", TRICKY_URL)]:
        html_body = (site / ns / "manifests" / tag / "index.html").read_text()
        for body in (
            html_body,
            (site / ns / "manifests" / tag / "index.json").read_text(),
            (site / "v2" / ns / "manifests" / tag).read_text(),
        ):
            doc = json.loads(body)
            assert doc["schemaVersion"] == 2
            assert doc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
            # jq '.layers [] .urls [0]'
            assert [layer["urls"][0] for layer in doc["layers"]] == [url]
            assert doc["layers"][0]["mediaType"] == "application/vnd.sylabs.sif.layer.v1.sif"
    raw = (site / "org/quotes/manifests/q/index.html").read_text()
    assert "<" not in raw and ">" not in raw and "&" not in raw  # JSON served as text/html injects no markup
    assert '\\"' in raw


def test_html_is_escaped_and_readme_rendered(registry: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    render(registry, site, "https://org.github.io/registry")
    page = (site / "org/quotes/index.html").read_text()
    assert "<script>alert(1)</script>" not in page
    assert "Say &quot;hello&quot; to &lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "&lt;b&gt;this&lt;/b&gt;" in page
    assert "javascript:" not in page
    assert '<a href="https://docs.example.org" rel="nofollow">docs</a>' in page
    assert "static-registry pull https://org.github.io/registry/org/quotes:q" in page
    assert (
        "curl -s https://org.github.io/registry/org/quotes/manifests/q/ | jq -r &#x27;.layers[0].urls[0]&#x27; "
        "| xargs wget -O quotes_q.sif" in page
    )
    assert "14 bytes" in page and "2024-05-06" in page
    home = (site / "index.html").read_text()
    for ns in ("a/b", "a/b-extra", "xa/b", "org/tagsoup", "org/empty"):
        assert f'href="{ns}/"' in home
    for page_path in site.rglob("*.html"):
        text = page_path.read_text()
        assert '<link rel="stylesheet"' not in text and "<script src" not in text  # nothing loaded from outside


def test_render_replaces_its_own_output_but_not_other_folders(registry: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    render(registry, site, "")
    shutil.rmtree(registry / "xa")
    render(registry, site, "")
    assert not (site / "xa").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("keep")
    with pytest.raises(UserError, match="not empty"):
        render(registry, other, "")
    assert (other / "precious.txt").read_text() == "keep"


def test_output_inside_registry_is_not_read_back(registry: Path) -> None:
    first = render(registry, registry / "_site", "")
    second = render(registry, registry / "_site", "")
    assert [c.name for c in first.collections] == [c.name for c in second.collections]


def test_default_site_url() -> None:
    assert default_site_url({"GITHUB_REPOSITORY": "MyOrg/registry"}) == "https://myorg.github.io/registry"
    assert default_site_url({"GITHUB_REPOSITORY": "MyOrg/myorg.github.io"}) == "https://myorg.github.io"
    assert default_site_url({}) == ""


def test_markdown_subset_is_safe() -> None:
    out = markdown_to_html(
        "# T\n\n<img src=x onerror=alert(1)>\n\n```\n<b>\n```\n\n- **a** `<c>`\n- ![i](https://x.org/i.png)\n"
    )
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "<pre><code>&lt;b&gt;</code></pre>" in out
    assert "<li><strong>a</strong> <code>&lt;c&gt;</code></li>" in out
    assert '<a href="https://x.org/i.png" rel="nofollow">i</a>' in out
