"""What people read: the commit message, the pull request, the job summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .documents import CollectionPaths, Manifest
from .errors import UserError
from .model import StoredImage
from .publish import TagChanges, Texts
from .render import human_size


def md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _summary_line(changes: TagChanges) -> str:
    parts = []
    for verb, tags in (("add", changes.added), ("update", changes.updated), ("remove", changes.removed)):
        if tags:
            parts.append(f"{verb} {', '.join(tags)}")
    return "; ".join(parts) or "no tag changes"


def compose(
    collection: str,
    worktree: Path,
    changes: TagChanges,
    source_url: str,
    revision: str,
    run_url: str,
    title: str = "",
    commit_message: str = "",
) -> Texts:
    line = _summary_line(changes)
    subject = commit_message or f"{collection}: {line}"
    details = []
    for verb, tags in (("added", changes.added), ("updated", changes.updated), ("removed", changes.removed)):
        details += [f"- {verb} {tag}" for tag in tags]
    trailer = [f"Source: {source_url}" + (f" @ {revision}" if revision else "")]
    if run_url:
        trailer.append(f"Run: {run_url}")
    message = subject if commit_message else "\n".join([subject, "", *details, "", *trailer])

    rows = []
    paths = CollectionPaths(collection)
    for change, tags in (("added", changes.added), ("updated", changes.updated)):
        for tag in tags:
            try:
                m = Manifest.from_markdown(
                    (worktree / paths.manifest(tag)).read_text(encoding="utf-8"),
                    collection,
                    tag,
                    str(paths.manifest(tag)),
                )
            except (OSError, UserError):
                rows.append(f"| `{tag}` | {change} | | | | |")
                continue
            rows.append(
                f"| `{md_cell(tag)}` | {change} | `{m.digest[:19]}…` | {human_size(m.size)} ({m.size} bytes) "
                f"| `{md_cell(m.recipe)}` | `{m.revision[:12]}` |"
            )
    rows += [f"| `{md_cell(tag)}` | removed | | | | |" for tag in changes.removed]
    body = "\n".join(
        [
            f"Container images of [{collection}]({source_url}) built from `{revision[:12] or 'the working tree'}`.",
            "",
            "| tag | change | digest | size | recipe | source commit |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            (f"Workflow run: {run_url}" if run_url else ""),
            "",
            "<sub>Opened by static-registry. Merging publishes these tags; the images are already in storage.</sub>",
        ]
    )
    return Texts(message, title or f"Update {collection}: {line}", body)


def summary_table(
    collection: str, stored: Sequence[StoredImage], removed: Sequence[str], outputs: Mapping[str, str]
) -> str:
    lines = [f"### static-registry: {collection}", ""]
    if stored or removed:
        lines += ["| tag | digest | size | recipe | URL |", "| --- | --- | --- | --- | --- |"]
        for s in stored:
            lines.append(
                f"| `{md_cell(s.image.tag)}` | `{s.image.digest[:19]}…` | {human_size(s.image.size)} "
                f"| `{md_cell(s.image.recipe.path.as_posix())}` | {md_cell(s.url) or '(not stored)'} |"
            )
        lines += [f"| `{md_cell(t)}` | removed | | | |" for t in removed]
    else:
        lines.append("No recipe changed: nothing was built.")
    op = outputs.get("pull-request-operation", "none")
    url = outputs.get("pull-request-url", "")
    lines += ["", f"Pull request: {op}" + (f" — {url}" if url else "")]
    return "\n".join(lines) + "\n"
