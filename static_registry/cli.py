"""``static-registry``: everything the action does, from any shell.

Options carry the action inputs' names (``with: build-options`` ↔ ``--build-options``), so
a workflow translates to GitLab CI, a laptop or a cluster login node line by line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import __version__, commands
from .errors import UserError
from .options import ACTION_INPUTS, PUBLISH_INPUTS, Input, storage_inputs
from .pipeline import Event
from .pull import pull
from .recipes import check_recipe, discover, parse_patterns
from .runner import Runner

TOKEN_ENV = ("STATIC_REGISTRY_TOKEN", "GITHUB_TOKEN")

DESCRIPTION = """\
A container registry with no server. 'publish' builds the Singularity/Apptainer recipes
of a container repository that changed, stores the images in object storage (a folder,
S3, Google Cloud Storage or GitHub release assets) and proposes the manifests to a
registry repository as one pull request per container repository.
"""

EPILOG = """\
examples:
  static-registry recipes                       list recipes and their tags
  static-registry publish --registry ../registry --build-all
                                                build everything, publish to a local git registry
  static-registry publish --registry myorg/registry --storage s3 --bucket my-sifs --since HEAD~1
  STATIC_REGISTRY_TOKEN=... static-registry publish --registry myorg/registry

Tokens are read from STATIC_REGISTRY_TOKEN or GITHUB_TOKEN (never pass them in argv).
"""


def _add_inputs(parser: argparse._ActionsContainer, inputs: Sequence[Input]) -> None:
    for i in inputs:
        if i.secret:
            continue  # secrets come from the environment, never argv (visible in ps)
        default = f" (default: {i.default})" if i.default else ""
        if i.boolean:
            parser.add_argument(f"--{i.name}", dest=i.name, action="store_const", const="true", help=i.help + default)
        else:
            parser.add_argument(
                f"--{i.name}", dest=i.name, metavar=i.name.upper().replace("-", "_"), help=i.help + default
            )


def _inputs(*names: str) -> list[Input]:
    table = {i.name: i for i in ACTION_INPUTS}
    return [table[n] for n in names]


VERIFY_OPTIONS = ("path", "base", "head", "pull-request", "repository", "branch-prefix", "allowed-hosts",
                  "allow-paths", "allow-http", "max-parallel", "github-api-url")  # fmt: skip
RENDER_OPTIONS = ("path", "output", "site-url", "site-title")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="static-registry",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"static-registry {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    publish = sub.add_parser(
        "publish",
        help="build changed recipes, store the images, open or update the registry pull request",
        description="Build the recipes that changed, store the images and propose their manifests to the registry.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_inputs(publish, PUBLISH_INPUTS)
    storage = publish.add_argument_group("storage backends")
    _add_inputs(storage, storage_inputs())
    publish.add_argument(
        "--since",
        metavar="REV",
        help="build the recipes changed between REV and HEAD (default: all, or what the GitHub event says)",
    )
    publish.add_argument("--json", action="store_true", help="print the outputs as one JSON object on stdout")

    verify = sub.add_parser(
        "verify",
        help="check a registry pull request: paths, front matter, and every image's size and sha256",
        description="Check the changes of a registry pull request (base..head, or a pull request number through "
        "the API) and download every image they name to check its size and sha256.",
    )
    _add_inputs(verify, _inputs(*VERIFY_OPTIONS))
    render = sub.add_parser(
        "render",
        help="render the registry repository into a static site and API for GitHub Pages",
        description="Render the registry repository (--path) into a static site folder (--output).",
    )
    _add_inputs(render, _inputs(*RENDER_OPTIONS))
    render.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    pull_cmd = sub.add_parser(
        "pull",
        help="download an image through a registry's static API and verify its digest",
        description="Resolve <site>/<owner>/<repo>[:<tag>] (tag default: latest) or a manifest URL, download the "
        "image from the first working URL, check its size and sha256, and write it.",
    )
    pull_cmd.add_argument(
        "reference", help="<site>/<owner>/<repo>[:<tag>], e.g. https://myorg.github.io/registry/myorg/hello:latest"
    )
    pull_cmd.add_argument("-o", "--output", help="file or folder to write (default: <repo>_<tag>.sif here)")
    pull_cmd.add_argument(
        "--timeout", type=float, default=60.0, help="seconds without data before a download fails (default: 60)"
    )
    pull_cmd.add_argument("--retries", type=int, default=3, help="retries of transient errors (default: 3)")
    pull_cmd.add_argument("--no-progress", action="store_true", help="no progress bar")

    recipes = sub.add_parser("recipes", help="list the recipes of a container repository and the tags they build")
    recipes.add_argument("--path", default=".", help="the container repository (default: .)")
    recipes.add_argument("--recipes", default="", help="globs that replace the standard search")
    recipes.add_argument("--check", action="store_true", help="also parse each recipe and report broken headers")
    recipes.add_argument("--json", action="store_true", help="print JSON")
    return parser


def raw_inputs(namespace: argparse.Namespace, env: Mapping[str, str]) -> dict[str, str]:
    raw = {k: v for k, v in vars(namespace).items() if isinstance(v, str) and k not in ("command",)}
    token = next((env[k] for k in TOKEN_ENV if env.get(k)), "")
    raw.setdefault("token", token)
    raw.setdefault("github-token", env.get("GITHUB_TOKEN", token))
    return raw


def fail(runner: Runner, e: UserError) -> int:
    runner.error(e.message, file=e.file, line=e.line)
    if e.details:
        runner.summary(e.details)
    runner.summary(f"### static-registry failed\n\n{e.message}\n")
    return 1


def _recipes(args: argparse.Namespace) -> int:
    root = Path(args.path).resolve()
    found = discover(root, parse_patterns(args.recipes))
    if args.check:
        for recipe in found:
            check_recipe(root, recipe)
    if args.json:
        print(json.dumps([{"path": r.path.as_posix(), "tag": r.tag} for r in found], indent=2))
    else:
        for r in found:
            print(f"{r.tag}\t{r.path.as_posix()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = dict(os.environ)
    runner = Runner.from_environment()
    try:
        if args.command == "recipes":
            return _recipes(args)
        if args.command == "publish":
            if args.json:
                runner.log = sys.stderr  # keep stdout for the JSON document
            event = Event(since=args.since) if args.since else Event.from_environment(env)
            outputs = commands.publish(raw_inputs(args, env), event, runner, env)
            if args.json:
                print(json.dumps({**outputs, "images": json.loads(outputs["images"])}, indent=2))
            return 0
        if args.command == "verify":
            event = Event() if args.base or args.head or vars(args).get("pull-request") else Event.from_environment(env)
            return 0 if commands.verify(raw_inputs(args, env), event, runner, env) else 1
        if args.command == "render":
            if args.json:
                runner.log = sys.stderr
            summary = commands.render_site(raw_inputs(args, env), runner, env)
            if args.json:
                print(json.dumps(summary, indent=2))
            return 0
        if args.command == "pull":
            result = pull(
                args.reference,
                Path(args.output) if args.output else None,
                timeout=args.timeout,
                retries=args.retries,
                progress=False if args.no_progress else None,
            )
            print(f"{result.path}  {result.digest}  {result.size} bytes")
            return 0
    except UserError as e:
        return fail(runner, e)
    except KeyboardInterrupt:
        runner.error("Interrupted; nothing further was published.")
        return 130
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
