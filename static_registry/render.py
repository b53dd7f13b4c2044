"""Render the registry repository's files into a static site for GitHub Pages.

The site holds, for every collection ``<ns>`` = ``<owner>/<repo>`` and tag ``<tag>``::

    <ns>/index.html                     the collection page (HTML)
    <ns>/tags/index.html                tags JSON: {"name": ..., "tags": [sorted]}   (seed URL)
    <ns>/tags/index.json                the same, served as application/json
    <ns>/manifests/<tag>/index.html     OCI image manifest JSON                      (seed URL)
    <ns>/manifests/<tag>/index.json     the same, served as application/json
    v2/<ns>/tags/list                   OCI distribution-like paths (same JSON bodies)
    v2/<ns>/manifests/<tag>
    v2/_catalog, v2/_catalog.json       {"repositories": [sorted collection names]}
    index.html, 404.html, .nojekyll     home page with a search box; no Jekyll processing

``curl <site>/<ns>/tags/`` and ``curl <site>/<ns>/manifests/<tag>/`` therefore answer as the
seed's organizational registry documents. The registry tree is walked once: rendering is
linear in the number of collections and tags. JSON is written by ``json.dumps`` (with
``<``, ``>`` and ``&`` escaped as ``\\u003c``… so a JSON body served as HTML cannot inject
markup), HTML by templates whose every value goes through ``html.escape``.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .documents import (
    COLLECTION_LAYOUT,
    COLLECTION_RE,
    TAG_RE,
    Finding,
    Manifest,
    split_front_matter,
    tags_json,
)
from .errors import UserError

MARKER = ".static-registry-site"
"""A file in the output folder: the folder may be wiped and rendered again."""

RESERVED_OWNERS = frozenset({"v2"})
"""Top-level folders of the site that are not collections."""


# ---------------------------------------------------------------------------- results


@dataclass
class CollectionInfo:
    """One collection as read from the registry repository."""

    name: str
    description: str = ""
    body: str = ""
    manifests: list[Manifest] = field(default_factory=list)

    @property
    def tags(self) -> list[str]:
        return [m.tag for m in self.manifests]


@dataclass(frozen=True)
class CollectionSummary:
    """What the home page and the result keep of a rendered collection (not its manifests)."""

    name: str
    description: str
    tags: list[str]
    updated: str
    """The newest ``created`` date (YYYY-MM-DD) of its tags, or ""."""

    @classmethod
    def of(cls, info: CollectionInfo) -> CollectionSummary:
        dates = [m.created[:10] for m in info.manifests if m.created]
        return cls(info.name, info.description, info.tags, max(dates) if dates else "")


@dataclass
class RenderResult:
    """What ``render`` wrote: the collections (tags sorted), warnings, and file count."""

    output: Path
    site_url: str
    collections: list[CollectionSummary]
    warnings: list[Finding]
    files: int = 0

    def summary_markdown(self) -> str:
        tags = sum(len(c.tags) for c in self.collections)
        lines = [
            "## Registry site rendered",
            "",
            f"{len(self.collections)} collections, {tags} tags, {self.files} files"
            + (f", site {self.site_url}" if self.site_url else "")
            + ".",
            "",
        ]
        if self.collections:
            lines += ["| Collection | Tags |", "| --- | --- |"]
            for c in self.collections[:200]:
                tag_list = ", ".join(f"`{t}`" for t in c.tags) or "(none)"
                lines.append(f"| `{c.name}` | {tag_list} |")
            if len(self.collections) > 200:
                lines.append(f"| … | {len(self.collections) - 200} more collections |")
            lines.append("")
        if self.warnings:
            lines += ["### Warnings", ""]
            lines += [f"- `{w.path}`" + (f" line {w.line}" if w.line else "") + f": {w.message}" for w in self.warnings]
            lines.append("")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- site URL


def default_site_url(environ: Mapping[str, str] | None = None) -> str:
    """``https://<owner>.github.io/<repo>`` from ``GITHUB_REPOSITORY``; "" when unknown."""
    env = os.environ if environ is None else environ
    repository = env.get("GITHUB_REPOSITORY", "").strip()
    if repository.count("/") != 1:
        return ""
    owner, repo = repository.split("/")
    owner = owner.lower()
    if repo.lower() == f"{owner}.github.io":
        return f"https://{owner}.github.io"
    return f"https://{owner}.github.io/{repo}"


# ---------------------------------------------------------------------------- reading


def _read_front_matter(path: Path, rel: str, warnings: list[Finding]) -> tuple[dict[str, Any], str] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        warnings.append(Finding(rel, None, f"{rel} could not be read as UTF-8 text ({e}); it was skipped.", "warning"))
        return None
    try:
        return split_front_matter(text, rel)
    except UserError as e:
        warnings.append(Finding(rel, e.line, f"{e.message} The file was skipped.", "warning"))
        return None


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def read_registry(registry: Path, exclude: Iterable[Path] = ()) -> tuple[list[CollectionInfo], list[Finding]]:
    """Every collection of the registry checkout (sorted by name) and the warnings met."""
    warnings: list[Finding] = []
    return list(iter_collections(registry, warnings, exclude)), warnings


def iter_collections(registry: Path, warnings: list[Finding], exclude: Iterable[Path] = ()) -> Iterator[CollectionInfo]:
    """Walk ``<owner>/<repo>/`` folders once, yielding each collection in name order.

    Skips hidden and ``_``-prefixed top-level folders (``.git``, ``.github``, ``_site``),
    symbolic links, and ``exclude`` (the output folder). Problems are appended to
    ``warnings``: a bad file never stops the site from being rendered. One collection is
    held in memory at a time.
    """
    excluded = {p.resolve() for p in exclude}
    with os.scandir(registry) as top:
        owners = sorted((e for e in top if e.is_dir(follow_symlinks=False)), key=lambda e: e.name)
    for owner in owners:
        if owner.name.startswith((".", "_")) or Path(owner.path).resolve() in excluded:
            continue
        with os.scandir(owner.path) as second:
            repos = sorted((e for e in second if e.is_dir(follow_symlinks=False)), key=lambda e: e.name)
        for repo in repos:
            if repo.name.startswith("."):
                continue
            info = _read_collection(Path(repo.path), f"{owner.name}/{repo.name}", warnings)
            if info is not None:
                yield info


def _read_collection(folder: Path, name: str, warnings: list[Finding]) -> CollectionInfo | None:
    readme = folder / "README.md"
    tags_readme = folder / "tags" / "README.md"
    manifests_dir = folder / "manifests"
    has_tags = _is_file(tags_readme)
    has_manifests = manifests_dir.is_dir() and not manifests_dir.is_symlink()
    front: tuple[dict[str, Any], str] | None = None
    if _is_file(readme):
        if not (has_tags or has_manifests):
            # Only a README: a collection if its front matter says so (docs/guide/README.md is not).
            try:
                head = readme.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                return None
            if not re.search(rf"(?m)^layout:\s*['\"]?{COLLECTION_LAYOUT}['\"]?\s*$", head.split("\n---", 1)[0]):
                return None
        front = _read_front_matter(readme, f"{name}/README.md", warnings)
    elif not (has_tags or has_manifests):
        return None
    if not COLLECTION_RE.match(name):
        warnings.append(
            Finding(
                name,
                None,
                f"Folder '{name}' holds registry files but is not a valid collection name "
                "(lower-case owner/repo); it was skipped.",
                "warning",
            )
        )
        return None
    if name.split("/")[0] in RESERVED_OWNERS:
        warnings.append(
            Finding(
                name,
                None,
                f"Collection '{name}' uses a reserved owner name ('v2' holds the site's API); it was skipped.",
                "warning",
            )
        )
        return None
    info = CollectionInfo(name)
    if front is not None:
        data, body = front
        description = data.get("description")
        info.description = "" if description is None else str(description)
        info.body = body
    if has_manifests:
        info.manifests = _read_manifests(manifests_dir, name, warnings)
    return info


def _read_manifests(folder: Path, name: str, warnings: list[Finding]) -> list[Manifest]:
    manifests: list[Manifest] = []
    with os.scandir(folder) as entries:
        items = sorted(entries, key=lambda e: e.name)
    for entry in items:
        rel = f"{name}/manifests/{entry.name}"
        if not entry.is_dir(follow_symlinks=False):
            warnings.append(
                Finding(
                    rel,
                    None,
                    f"Stray file {rel} is not a tag (tags are folders manifests/<tag>/README.md); it was ignored.",
                    "warning",
                )
            )
            continue
        if not TAG_RE.match(entry.name):
            warnings.append(Finding(rel, None, f"Folder {rel} is not a valid tag name; it was ignored.", "warning"))
            continue
        manifest_file = Path(entry.path) / "README.md"
        if not _is_file(manifest_file):
            continue  # the seed's "rebuild me" flag: a tag folder without its README
        parsed = _read_front_matter(manifest_file, f"{rel}/README.md", warnings)
        if parsed is None:
            continue
        try:
            manifest = Manifest.from_front_matter(parsed[0], name, entry.name, f"{rel}/README.md")
        except UserError as e:
            warnings.append(Finding(f"{rel}/README.md", e.line, f"{e.message} The tag was skipped.", "warning"))
            continue
        declared = parsed[0].get("tag")
        if declared is not None and str(declared) != entry.name:
            warnings.append(
                Finding(
                    f"{rel}/README.md",
                    None,
                    f"{rel}/README.md says tag '{declared}' but lies in folder '{entry.name}'; "
                    "the folder name was used.",
                    "warning",
                )
            )
        manifests.append(manifest)
    manifests.sort(key=lambda m: m.tag)
    return manifests


# ---------------------------------------------------------------------------- writing


def json_text(data: Any) -> str:
    """Pretty JSON whose ``<``, ``>`` and ``&`` are ``\\u`` escapes (same values, no markup)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


class _Writer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0
        self._made: set[str] = set()

    def write(self, rel: str, text: str) -> None:
        path = os.path.join(self.root, rel)
        parent = os.path.dirname(path)
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        self.count += 1


def _prepare_output(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise UserError(f"Output '{output}' is a file; give a folder for the rendered site.")
    if output.is_dir() and any(output.iterdir()):
        if not (output / MARKER).exists():
            raise UserError(
                f"Output folder '{output}' is not empty and was not made by 'render'; give an empty or new folder."
            )
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)


def render(
    registry: Path,
    output: Path,
    site_url: str | None = None,
    *,
    title: str | None = None,
    repository_url: str | None = None,
) -> RenderResult:
    """Render the registry checkout ``registry`` into the folder ``output``.

    ``site_url`` is the public base URL used in copyable commands (default from
    ``GITHUB_REPOSITORY``; when unknown the pages work it out in the browser).
    ``repository_url`` links the registry repository (default from ``GITHUB_SERVER_URL``
    and ``GITHUB_REPOSITORY``). ``output`` is created, or replaced when an earlier render
    made it; any other non-empty folder is refused.
    """
    registry = registry.resolve()
    output = output.resolve()
    if not registry.is_dir():
        raise UserError(
            f"Registry folder '{registry}' does not exist; run 'render' in the registry repository's checkout."
        )
    site = (default_site_url() if site_url is None else site_url).rstrip("/")
    if repository_url is None:
        repo = os.environ.get("GITHUB_REPOSITORY", "")
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        repository_url = f"{server}/{repo}" if repo else ""
    if title is None:
        repo_name = os.environ.get("GITHUB_REPOSITORY", "")
        title = f"{repo_name} container registry" if repo_name else "Container registry"
    _prepare_output(output)
    w = _Writer(output)
    w.write(MARKER, "Rendered by static-registry; this folder is replaced on every render.\n")
    w.write(".nojekyll", "")
    warnings: list[Finding] = []
    collections: list[CollectionSummary] = []
    for info in iter_collections(registry, warnings, exclude=[output]):
        _write_collection(w, info, site, repository_url, title)
        collections.append(CollectionSummary.of(info))
    catalog = json_text({"repositories": [c.name for c in collections]})
    w.write("v2/_catalog", catalog)
    w.write("v2/_catalog.json", catalog)
    w.write("v2/index.html", "{}\n")
    w.write("index.html", home_page(collections, title, site, repository_url))
    w.write("404.html", not_found_page(title, site))
    return RenderResult(output=output, site_url=site, collections=collections, warnings=warnings, files=w.count)


def _write_collection(w: _Writer, info: CollectionInfo, site: str, repository_url: str, title: str) -> None:
    ns = info.name
    tags = json_text(tags_json(ns, info.tags))
    w.write(f"{ns}/tags/index.html", tags)
    w.write(f"{ns}/tags/index.json", tags)
    w.write(f"v2/{ns}/tags/list", tags)
    for manifest in info.manifests:
        body = json_text(manifest.oci())
        w.write(f"{ns}/manifests/{manifest.tag}/index.html", body)
        w.write(f"{ns}/manifests/{manifest.tag}/index.json", body)
        w.write(f"v2/{ns}/manifests/{manifest.tag}", body)
    w.write(f"{ns}/index.html", collection_page(info, site, repository_url, title))


# ---------------------------------------------------------------------------- Markdown


_SAFE_URL = re.compile(r"^(https?://|mailto:|#|/(?!/)|\.{0,2}/|[A-Za-z0-9_.~-]+(/|$|#|\?))", re.IGNORECASE)


def _safe_href(url: str) -> str | None:
    url = url.strip()
    if not url or not _SAFE_URL.match(url):
        return None
    if re.match(r"^[a-z][a-z0-9+.-]*:", url, re.IGNORECASE) and not re.match(r"^(https?|mailto):", url, re.IGNORECASE):
        return None
    return url


_INLINE = re.compile(
    r"!?\[(?P<text>[^\]]*)\]\((?P<url>[^)\s]+)(?:\s+\"[^\"]*\")?\)"
    r"|\*\*(?P<strong>.+?)\*\*"
    r"|__(?P<strong2>.+?)__"
    r"|(?<![\w*])\*(?P<em>[^*\s](?:[^*]*[^*\s])?)\*(?![\w*])"
    r"|(?P<auto>https?://[^\s<>()\"']+[^\s<>()\"'.,;:!?])"
)


def _inline(text: str) -> str:
    """Inline Markdown → HTML: code spans, links, bold, italics; everything else escaped."""
    out: list[str] = []
    for i, part in enumerate(re.split(r"(`+[^`]*?`+)", text)):
        if i % 2 == 1 and part.startswith("`"):
            out.append(f"<code>{html.escape(part.strip('`'))}</code>")
            continue
        out.append(_inline_plain(part))
    return "".join(out)


def _inline_plain(text: str) -> str:
    pos = 0
    out: list[str] = []
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos : m.start()]))
        pos = m.end()
        if m.group("url") is not None:
            label = _inline_plain(m.group("text") or m.group("url"))
            href = _safe_href(m.group("url"))
            out.append(f'<a href="{html.escape(href)}" rel="nofollow">{label}</a>' if href else label)
        elif m.group("strong") is not None or m.group("strong2") is not None:
            out.append(f"<strong>{_inline_plain(m.group('strong') or m.group('strong2'))}</strong>")
        elif m.group("em") is not None:
            out.append(f"<em>{_inline_plain(m.group('em'))}</em>")
        else:
            url = m.group("auto")
            out.append(f'<a href="{html.escape(url)}" rel="nofollow">{html.escape(url)}</a>')
    out.append(html.escape(text[pos:]))
    return "".join(out)


def markdown_to_html(text: str) -> str:
    """A small, safe Markdown subset: headings, paragraphs, lists, quotes, code, links.

    Raw HTML is shown as text, never passed through; link targets are limited to http(s),
    mailto and relative URLs; images become links (the site loads nothing from outside).
    """
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    para: list[str] = []
    list_kind: str | None = None

    def flush_para() -> None:
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()

    def close_list() -> None:
        nonlocal list_kind
        if list_kind:
            out.append(f"</{list_kind}>")
            list_kind = None

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        fence = re.match(r"^\s*(```+|~~~+)", line)
        if fence:
            flush_para()
            close_list()
            marker = fence.group(1)
            code: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                code.append(lines[i])
                i += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(code))}</code></pre>")
            i += 1
            continue
        heading = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", stripped)
        item = re.match(r"^\s*([-*+]|\d+[.)])\s+(.*)$", line)
        if not stripped:
            flush_para()
            close_list()
        elif heading:
            flush_para()
            close_list()
            level = min(6, len(heading.group(1)) + 1)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif re.match(r"^(-{3,}|\*{3,}|_{3,})$", stripped):
            flush_para()
            close_list()
            out.append("<hr>")
        elif stripped.startswith(">"):
            flush_para()
            close_list()
            quoted: list[str] = []
            while i < len(lines) and lines[i].strip().startswith(">"):
                quoted.append(lines[i].strip()[1:].lstrip())
                i += 1
            out.append(f"<blockquote>{markdown_to_html(chr(10).join(quoted))}</blockquote>")
            continue
        elif item:
            flush_para()
            kind = "ol" if item.group(1)[0].isdigit() else "ul"
            if list_kind != kind:
                close_list()
                out.append(f"<{kind}>")
                list_kind = kind
            out.append(f"<li>{_inline(item.group(2))}</li>")
        elif line.startswith("    ") and not para:
            close_list()
            code = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                code.append(lines[i][4:])
                i += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(code).rstrip())}</code></pre>")
            continue
        elif list_kind and line.startswith((" ", "\t")):
            out[-1] = out[-1][: -len("</li>")] + " " + _inline(stripped) + "</li>"
        else:
            close_list()
            para.append(stripped)
        i += 1
    flush_para()
    close_list()
    return "\n".join(out)


# ---------------------------------------------------------------------------- HTML


def human_size(size: int) -> str:
    """``1536`` → ``1.5 KiB``."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


CSS = """
:root{--bg:#f7f8fa;--fg:#1d2330;--muted:#5d6778;--card:#fff;--line:#e1e5ec;--accent:#3056d3;
  --accent-bg:#eef2ff;--code:#f1f3f7;--ok:#1a7f37}
@media (prefers-color-scheme:dark){:root{--bg:#11141a;--fg:#e6e9ef;--muted:#9aa3b2;--card:#1a1e26;
  --line:#2c3240;--accent:#7d9bff;--accent-bg:#1f2740;--code:#232836;--ok:#4ac26b}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
  background:var(--bg);color:var(--fg)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
header.top{background:var(--card);border-bottom:1px solid var(--line)}
header.top .wrap{display:flex;align-items:center;gap:1rem;padding:.8rem 1.2rem}
header.top .brand{font-weight:700;font-size:1.1rem;color:var(--fg)}
header.top .brand .logo{display:inline-block;width:1.4rem;height:1.4rem;border-radius:.35rem;
  background:linear-gradient(135deg,var(--accent),#9b5de5);vertical-align:-.3rem;margin-right:.5rem}
header.top nav{margin-left:auto;font-size:.9rem}
.wrap{max-width:1100px;margin:0 auto;padding:1.2rem}
h1{font-size:1.8rem;margin:.6rem 0 .3rem;word-break:break-word}
h2{font-size:1.25rem;margin:1.6rem 0 .6rem}
.muted{color:var(--muted)}
.lead{font-size:1.05rem;color:var(--muted);margin:.2rem 0 1rem}
.search{width:100%;padding:.75rem 1rem;font-size:1.05rem;border:1px solid var(--line);border-radius:.6rem;
  background:var(--card);color:var(--fg);outline:none}
.search:focus{border-color:var(--accent);box-shadow:0 0 0 3px var(--accent-bg)}
.count{margin:.6rem 0;font-size:.9rem;color:var(--muted)}
ul.collections{list-style:none;padding:0;margin:0;display:grid;
  grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:.8rem}
ul.collections li{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:.8rem 1rem}
ul.collections li:hover{border-color:var(--accent)}
ul.collections .name{font-weight:600;word-break:break-word}
ul.collections .desc{font-size:.92rem;color:var(--muted);margin:.25rem 0 .4rem;overflow:hidden;
  display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical}
.pill{display:inline-block;font-size:.78rem;padding:.05rem .5rem;border-radius:1rem;
  background:var(--accent-bg);color:var(--accent);margin-right:.3rem}
.empty{padding:2rem;text-align:center;color:var(--muted)}
.card{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:1rem 1.2rem;
  margin:.8rem 0}
table.tags{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);
  border-radius:.6rem;overflow:hidden}
table.tags th,table.tags td{text-align:left;padding:.6rem .7rem;border-bottom:1px solid var(--line);
  vertical-align:top;font-size:.93rem}
table.tags th{background:var(--code);font-weight:600;font-size:.85rem;text-transform:uppercase;
  letter-spacing:.03em;color:var(--muted)}
table.tags tr:last-child td{border-bottom:0}
table.tags tr.meta td{border-bottom:0;padding-bottom:.2rem}
table.tags tr.cmds td{padding-top:0}
table.tags{table-layout:fixed}
table.tags td.nowrap{white-space:nowrap}
table.tags td{overflow-wrap:anywhere}
.tag{font-weight:700;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code,pre,.cmd{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86rem}
code{background:var(--code);padding:.1rem .3rem;border-radius:.25rem}
pre{background:var(--code);padding:.8rem;border-radius:.4rem;overflow:auto}
pre code{background:none;padding:0}
.cmd{display:flex;align-items:stretch;margin:.2rem 0;border:1px solid var(--line);border-radius:.4rem;
  overflow:hidden;background:var(--code)}
.cmd code{flex:1;min-width:0;padding:.35rem .5rem;white-space:nowrap;overflow-x:auto;background:none;
  border-radius:0}
.copy{border:0;border-left:1px solid var(--line);background:var(--card);color:var(--fg);cursor:pointer;
  padding:0 .7rem;font-size:.8rem}
.copy:hover{background:var(--accent-bg);color:var(--accent)}
.copy.done{color:var(--ok)}
.readme{line-height:1.6}
.readme h2,.readme h3{border-bottom:1px solid var(--line);padding-bottom:.2rem}
.api a{margin-right:1rem}
footer{color:var(--muted);font-size:.85rem;padding:2rem 1.2rem;text-align:center}
@media (max-width:700px){table.tags thead{display:none}table.tags td{display:block;
  border:0}table.tags tr{display:block;border-bottom:1px solid var(--line)}}
"""

JS = """
(function(){
  var root=document.body.getAttribute('data-root')||'./';
  var site=document.body.getAttribute('data-site');
  if(!site){site=new URL(root,location.href).href.replace(/\\/$/,'');}
  document.querySelectorAll('[data-cmd]').forEach(function(el){
    el.textContent=el.getAttribute('data-cmd').split('{site}').join(site);
  });
  document.querySelectorAll('button.copy').forEach(function(b){
    b.addEventListener('click',function(){
      var text=b.parentNode.querySelector('code').textContent;
      function ok(){b.textContent='Copied';b.classList.add('done');
        setTimeout(function(){b.textContent='Copy';b.classList.remove('done');},1500);}
      function fallback(){var t=document.createElement('textarea');t.value=text;document.body.appendChild(t);t.select();
        try{document.execCommand('copy');ok();}catch(e){}document.body.removeChild(t);}
      if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(text).then(ok,fallback);}else{fallback();}
    });
  });
  var box=document.getElementById('search');
  if(box){
    var items=Array.prototype.slice.call(document.querySelectorAll('#collections li'));
    var keys=items.map(function(li){return li.getAttribute('data-search');});
    var count=document.getElementById('count'),none=document.getElementById('none');
    var run=function(){
      var terms=box.value.toLowerCase().split(/\\s+/).filter(Boolean),shown=0;
      for(var i=0;i<items.length;i++){
        var hit=terms.every(function(t){return keys[i].indexOf(t)>=0;});
        items[i].hidden=!hit;if(hit)shown++;
      }
      count.textContent=shown+' of '+items.length+' collections';
      none.hidden=shown>0;
      var u=new URL(location.href);if(box.value){u.searchParams.set('q',box.value);}else{u.searchParams.delete('q');}
      history.replaceState(null,'',u);
    };
    box.addEventListener('input',run);
    var q=new URL(location.href).searchParams.get('q');if(q){box.value=q;}
    run();
    document.addEventListener('keydown',function(e){if(e.key==='/'&&document.activeElement!==box){e.preventDefault();box.focus();}});
  }
})();
"""


def _page(title: str, body: str, *, root: str, site: str, brand: str, repository_url: str) -> str:
    repo_link = f'<a href="{_e(repository_url)}">Registry repository</a>' if repository_url else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title>"
        '<link rel="icon" href="data:,">'
        f"<style>{CSS}</style></head>\n"
        f'<body data-root="{_e(root)}" data-site="{_e(site)}">'
        f'<header class="top"><div class="wrap" style="padding-top:.8rem;padding-bottom:.8rem">'
        f'<a class="brand" href="{_e(root)}"><span class="logo"></span>{_e(brand)}</a>'
        f"<nav>{repo_link}</nav></div></header>\n"
        f'<main class="wrap">{body}</main>\n'
        "<footer>A static container registry: the web interface and API are plain files on GitHub Pages, "
        "the images live in object storage.</footer>\n"
        f"<script>{JS}</script></body></html>\n"
    )


def _cmd(command: str) -> str:
    """A copyable command; ``{site}`` is filled in by the browser when the site URL is unknown."""
    return (
        f'<div class="cmd"><code data-cmd="{_e(command)}">{_e(command)}</code>'
        '<button class="copy" type="button" title="Copy to clipboard">Copy</button></div>'
    )


def home_page(collections: list[CollectionSummary], title: str, site: str, repository_url: str) -> str:
    base = site or "{site}"
    items: list[str] = []
    for c in collections:
        updated = c.updated
        search = " ".join([c.name, c.description, *c.tags]).lower()
        tag_word = "tag" if len(c.tags) == 1 else "tags"
        items.append(
            f'<li data-search="{_e(search)}"><a class="name" href="{_e(c.name)}/">{_e(c.name)}</a>'
            f'<div class="desc">{_e(c.description) or "&nbsp;"}</div>'
            f'<span class="pill">{len(c.tags)} {tag_word}</span>'
            + (f'<span class="muted" style="font-size:.8rem">updated {_e(updated)}</span>' if updated else "")
            + "</li>"
        )
    example, example_tag = "owner/repo", "latest"
    for c in collections:
        if c.tags:
            tags = c.tags
            example, example_tag = c.name, "latest" if "latest" in tags else tags[-1]
            break
    body = (
        f"<h1>{_e(title)}</h1>"
        '<p class="lead">Singularity/Apptainer images, built by their own repositories and kept in object storage.</p>'
        '<input id="search" class="search" type="search" '
        'placeholder="Search collections, descriptions and tags  (press /)" '
        'aria-label="Search collections" autocomplete="off">'
        f'<div id="count" class="count">{len(collections)} collections</div>'
        f'<ul id="collections" class="collections">{"".join(items)}</ul>'
        f'<div id="none" class="empty" {"hidden" if collections else ""}>No collection matches.</div>'
        '<h2>Use it</h2><div class="card">'
        "<p>Pull an image (checks its sha256 digest):</p>"
        + _cmd(f"static-registry pull {base}/{example}:{example_tag}")
        + "<p>Or with curl, jq and wget:</p>"
        + _cmd(f"curl -s {base}/{example}/tags/")
        + _cmd(
            f"curl -s {base}/{example}/manifests/{example_tag}/ | jq -r '.layers[0].urls[0]' | xargs wget -O image.sif"
        )
        + '<p class="muted">API: <a href="v2/_catalog.json">v2/_catalog.json</a> lists every collection.</p></div>'
    )
    return _page(title, body, root="./", site=site, brand=title, repository_url=repository_url)


def _recipe_link(m: Manifest) -> str:
    if not m.recipe:
        return ""
    if m.source.startswith("https://") and _safe_href(m.source):
        ref = m.revision or "HEAD"
        url = f"{m.source.rstrip('/')}/blob/{quote(ref, safe='')}/{quote(m.recipe)}"
        return f'<a href="{_e(url)}" rel="nofollow">{_e(m.recipe)}</a>'
    return f"<code>{_e(m.recipe)}</code>"


def collection_page(info: CollectionInfo, site: str, repository_url: str, title: str = "Container registry") -> str:
    ns = info.name
    repo = ns.split("/")[1]
    base = site or "{site}"
    rows: list[str] = []
    for m in info.manifests:
        short = m.digest.split(":", 1)[1][:12]
        url = m.url
        download = (
            f'<a href="{_e(url)}" rel="nofollow">download</a>' if re.match(r"^https?://", url, re.IGNORECASE) else ""
        )
        date = _e(m.created[:10]) if m.created else ""
        rows.append(
            f'<tr class="meta" id="tag-{_e(m.tag)}"><td><span class="tag">{_e(m.tag)}</span>'
            f'<div style="font-size:.8rem"><a href="manifests/{_e(quote(m.tag))}/">manifest</a> {download}</div></td>'
            f'<td><code title="{_e(m.digest)}">{_e(short)}</code></td>'
            f'<td class="nowrap" title="{m.size} bytes">{_e(human_size(m.size))}</td>'
            f'<td class="nowrap" title="{_e(m.created)}">{date}</td>'
            f"<td>{_recipe_link(m)}</td></tr>"
            '<tr class="cmds"><td colspan="5">'
            + _cmd(f"static-registry pull {base}/{ns}:{m.tag}")
            + _cmd(
                f"curl -s {base}/{ns}/manifests/{m.tag}/ | jq -r '.layers[0].urls[0]' "
                f"| xargs wget -O {repo}_{m.tag}.sif"
            )
            + "</td></tr>"
        )
    if rows:
        table = (
            '<table class="tags"><thead><tr><th style="width:24%">Tag</th><th style="width:18%">Digest</th>'
            '<th style="width:13%">Size</th><th style="width:14%">Date</th>'
            f"<th>Recipe</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    else:
        table = '<div class="card empty">This collection has no tags yet.</div>'
    readme = markdown_to_html(info.body) if info.body.strip() else ""
    source = ""
    if repository_url:
        source = f' <a href="{_e(repository_url)}/tree/HEAD/{_e(ns)}">files</a>'
    body = (
        '<div class="muted" style="font-size:.9rem"><a href="../../">All collections</a> / '
        f"{_e(ns.split('/')[0])}</div>"
        f"<h1>{_e(ns)}</h1>"
        + (f'<p class="lead">{_e(info.description)}</p>' if info.description else "")
        + f'<h2>Tags <span class="pill">{len(info.manifests)}</span></h2>{table}'
        + (f'<h2>About</h2><div class="card readme">{readme}</div>' if readme else "")
        + '<h2>API</h2><div class="card api">'
        f'<a href="tags/">tags/</a><a href="tags/index.json">tags/index.json</a>'
        f'<a href="../../v2/{_e(ns)}/tags/list">v2/{_e(ns)}/tags/list</a>{source}'
        + _cmd(f"curl -s {base}/{ns}/tags/")
        + "</div>"
    )
    return _page(f"{ns} · {title}", body, root="../../", site=site, brand=title, repository_url=repository_url)


def not_found_page(title: str, site: str) -> str:
    home = f"{site}/" if site else "/"
    body = (
        '<h1>Not found</h1><p class="lead">There is no page, collection or tag here.</p>'
        f'<p><a href="{_e(home)}">Back to the registry</a></p>'
    )
    return _page(f"Not found · {title}", body, root=home, site=site, brand=title, repository_url="")
