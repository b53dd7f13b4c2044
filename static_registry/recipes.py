"""Discover: the recipes of a container repository and the tags they build.

Singularity Hub's rules: a file named ``Singularity`` or ``Singularity.<tag>`` (or
``Apptainer``/``Apptainer.<tag>``) anywhere in the repository, except under ``.git`` or a
folder holding a ``.frozen`` file. The tag is everything after the first dot of the name;
no dot means ``latest``; the folder does not change the tag.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from spython.logger import bot as spython_log
from spython.main.parse.parsers.singularity import SingularityParser

from .documents import TAG_RE
from .errors import UserError
from .model import Recipe

RECIPE_NAMES = ("Singularity", "Apptainer")
FROZEN_MARKER = ".frozen"

BOOTSTRAP_AGENTS = {
    "library", "docker", "docker-archive", "docker-daemon", "oci", "oci-archive", "shub",
    "oras", "localimage", "scratch", "debootstrap", "yum", "dnf", "zypper", "arch", "busybox",
}  # fmt: skip
NEEDS_FROM = {
    "library",
    "docker",
    "docker-archive",
    "docker-daemon",
    "oci",
    "oci-archive",
    "shub",
    "oras",
    "localimage",
}
SECTIONS = {
    "setup", "files", "environment", "post", "runscript", "startscript", "test", "labels",
    "help", "arguments", "pre", "appinstall", "appenv", "apprun", "applabels", "appfiles",
    "apphelp", "apptest", "appstart",
}  # fmt: skip
_HEADER_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\s*:\s*(.*)$")


def tag_of(name: str) -> str | None:
    """The tag a recipe file name builds, or None when the name is not a recipe's."""
    for base in RECIPE_NAMES:
        if name == base:
            return "latest"
        if name.startswith(base + "."):
            return name[len(base) + 1 :]
    return None


def _tag_for(path: PurePosixPath, widened: bool) -> str | None:
    tag = tag_of(path.name)
    if tag is None and widened:
        # A file brought in by the ``recipes`` input without a Singularity-style name
        # (``envs/python.def``) is tagged by its name up to the first dot.
        tag = path.name.split(".", 1)[0]
    return tag


def _check_tag(tag: str, path: PurePosixPath) -> None:
    if not TAG_RE.match(tag):
        raise UserError(
            f"Recipe {path} maps to tag '{tag}', which is not a valid tag (letters, digits, "
            "'_', '.', '-', at most 128, not starting with '.' or '-'); rename the file.",
            file=str(path),
        )


def _walk(root: Path) -> Iterable[PurePosixPath]:
    """Files under ``root`` as relative paths, skipping .git, frozen folders and symlinked folders."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if FROZEN_MARKER in files:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if d != ".git" and not (here / d).is_symlink())
        rel = here.relative_to(root)
        for name in sorted(files):
            yield PurePosixPath(rel.as_posix()) / name if rel.parts else PurePosixPath(name)


def parse_patterns(text: str) -> list[str]:
    """Input ``recipes``: globs separated by newlines or commas; ``!glob`` excludes."""
    return [p.strip() for p in text.replace(",", "\n").splitlines() if p.strip() and not p.strip().startswith("#")]


def _matches(path: PurePosixPath, pattern: str) -> bool:
    p = pattern.lstrip("./") if pattern.startswith("./") else pattern
    if fnmatch.fnmatchcase(path.as_posix(), p):
        return True
    # ``**/`` also matches no folder at all, as in git and most CI tools.
    return p.startswith("**/") and fnmatch.fnmatchcase(path.as_posix(), p[3:])


def discover(root: Path, patterns: Sequence[str] = ()) -> list[Recipe]:
    """All recipes of the repository at ``root``, sorted by path, tags checked for clashes."""
    include = [p for p in patterns if not p.startswith("!")]
    exclude = [p[1:] for p in patterns if p.startswith("!")]
    found: dict[str, PurePosixPath] = {}
    recipes: list[Recipe] = []
    for path in _walk(root):
        if include:
            if not any(_matches(path, p) for p in include):
                continue
            widened = True
        else:
            widened = False
        if any(_matches(path, p) for p in exclude):
            continue
        tag = _tag_for(path, widened)
        if tag is None:
            continue
        full = root / path
        if full.is_symlink() and not full.resolve().is_relative_to(root.resolve()):
            raise UserError(
                f"Recipe {path} is a symbolic link to a file outside the repository; replace it by the file itself.",
                file=str(path),
            )
        _check_tag(tag, path)
        if tag in found:
            raise UserError(
                f"Recipes {found[tag]} and {path} both build tag '{tag}'; rename one of them "
                "(the tag is the part of the file name after 'Singularity.').",
                file=str(path),
            )
        found[tag] = path
        recipes.append(Recipe(Path(path), tag))
    return recipes


# ---------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class RecipeInfo:
    bootstrap: str
    source: str
    """The ``From:`` header, when the agent takes one."""


class _Parser(SingularityParser):  # type: ignore[misc]
    """spython's parser, accepting every bootstrap agent Apptainer knows (it only knows docker)."""

    def _check_bootstrap(self, line: str) -> None:
        return None


def check_recipe(root: Path, recipe: Recipe) -> RecipeInfo:
    """Read a recipe's header and sections; a broken one is an error with file and line.

    Runs before any build so a typo costs seconds, not a build slot.
    """
    path = recipe.path.as_posix()
    try:
        text = (root / recipe.path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"Recipe {path} is not UTF-8 text; save it as UTF-8.", file=path) from e
    except OSError as e:
        raise UserError(f"Recipe {path} cannot be read: {e.strerror}.", file=path) from e

    header: dict[str, tuple[str, int]] = {}
    in_header = True
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("%"):
            in_header = False
            name = line[1:].split(None, 1)[0].lower() if len(line) > 1 else ""
            if name not in SECTIONS:
                raise UserError(
                    f"{path}:{number}: unknown section '%{name}'; sections are "
                    + ", ".join(f"%{s}" for s in sorted(SECTIONS - {"pre"}))
                    + ".",
                    file=path,
                    line=number,
                )
            continue
        if not in_header:
            if not re.match(r"(?i)^bootstrap\s*:", line):
                continue
            in_header = True  # a Bootstrap line after sections starts the next stage
        m = _HEADER_RE.match(line)
        if not m:
            raise UserError(
                f"{path}:{number}: '{line[:60]}' is not a 'Keyword: value' header line; the "
                "header (before the first %section) may only hold such lines and comments.",
                file=path,
                line=number,
            )
        key = m.group(1).lower()
        if key == "bootstrap":
            header = {}  # each stage has a header of its own
        header[key] = (m.group(2).split("#", 1)[0].strip(), number)

    if "bootstrap" not in header:
        raise UserError(
            f"{path}:1: the header has no 'Bootstrap:' line; start the recipe with e.g. "
            "'Bootstrap: docker' and 'From: ubuntu:24.04'.",
            file=path,
            line=1,
        )
    agent, line_no = header["bootstrap"]
    if agent.lower() not in BOOTSTRAP_AGENTS:
        raise UserError(
            f"{path}:{line_no}: 'Bootstrap: {agent}' is not a bootstrap agent Apptainer knows; "
            "use one of " + ", ".join(sorted(BOOTSTRAP_AGENTS)) + ".",
            file=path,
            line=line_no,
        )
    if agent.lower() in NEEDS_FROM and not header.get("from", ("", 0))[0]:
        raise UserError(
            f"{path}:{line_no}: 'Bootstrap: {agent}' needs a 'From:' line naming the source image.",
            file=path,
            line=line_no,
        )
    spython_log.level = -3  # its warnings ("SETUP is error prone") are about Dockerfile conversion
    try:
        parsed = _Parser(str(root / recipe.path))
        source = str(getattr(parsed.recipe.get("spython-base"), "fromHeader", "") or "")
    except Exception as e:  # spython raises whatever its regexes trip on
        raise UserError(f"{path}: the recipe cannot be parsed ({e}).", file=path, line=1) from e
    return RecipeInfo(bootstrap=agent.lower(), source=source or header.get("from", ("", 0))[0])
