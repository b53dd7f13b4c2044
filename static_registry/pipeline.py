"""The publish pipeline: discover → build → store → describe → publish.

The one function both the CLI and the action call. Nothing reaches the registry unless
every selected recipe built and every image is verified in storage.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import changes as change_detection
from .build import describe_image, find_engine, parse_images, select_builder
from .documents import Layer, Manifest, collection_name, describe_readme, write_collection
from .errors import BuildError, UserError
from .messages import compose, summary_table
from .model import Image, Recipe, StoredImage
from .options import PublishOptions
from .publish import Identity, Publisher, PublishRequest, PublishResult, Registry, TagChanges, Texts
from .recipes import check_recipe, discover
from .runner import Runner
from .storage import StorageContext, open_storage


@dataclass(frozen=True)
class Event:
    """The GitHub event that started the run (or the CLI's stand-in for one)."""

    name: str = ""
    payload: Mapping[str, Any] | None = None
    since: str = ""
    """CLI ``--since REV``: build what changed from REV to HEAD."""

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Event:
        name = env.get("GITHUB_EVENT_NAME", "")
        path = env.get("GITHUB_EVENT_PATH", "")
        payload: dict[str, Any] = {}
        if path:
            try:
                payload = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise UserError(f"The event file GITHUB_EVENT_PATH={path} cannot be read as JSON ({e}).") from e
        return cls(name, payload)


def _changes(options: PublishOptions, event: Event) -> change_detection.Changes:
    revision = options.env.get("GITHUB_SHA", "")
    if options.build_all:
        return change_detection.Changes(
            True,
            "build-all: building every recipe",
            revision=revision or change_detection.head_revision(options.workspace),
        )
    if event.since:
        return change_detection.since(options.workspace, event.since)
    return change_detection.from_event(event.name, event.payload or {}, options.workspace, revision)


def _check(options: PublishOptions, recipes: list[Recipe], runner: Runner) -> None:
    """Every selected recipe parses, before any build starts; all problems reported at once."""
    errors = []
    for recipe in recipes:
        try:
            check_recipe(options.workspace, recipe)
        except UserError as e:
            errors.append(e)
    for problem in errors[:-1]:
        runner.error(problem.message, file=problem.file, line=problem.line)
    if errors:
        raise errors[-1]


def _build(options: PublishOptions, recipes: list[Recipe], out: Path, runner: Runner) -> list[Image]:
    builder = select_builder(
        options.builder, options.build_options, parse_images(options.images, options.workspace), log=runner.log
    )
    engine = find_engine()
    images: list[Image] = []
    failures: list[BuildError] = []
    for recipe in recipes:
        sif = out / f"{recipe.tag}.sif"
        with runner.group(f"Build {recipe.path} → tag {recipe.tag} ({builder.mode})"):
            try:
                builder.build(recipe, options.workspace, sif, runner.log)
            except BuildError as e:
                failures.append(e)
                continue
            image = describe_image(recipe, sif, engine)
            runner.info(f"{image.digest}  {image.size} bytes")
        images.append(image)
    for failure in failures[:-1]:
        runner.error(failure.message, file=failure.file, line=failure.line)
    if failures:
        others = len(failures) - 1
        raise BuildError(
            failures[-1].message
            + (f" ({others} other recipe(s) failed too.)" if others else "")
            + " Nothing was published.",
            file=failures[-1].file,
            line=failures[-1].line,
        )
    return images


def _store(options: PublishOptions, collection: str, images: list[Image], runner: Runner) -> list[StoredImage]:
    context = StorageContext(
        repository=options.repository,
        workspace=options.workspace,
        github_api_url=options.api_url,
        github_token=options.github_token,
        interactive=not runner.github and sys.stderr.isatty(),
    )
    storage = open_storage(options.storage, options.storage_settings, context)
    stored = []
    with runner.group(f"Store {len(images)} image(s) in {options.storage}: {storage.describe()}"):
        for image in images:
            obj = storage.store(image.path, image.sha256, image.size, collection)
            runner.info(f"{image.tag}: {'uploaded' if obj.uploaded else 'already there'} → {obj.url}")
            stored.append(StoredImage(image, obj.url, obj.key, obj.uploaded))
    return stored


def _manifest(collection: str, s: StoredImage, source: str, revision: str, run_url: str) -> Manifest:
    labels = s.image.labels
    created = datetime.fromtimestamp(s.image.path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Manifest(
        collection=collection,
        tag=s.image.tag,
        size=s.image.size,
        digest=s.image.digest,
        layers=(Layer(s.image.size, s.image.digest, s.url),),
        created=created,
        recipe=s.image.recipe.path.as_posix(),
        source=source,
        revision=revision,
        run_url=run_url,
        apptainer_version=labels.get(
            "org.label-schema.usage.apptainer.version", labels.get("org.label-schema.usage.singularity.version", "")
        ),
        labels=labels,
    )


def _readme(workspace: Path, repository: str) -> tuple[str, str]:
    for name in ("README.md", "README", "readme.md", "README.rst"):
        path = workspace / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            return describe_readme(text, f"Containers built from {repository}"), "\n" + text.strip() + "\n"
    return f"Containers built from {repository}", ""


def run_publish(options: PublishOptions, event: Event, runner: Runner) -> dict[str, str]:
    """Run the pipeline; returns the outputs (also written through ``runner``)."""
    collection = collection_name(options.repository)
    source = f"{options.server_url}/{options.repository}"
    run_id = options.env.get("GITHUB_RUN_ID", "")
    run_url = f"{source}/actions/runs/{run_id}" if run_id else ""
    branch = f"{options.branch_prefix}{collection}"
    registry = Registry.parse(options.registry, options.server_url, options.workspace)
    committer = Identity.parse(options.committer, "committer")
    author = Identity.parse(options.author, "author")

    recipes = discover(options.workspace, options.recipes)
    changes = _changes(options, event)
    selected = changes.selected(recipes)
    removed = changes.removed_tags(recipes)
    runner.info(f"collection {collection}: {len(recipes)} recipe(s); {changes.reason}")
    for recipe in selected:
        runner.info(f"  will build {recipe.path} → {collection}:{recipe.tag}")
    for tag in removed:
        runner.info(f"  will remove tag {tag} (its recipe was deleted)")
    _check(options, selected, runner)
    publisher = None
    if changes.publish and not options.dry_run and (selected or removed):
        publisher = Publisher(_request(options, registry, collection, branch, committer, author), runner.info)
        publisher.preflight()

    outputs = {
        "images": "[]",
        "pull-request-number": "",
        "pull-request-url": "",
        "pull-request-operation": "none",
        "branch": branch,
    }
    stored: list[StoredImage] = []
    work = Path(tempfile.mkdtemp(prefix="static-registry-build-", dir=options.env.get("RUNNER_TEMP") or None))
    try:
        images = _build(options, selected, work, runner) if selected else []
        publish = changes.publish and not options.dry_run
        if not publish:
            why = "dry-run" if options.dry_run else "pull request event"
            runner.info(f"{why}: built and checked {len(images)} image(s); nothing stored or published")
            outputs["images"] = json.dumps([StoredImage(i, "", "", False).to_json(collection) for i in images])
            return _finish(runner, outputs, collection, [], removed)
        if not images and not removed:
            runner.info("no recipe changed: nothing to build or publish")
            return _finish(runner, outputs, collection, [], removed)
        stored = _store(options, collection, images, runner) if images else []
        outputs["images"] = json.dumps([s.to_json(collection) for s in stored])
        description, readme_body = _readme(options.workspace, options.repository)
        manifests = [_manifest(collection, s, source, changes.revision, run_url) for s in stored]

        def apply(tree: Path) -> None:
            write_collection(tree, collection, manifests, removed, description, readme_body)

        def texts(tree: Path, tag_changes: TagChanges) -> Texts:
            return compose(
                collection, tree, tag_changes, source, changes.revision, run_url, options.title, options.commit_message
            )

        assert publisher is not None
        with runner.group(f"Publish to {registry.name} on {branch}"):
            result = publisher.publish(apply, texts)
        _result_outputs(outputs, result)
        if result.note:
            runner.info(result.note)
        return _finish(runner, outputs, collection, stored, removed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _request(
    options: PublishOptions, registry: Registry, collection: str, branch: str, committer: Identity, author: Identity
) -> PublishRequest:
    return PublishRequest(
        registry=registry,
        collection=collection,
        branch=branch,
        base=options.base,
        token=options.token,
        api_url=options.api_url,
        committer=committer,
        author=author,
        push_to_fork=options.push_to_fork,
        draft=options.draft,
        labels=options.labels,
    )


def _result_outputs(outputs: dict[str, str], result: PublishResult) -> None:
    outputs["pull-request-operation"] = result.operation
    outputs["pull-request-number"] = str(result.number or "")
    outputs["pull-request-url"] = result.url


def _finish(
    runner: Runner, outputs: dict[str, str], collection: str, stored: list[StoredImage], removed: list[str]
) -> dict[str, str]:
    for name, value in outputs.items():
        runner.set_output(name, value)
    runner.summary(summary_table(collection, stored, removed, outputs))
    if outputs["pull-request-url"]:
        runner.info(f"pull request {outputs['pull-request-operation']}: {outputs['pull-request-url']}")
    return outputs
