"""The commands, each taking raw inputs (``with:`` values or CLI options) and a Runner.

The CLI and entrypoint.py both call these, so a feature exists once and has the same
names, defaults and errors everywhere.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import UserError
from .options import REGISTRY_INPUTS, PublishOptions, parse_bool
from .pipeline import Event, run_publish
from .render import render
from .runner import Runner
from .verify import VerifyOptions, verify_git, verify_pull_request

DEFAULTS = {i.name: i.default for i in REGISTRY_INPUTS}


def _get(raw: Mapping[str, str], name: str) -> str:
    value = raw.get(name)
    return (value if value is not None else DEFAULTS.get(name, "")).strip()


def _workspace(raw: Mapping[str, str], env: Mapping[str, str]) -> Path:
    path = Path(_get(raw, "path") or env.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
    if not path.is_dir():
        raise UserError(
            f"Input 'path' is {path}, which is not a folder; point it at the registry repository's checkout."
        )
    return path


def _words(value: str) -> tuple[str, ...]:
    return tuple(w for w in re.split(r"[\s,]+", value) if w)


def publish(raw: Mapping[str, str], event: Event, runner: Runner, env: Mapping[str, str]) -> dict[str, str]:
    options = PublishOptions.from_inputs(raw, env)
    return run_publish(options, event, runner)


def verify(raw: Mapping[str, str], event: Event, runner: Runner, env: Mapping[str, str]) -> bool:
    """Check a registry pull request; annotations on offending files, a summary table."""
    registry = _workspace(raw, env)
    try:
        max_parallel = int(_get(raw, "max-parallel"))
        if max_parallel < 1:
            raise ValueError
    except ValueError:
        raise UserError(
            f"Input 'max-parallel' is '{_get(raw, 'max-parallel')}'; write a whole number of 1 or more."
        ) from None
    options = VerifyOptions(
        branch_prefix=_get(raw, "branch-prefix") or "update/",
        allow_paths=_words(_get(raw, "allow-paths")),
        allow_http=parse_bool("allow-http", _get(raw, "allow-http")),
        allowed_hosts=_words(_get(raw, "allowed-hosts")),
        max_parallel=max_parallel,
    )
    payload: Mapping[str, Any] = event.payload or {}
    pr: Mapping[str, Any] = payload.get("pull_request") or {}
    number = _get(raw, "pull-request")
    base, head = _get(raw, "base"), _get(raw, "head")
    if number:
        if not number.isdigit():
            raise UserError(f"Input 'pull-request' is '{number}'; write the pull request's number.")
        repository = _get(raw, "repository") or env.get("GITHUB_REPOSITORY", "")
        api_url = (_get(raw, "github-api-url") or env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
        token = _get(raw, "token") or env.get("GITHUB_TOKEN", "")
        with runner.group(f"Verify pull request #{number} of {repository}"):
            result = verify_pull_request(
                registry, api_url, repository, int(number), token=token or None, options=options
            )
    elif (base and head) or pr:
        head_info: Mapping[str, Any] = pr.get("head") or {}
        base_info: Mapping[str, Any] = pr.get("base") or {}
        base = base or str(base_info.get("sha", ""))
        head = head or str(head_info.get("sha", ""))
        head_branch = str(head_info.get("ref", "")) or None
        head_repo = str((head_info.get("repo") or {}).get("full_name", "")) or None
        base_repo = str((base_info.get("repo") or {}).get("full_name", "")) or None
        with runner.group(f"Verify {head_branch or head} against {base[:12]}"):
            result = verify_git(
                registry,
                base,
                head,
                head_branch=head_branch,
                head_repository=head_repo,
                base_repository=base_repo,
                options=options,
            )
    else:
        raise UserError(
            "verify needs a pull request: run it on the pull_request event, or give 'pull-request', or 'base' and 'head'."
        )
    for finding in result.findings:
        runner.annotate(
            "error" if finding.severity == "error" else "warning", finding.message, finding.path or None, finding.line
        )
    runner.summary(result.summary_markdown())
    runner.info(f"{len(result.rows)} image(s) checked; {'verified' if result.ok else 'rejected'}")
    return result.ok


def render_site(raw: Mapping[str, str], runner: Runner, env: Mapping[str, str]) -> dict[str, Any]:
    registry = _workspace(raw, env)
    output = Path(_get(raw, "output") or "_site")
    if not output.is_absolute():
        output = registry / output
    with runner.group(f"Render {registry} → {output}"):
        result = render(registry, output, _get(raw, "site-url") or None, title=_get(raw, "site-title") or None)
    for finding in result.warnings:
        runner.warning(finding.message, finding.path or None, finding.line)
    runner.summary(result.summary_markdown())
    runner.set_output("site", str(output))
    summary = {
        "output": str(output),
        "site-url": result.site_url,
        "collections": len(result.collections),
        "files": result.files,
    }
    runner.info(json.dumps(summary))
    return summary
