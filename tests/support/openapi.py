"""GitHub's published OpenAPI description, and validation of response bodies against it.

The description comes from the npm package ``@octokit/openapi`` (``generated/api.github.com.json``,
OpenAPI 3.0.3).  It is loaded once; OpenAPI 3.0's ``nullable: true`` is rewritten in place into
JSON Schema type unions, and ``$ref``s stay references that ``referencing`` resolves lazily while
validating (the document is never dereferenced as a whole).
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OPENAPI_JSON = REPO_ROOT / "tests/openapi/node_modules/@octokit/openapi/generated/api.github.com.json"
DOCUMENT_URI = "https://api.github.com/openapi.json"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_MISSING_HINT = "run `npm ci --prefix tests/openapi` from the repository root to install it"

# Statuses GitHub may answer on any operation even where the description does not list them:
# their bodies are checked against GitHub's generic error schemas.
_GENERIC_ERROR_SCHEMAS = {422: "validation-error"}
_GENERIC_ERROR_DEFAULT = "basic-error"


class OpenAPIMissing(FileNotFoundError):
    """The OpenAPI description file is not installed."""


def openapi_json_path() -> Path:
    """Where the description is: ``$GITHUB_OPENAPI_JSON`` or the npm package below ``tests/openapi``."""
    override = os.environ.get("GITHUB_OPENAPI_JSON")
    return Path(override) if override else DEFAULT_OPENAPI_JSON


def require_openapi_json(path: Path | None = None) -> Path:
    """Return the description's path, or raise :class:`OpenAPIMissing` saying how to install it."""
    path = path or openapi_json_path()
    if not path.is_file():
        raise OpenAPIMissing(f"GitHub's OpenAPI description {path} is missing: {_MISSING_HINT}")
    return path


def convert_nullable(node: Any) -> None:
    """Rewrite OpenAPI 3.0 ``nullable: true`` in place into JSON Schema (draft 4) unions with null."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        stack.extend(item.values())
        if item.get("nullable") is not True:
            continue
        del item["nullable"]
        if "type" in item and not any(k in item for k in ("$ref", "allOf", "anyOf", "oneOf")):
            types = item["type"] if isinstance(item["type"], list) else [item["type"]]
            item["type"] = [*types, "null"] if "null" not in types else types
            if "enum" in item and None not in item["enum"]:
                item["enum"] = [*item["enum"], None]
        else:
            inner = dict(item)
            item.clear()
            item["anyOf"] = [{"type": "null"}, inner]


def _pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: dict[str, Any]

    @property
    def documentation_url(self) -> str:
        url = self.spec.get("externalDocs", {}).get("url")
        return str(url) if url else "https://docs.github.com/rest"


class OpenAPI:
    """The loaded description: operation lookup and response validation."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = require_openapi_json(path)
        with self.path.open("rb") as fh:
            self.document: dict[str, Any] = json.load(fh)
        convert_nullable(self.document)
        resource: Resource[Any] = DRAFT4.create_resource(self.document)
        self.registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
        self._routes: list[tuple[tuple[int, ...], re.Pattern[str], str]] = []
        for template in self.document["paths"]:
            segments = template.strip("/").split("/")
            rank = tuple(1 if s.startswith("{") else 0 for s in segments)
            regex = "/".join("[^/]+" if s.startswith("{") else re.escape(s) for s in segments)
            self._routes.append((rank, re.compile(f"/{regex}"), template))
        self._routes.sort(key=lambda route: route[0])
        self._validators: dict[tuple[str, str, int], jsonschema.protocols.Validator | None] = {}
        self._lock = threading.Lock()

    # -- lookup -------------------------------------------------------------------------------
    def find_template(self, path: str) -> str | None:
        """The path template matching a concrete API path (literal segments win over parameters)."""
        path = "/" + path.split("?", 1)[0].strip("/")
        for _rank, regex, template in self._routes:
            if regex.fullmatch(path):
                return template
        return None

    def operation(self, method: str, template: str) -> Operation | None:
        spec = self.document["paths"].get(template, {}).get(method.lower())
        return Operation(method.upper(), template, spec) if isinstance(spec, dict) else None

    def find_operation(self, method: str, path: str) -> Operation | None:
        """The operation for ``method`` on a concrete path such as ``/repos/o/r/pulls``."""
        template = self.find_template(path)
        return self.operation(method, template) if template else None

    def documentation_url(self, method: str, template: str | None) -> str:
        operation = self.operation(method, template) if template else None
        return operation.documentation_url if operation else "https://docs.github.com/rest"

    def _response_pointer(self, method: str, template: str, status: int) -> str | None:
        operation = self.operation(method, template)
        if operation is None:
            return None
        responses: dict[str, Any] = operation.spec.get("responses", {})
        key = str(status) if str(status) in responses else "default" if "default" in responses else None
        if key is None:
            return None
        response = responses[key]
        pointer = f"/paths/{_pointer_escape(template)}/{method.lower()}/responses/{key}"
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#")
            response = self.registry.resolver(DOCUMENT_URI).lookup(response["$ref"]).contents
        if "application/json" not in response.get("content", {}):
            return None
        if "schema" not in response["content"]["application/json"]:
            return None
        return f"{pointer}/content/application~1json/schema"

    def response_schema_ref(self, method: str, template: str | None, status: int) -> str | None:
        """A ``$ref`` to the schema a JSON body of this response must match (None: nothing to check).

        Error statuses that the operation does not document (GitHub may answer 401/403/404/422/5xx
        anywhere) are checked against GitHub's generic error schemas.
        """
        pointer = self._response_pointer(method, template, status) if template else None
        if pointer is not None:
            return f"{DOCUMENT_URI}#{pointer}"
        if status >= 400:
            name = _GENERIC_ERROR_SCHEMAS.get(status, _GENERIC_ERROR_DEFAULT)
            return f"{DOCUMENT_URI}#/components/schemas/{name}"
        return None

    def _validator(self, method: str, template: str | None, status: int) -> jsonschema.protocols.Validator | None:
        key = (method.upper(), template or "", status)
        with self._lock:
            if key not in self._validators:
                ref = self.response_schema_ref(method, template, status)
                self._validators[key] = (
                    None
                    if ref is None
                    else jsonschema.Draft4Validator(
                        {"$ref": ref},
                        registry=self.registry,
                        format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER,
                    )
                )
            return self._validators[key]

    # -- validation ---------------------------------------------------------------------------
    def validate_response(self, method: str, template: str | None, status: int, body: Any) -> list[str]:
        """Errors of a JSON response body against the description ([] when it matches).

        ``template`` is the OpenAPI path template (``/repos/{owner}/{repo}/pulls``); None means an
        endpoint GitHub does not describe (only error bodies are then checked).
        """
        if template is not None and self.operation(method, template) is None and status < 400:
            return [f"{method.upper()} {template} is not an operation of GitHub's OpenAPI description"]
        validator = self._validator(method, template, status)
        if validator is None:
            return []
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        return [_describe(error) for error in errors[:20]]

    def validate_path_response(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """Like :meth:`validate_response` but for a concrete path (``/repos/o/r/pulls/1``)."""
        return self.validate_response(method, self.find_template(path), status, body)


def _describe(error: jsonschema.ValidationError) -> str:
    where = "".join(f"[{p!r}]" for p in error.absolute_path) or "<body>"
    message = error.message if len(error.message) < 400 else error.message[:400] + "..."
    if error.context:
        best = jsonschema.exceptions.best_match(error.context)
        inner = "".join(f"[{p!r}]" for p in best.absolute_path)
        message += f" (best match: {inner or '<body>'}: {best.message[:300]})"
    return f"{where}: {message}"


_shared: OpenAPI | None = None
_shared_lock = threading.Lock()


def load(path: Path | None = None) -> OpenAPI:
    """The description, loaded once per process."""
    global _shared
    with _shared_lock:
        if _shared is None or (path is not None and path != _shared.path):
            _shared = OpenAPI(path)
        return _shared
