"""Pull requests on the registry repository, through PyGithub against ``GITHUB_API_URL``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from github import Auth, Github, GithubException
from github.GithubRetry import GithubRetry
from github.PullRequest import PullRequest
from github.Repository import Repository

from .errors import PublishError

PAT_HINT = (
    "a container repository's own GITHUB_TOKEN cannot write to another repository: pass a "
    "fine-grained personal access token or a GitHub App token with contents: write and "
    "pull-requests: write on the registry as input 'token'"
)


@dataclass(frozen=True)
class PullRequestRef:
    number: int
    url: str


def explain(e: GithubException, registry: str, doing: str) -> PublishError:
    """One sentence for what GitHub refused, naming the token or permission to fix."""
    data = e.data if isinstance(e.data, dict) else {}
    message = str(data.get("message") or e)
    errors = data.get("errors") or []
    detail = "; ".join(str(x.get("message", x)) if isinstance(x, dict) else str(x) for x in errors)
    if e.status == 401:
        text = f"GitHub rejected the token while {doing} on {registry} (401 {message}); the token in input 'token' is invalid or expired."
    elif e.status == 403 and "not permitted to create or approve pull requests" in message:
        text = (
            f'GitHub refused {doing} on {registry}: {message}; enable "Allow GitHub Actions to create '
            "and approve pull requests\" in the registry's settings or use a personal access or GitHub App token."
        )
    elif e.status in (403, 404):
        text = f"GitHub refused {doing} on {registry} ({e.status} {message}); {PAT_HINT}."
    else:
        text = f"GitHub refused {doing} on {registry} ({e.status} {message}{': ' + detail if detail else ''})."
    return PublishError(text)


class PullRequests:
    """Find, create and update the one pull request of an update branch."""

    def __init__(self, api_url: str, token: str, registry: str) -> None:
        self.registry = registry
        auth = Auth.Token(token) if token else None
        retry = GithubRetry(total=5, backoff_factor=0.5)
        self.github = Github(base_url=api_url.rstrip("/"), auth=auth, retry=retry, per_page=100, timeout=30)
        self._repo: Repository | None = None

    @property
    def repo(self) -> Repository:
        if self._repo is None:
            try:
                self._repo = self.github.get_repo(self.registry)
            except GithubException as e:
                raise explain(e, self.registry, "reading the repository") from e
        return self._repo

    def default_branch(self) -> str:
        return self.repo.default_branch

    def can_push(self) -> bool | None:
        """What GitHub says the token may do on the registry (None when it does not say)."""
        permissions = self.repo.raw_data.get("permissions")
        if not isinstance(permissions, dict) or "push" not in permissions:
            return None
        return bool(permissions["push"])

    def _pulls(self, state: str, head: str, base: str) -> list[PullRequest]:
        try:
            return [p for p in self.repo.get_pulls(state=state, head=head, base=base) if p.head.label == head]
        except GithubException as e:
            raise explain(e, self.registry, "listing pull requests") from e

    def find_open(self, head: str, base: str) -> PullRequest | None:
        """``head`` is ``owner:branch``; GitHub ignores a bare branch name in this filter."""
        found = self._pulls("open", head, base)
        return found[0] if found else None

    def closed_at(self, head: str, base: str, sha: str) -> bool:
        """Whether a closed pull request of this head ended with exactly commit ``sha``."""
        return any(p.head.sha == sha for p in self._pulls("closed", head, base))

    def create(
        self, head: str, base: str, title: str, body: str, draft: bool, labels: Sequence[str]
    ) -> tuple[PullRequestRef, bool]:
        """Create the pull request; if one appeared meanwhile, update it instead.

        Returns the reference and whether it was created.
        """
        try:
            pr = self.repo.create_pull(
                base=base, head=head, title=title, body=body, draft=draft, maintainer_can_modify=True
            )
            created = True
        except GithubException as e:
            text = str(e.data)
            if e.status == 422 and "A pull request already exists" in text:
                existing = self.find_open(head, base)
                if existing is None:
                    raise explain(e, self.registry, "creating the pull request") from e
                return self.update(existing, title, body), False
            raise explain(e, self.registry, "creating the pull request") from e
        if labels:
            try:
                pr.add_to_labels(*labels)
            except GithubException as e:
                raise explain(e, self.registry, "labelling the pull request") from e
        return PullRequestRef(pr.number, pr.html_url), created

    def update(self, pr: PullRequest, title: str, body: str) -> PullRequestRef:
        try:
            pr.edit(title=title, body=body)
        except GithubException as e:
            raise explain(e, self.registry, f"updating pull request #{pr.number}") from e
        return PullRequestRef(pr.number, pr.html_url)
