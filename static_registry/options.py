"""Inputs, read once into typed options with one precise error each.

The action's ``with:`` inputs and the CLI's ``--options`` are the same table, so every
feature is reachable from both with the same name.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .storage import all_settings

BOT = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"


@dataclass(frozen=True)
class Input:
    name: str
    help: str
    default: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()
    secret: bool = False
    boolean: bool = False
    action_default: str | None = None
    """The default written in action.yml when it differs (e.g. ``${{ github.token }}``)."""


PUBLISH_INPUTS: tuple[Input, ...] = (
    Input(
        "registry",
        "The registry repository: owner/repo on GitHub, or the path of a local git repository.",
        required=True,
    ),
    Input(
        "token",
        "Token that can push branches to the registry and open pull requests there (a fine-grained PAT or GitHub App token; the container repository's GITHUB_TOKEN cannot).",
        secret=True,
        action_default="${{ github.token }}",
    ),
    Input(
        "repository",
        "The container repository, owner/repo; its lower-cased name is the collection. Default: GITHUB_REPOSITORY, or the 'origin' remote of 'path'.",
    ),
    Input("path", "The checkout to work on: the container repository (publish) or the registry repository (verify, render). Default: GITHUB_WORKSPACE, or the current folder."),
    Input(
        "recipes",
        "Globs (one per line or comma-separated, '!glob' excludes) that replace the standard recipe search (Singularity, Singularity.<tag>, Apptainer*).",
    ),
    Input("build-all", "Build every recipe, whatever changed.", "false", boolean=True),
    Input(
        "builder",
        "Where recipes are built: auto, in-place, docker (a sibling privileged container through /var/run/docker.sock) or none (publish 'images').",
        "auto",
        choices=("auto", "in-place", "docker", "none"),
    ),
    Input(
        "build-options",
        "Extra options for 'apptainer build', e.g. --fakeroot (on the command line: --build-options=--fakeroot).",
    ),
    Input("images", "With builder: none, the SIF files built by earlier steps: one '<tag>=<path>' per line."),
    Input("storage", "Object storage backend: file, s3, gcs or github-release.", "file"),
    Input(
        "base",
        "publish: the registry's branch that pull requests target (default: its default branch); verify: the revision to compare with.",
    ),
    Input("branch-prefix", "Prefix of the update branch; the branch is <prefix><owner>/<repo>.", "update/"),
    Input(
        "push-to-fork",
        "Push the update branch to this fork (owner/repo) of the registry and open the pull request from there.",
    ),
    Input("title", "Pull request title. Default: says which tags changed."),
    Input("commit-message", "Commit message. Default: lists the tags added, updated and removed."),
    Input("committer", "Committer of the registry commit, 'Name <email>'.", BOT),
    Input("author", "Author of the registry commit, 'Name <email>'. Default: the committer."),
    Input("labels", "Labels for a new pull request (comma or newline separated)."),
    Input("draft", "Open new pull requests as drafts.", "false", boolean=True),
    Input("dry-run", "Build and check only: nothing is stored or published.", "false", boolean=True),
    Input(
        "github-api-url",
        "GitHub REST API URL (GitHub Enterprise Server: https://HOST/api/v3). Default: GITHUB_API_URL.",
    ),
    Input(
        "github-server-url",
        "GitHub web URL that serves git (GitHub Enterprise Server: https://HOST). Default: GITHUB_SERVER_URL.",
    ),
    Input(
        "github-token",
        "Token for the container repository itself (storage: github-release).",
        secret=True,
        action_default="${{ github.token }}",
    ),
)


OUTPUTS: tuple[tuple[str, str], ...] = (
    ("images", "JSON list of the images published: collection, tag, digest, size, url, recipe."),
    ("pull-request-number", "Number of the registry pull request created or updated."),
    ("pull-request-url", "URL of that pull request."),
    ("pull-request-operation", "created, updated or none."),
    ("branch", "The update branch in the registry repository."),
    ("site", "render: the folder that holds the rendered site."),
)

COMMAND_INPUT = Input(
    "command",
    "What to do: publish (container repositories), verify (registry pull requests) or render (the registry's site).",
    "publish",
    choices=("publish", "verify", "render"),
)


def storage_inputs() -> tuple[Input, ...]:
    return tuple(Input(s.name, s.help, s.default) for s in all_settings())


def parse_bool(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "yes", "1", "on"):
        return True
    if v in ("false", "no", "0", "off", ""):
        return False
    raise UserError(f"Input '{name}' is '{value}'; write true or false.")


def split_list(value: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in re.split(r"[\n,]+", value) if x.strip())


def repository_from_git(path: Path) -> str:
    """owner/repo from the checkout's ``origin`` remote, for runs outside GitHub."""
    try:
        url = subprocess.run(
            ["git", "-C", str(path), "remote", "get-url", "origin"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    m = re.search(r"[:/]([^/:]+)/([^/]+?)(?:\.git)?/?$", url)
    return f"{m.group(1)}/{m.group(2)}" if m else ""


@dataclass(frozen=True)
class PublishOptions:
    registry: str
    token: str
    repository: str
    workspace: Path
    recipes: tuple[str, ...]
    build_all: bool
    builder: str
    build_options: tuple[str, ...]
    images: str
    storage: str
    storage_settings: Mapping[str, str]
    base: str
    branch_prefix: str
    push_to_fork: str
    title: str
    commit_message: str
    committer: str
    author: str
    labels: tuple[str, ...]
    draft: bool
    dry_run: bool
    api_url: str
    server_url: str
    github_token: str
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_inputs(cls, raw: Mapping[str, str], env: Mapping[str, str] | None = None) -> PublishOptions:
        env = os.environ if env is None else env
        known = {i.name: i for i in (*PUBLISH_INPUTS, *storage_inputs())}
        values = {name: (raw.get(name) if raw.get(name) is not None else i.default) or "" for name, i in known.items()}
        for i in known.values():
            value = values[i.name].strip()
            if i.required and not value:
                raise UserError(f"Input '{i.name}' is required: {i.help}")
            if i.choices and value not in i.choices:
                raise UserError(f"Input '{i.name}' is '{value}'; use one of {', '.join(i.choices)}.")
        workspace = Path(values["path"] or env.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
        if not workspace.is_dir():
            raise UserError(
                f"Input 'path' is {workspace}, which is not a folder; point it at the container repository's checkout."
            )
        repository = values["repository"] or env.get("GITHUB_REPOSITORY", "") or repository_from_git(workspace)
        if not repository:
            raise UserError(
                "Input 'repository' is not set and cannot be derived (no GITHUB_REPOSITORY, no 'origin' remote); set it to owner/repo."
            )
        committer = values["committer"] or BOT
        actor = env.get("GITHUB_ACTOR", "")
        actor_id = env.get("GITHUB_ACTOR_ID", "")
        author = values["author"] or (
            f"{actor} <{actor_id}+{actor}@users.noreply.github.com>" if actor and actor_id else committer
        )
        settings = {s.name: values.get(s.name, s.default) for s in storage_inputs()}
        return cls(
            registry=values["registry"].strip(),
            token=values["token"].strip(),
            repository=repository.strip(),
            workspace=workspace,
            recipes=split_list(values["recipes"]),
            build_all=parse_bool("build-all", values["build-all"]),
            builder=values["builder"].strip(),
            build_options=tuple(values["build-options"].split()),
            images=values["images"],
            storage=values["storage"].strip(),
            storage_settings=settings,
            base=values["base"].strip(),
            branch_prefix=values["branch-prefix"].strip(),
            push_to_fork=values["push-to-fork"].strip(),
            title=values["title"].strip(),
            commit_message=values["commit-message"].strip(),
            committer=committer,
            author=author,
            labels=split_list(values["labels"]),
            draft=parse_bool("draft", values["draft"]),
            dry_run=parse_bool("dry-run", values["dry-run"]),
            api_url=(values["github-api-url"] or env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            server_url=(values["github-server-url"] or env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip(
                "/"
            ),
            github_token=values["github-token"].strip() or env.get("GITHUB_TOKEN", ""),
            env=dict(env),
        )


REGISTRY_INPUTS: tuple[Input, ...] = (
    Input("output", "render: the folder that receives the site (for actions/upload-pages-artifact).", "_site"),
    Input(
        "site-url",
        "render: the site's public URL, used in the copyable commands. Default: https://<owner>.github.io/<repo>.",
    ),
    Input("site-title", "render: the site's title. Default: '<owner>/<repo> container registry'."),
    Input(
        "allowed-hosts",
        "verify: hosts image URLs may use (space or comma separated, *.example.org allowed); empty: any host.",
    ),
    Input(
        "allow-paths",
        "verify: globs of paths outside collections that pull requests may change (site files, workflows).",
    ),
    Input("allow-http", "verify: accept http:// image URLs (test registries only).", "false", boolean=True),
    Input("max-parallel", "verify: downloads checked at once.", "4"),
    Input(
        "pull-request", "verify: the pull request number to check through the API. Default: the pull_request event's."
    ),
    Input("head", "verify: the revision to check against 'base'. Default: the pull_request event's head."),
)
"""Inputs of the registry side: ``verify`` and ``render`` (``path`` is the registry checkout)."""


def _unique(*groups: tuple[Input, ...]) -> tuple[Input, ...]:
    seen: dict[str, Input] = {}
    for group in groups:
        for i in group:
            seen.setdefault(i.name, i)
    return tuple(seen.values())


ACTION_INPUTS: tuple[Input, ...] = _unique((COMMAND_INPUT,), PUBLISH_INPUTS, storage_inputs(), REGISTRY_INPUTS)
"""Every input of action.yml, in its order."""
