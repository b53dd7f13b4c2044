"""Build: turn recipes into SIF files with a real Apptainer (or SingularityCE).

Builders differ only in *where* ``apptainer build`` runs (here, in a sibling privileged
container, or not at all because an earlier step built the images); what the registry
records about an image is computed the same way for all of them, in ``describe_image``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from .errors import BuildError, UserError
from .model import Image, Recipe

ENGINES = ("apptainer", "singularity")


class Builder(Protocol):
    """Something that can turn one recipe into one SIF file."""

    mode: str
    """``in-place``, ``docker`` or ``none``: said in the log and the summary."""

    def build(self, recipe: Recipe, workspace: Path, output: Path, log: TextIO) -> None:
        """Build ``workspace/recipe.path`` into ``output``, streaming the engine's output
        to ``log``; raise BuildError naming the recipe when it fails."""
        ...


def find_engine(path: str | None = None) -> str | None:
    """The first of ``apptainer``/``singularity`` on PATH, as an absolute path."""
    for name in ENGINES:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "CREDENTIALS", "PRIVATE_KEY")


def build_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a build sees: ours minus inputs and secrets.

    A recipe's ``%setup`` runs on the build host with this environment, and anything it
    prints lands in the log: tokens for the registry or storage must not be there. What
    Apptainer itself reads (``APPTAINER_DOCKER_PASSWORD`` for a private base image) stays.
    """
    source = os.environ if env is None else env
    return {
        k: v
        for k, v in source.items()
        if not k.startswith("INPUT_")
        and (k.startswith(("APPTAINER_", "SINGULARITY_")) or not any(w in k.upper() for w in SECRET_WORDS))
    }


def stream(argv: Sequence[str], cwd: Path, log: TextIO, env: Mapping[str, str] | None = None) -> int:
    """Run a command, copying its combined output to ``log`` line by line as it comes."""
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            log.write(raw.decode("utf-8", "replace"))
            log.flush()
        return proc.wait()


def check_built(recipe: Recipe, output: Path, status: int, where: str = "") -> None:
    """A build counts only with exit status 0 and the SIF written; else nothing is kept."""
    if status != 0 or not output.is_file():
        output.unlink(missing_ok=True)
        raise BuildError(
            f"Recipe {recipe.path} failed to build (apptainer exit status {status}{where}); "
            "its log is in the group above.",
            file=recipe.path,
            line=1,
        )


@dataclass
class InPlaceBuilder:
    """``apptainer build`` right here: a privileged host, a laptop, a self-hosted runner."""

    engine: str
    options: Sequence[str] = ()
    mode: str = "in-place"

    def build(self, recipe: Recipe, workspace: Path, output: Path, log: TextIO) -> None:
        source = workspace / recipe.path
        argv = [self.engine, "build", "--force", *self.options, str(output), source.name]
        log.write(f"$ {' '.join(argv)}  (in {source.parent})\n")
        log.flush()
        # Relative paths in %files and %setup are resolved from the recipe's folder, as
        # Singularity Hub did.
        try:
            status = stream(argv, source.parent, log, build_env())
        except OSError as e:
            raise BuildError(
                f"Could not run {self.engine} to build {recipe.path}: {e.strerror or e}.", file=recipe.path
            ) from e
        check_built(recipe, output, status)


@dataclass
class PrebuiltBuilder:
    """``builder: none``: publish SIF files built by earlier steps (input ``images``)."""

    images: Mapping[str, Path]
    """Tag → SIF path."""
    mode: str = "none"

    def build(self, recipe: Recipe, workspace: Path, output: Path, log: TextIO) -> None:
        source = self.images.get(recipe.tag)
        if source is None:
            raise UserError(f"No image given for tag '{recipe.tag}' in input 'images'.")
        if not source.is_file():
            raise UserError(
                f"Input 'images' names {source} for tag '{recipe.tag}', which is not a file; "
                "build it in an earlier step or fix the path."
            )
        log.write(f"using prebuilt {source}\n")
        shutil.copyfile(source, output)


def parse_images(text: str, workspace: Path) -> dict[str, Path]:
    """Input ``images``: lines (or commas) of ``<tag>=<path to .sif>``."""
    images: dict[str, Path] = {}
    for item in text.replace(",", "\n").splitlines():
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        tag, sep, path = item.partition("=")
        if not sep or not tag.strip() or not path.strip():
            raise UserError(
                f"Input 'images' has the entry '{item}', which is not '<tag>=<path to .sif>'; "
                "write one such entry per line."
            )
        p = Path(path.strip())
        images[tag.strip()] = p if p.is_absolute() else workspace / p
    return images


def sha256_and_size(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def inspect_labels(engine: str | None, sif: Path) -> dict[str, str]:
    """``apptainer inspect --json --labels``; empty when no engine can read it here."""
    if engine is None:
        return {}
    try:
        out = subprocess.run(
            [engine, "inspect", "--json", "--labels", str(sif)],
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
        data = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    labels = data.get("data", {}).get("attributes", {}).get("labels", {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def describe_image(recipe: Recipe, sif: Path, engine: str | None) -> Image:
    sha256, size = sha256_and_size(sif)
    return Image(recipe=recipe, path=sif, sha256=sha256, size=size, labels=inspect_labels(engine, sif))


def select_builder(mode: str, options: Sequence[str], images: Mapping[str, Path], log: TextIO = sys.stderr) -> Builder:
    """Input ``builder``: ``auto`` (default), ``in-place``, ``docker`` or ``none``.

    ``auto`` builds in place when Apptainer is here and can create its namespaces, else in a
    privileged sibling container through the Docker socket (a GitHub container action), and
    says in the log which it chose and why.
    """
    from . import sibling

    if mode == "none":
        return PrebuiltBuilder(images)
    if mode not in ("auto", "in-place", "docker"):
        raise UserError(f"Input 'builder' is '{mode}': use auto, in-place, docker or none.")
    if mode == "docker":
        builder, why = sibling.sibling_builder(options)
        if builder is None:
            raise UserError(
                f"Input 'builder' is 'docker' but {why}: run the action as a step of a job on a "
                "runner with Docker (the action's container needs /var/run/docker.sock), or use "
                "'builder: auto'."
            )
        log.write(f"builder: docker ({why})\n")
        return builder
    if mode == "auto":
        _chosen, sibling_built = sibling.choose_auto(options, log)
        if sibling_built is not None:
            return sibling_built
    engine = sibling.find_engine_here()
    if engine is None:
        raise UserError(
            "No apptainer or singularity on PATH, so nothing can be built here; install "
            "Apptainer (scripts/install-apptainer), or build in an earlier step and pass "
            "'images' with 'builder: none'."
        )
    return InPlaceBuilder(engine, tuple(options))
