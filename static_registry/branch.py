"""The branch and pull request decisions, as pure functions tested case by case.

Modelled on peter-evans/create-pull-request: the update branch is recomputed from the
registry's base branch on every run, so the result never depends on the branch's history;
an earlier update still waiting on the branch is carried into the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Operation = Literal["created", "updated", "none"]


@dataclass(frozen=True)
class RemoteBranch:
    """What the registry says about the update branch before this run pushes."""

    tip: str | None
    """The branch's commit, or None when the branch does not exist."""
    merged: bool = False
    """Its tip is already contained in the base branch (a merge or fast-forward)."""
    closed_pr_at_tip: bool = False
    """A closed pull request had exactly this tip as its head: merged by squash or
    rebase, or declined. Either way its content must not come back."""


def carry_over(branch: RemoteBranch) -> bool:
    """Whether the branch holds an update still waiting for review that must be kept."""
    return branch.tip is not None and not branch.merged and not branch.closed_pr_at_tip


@dataclass(frozen=True)
class BranchState:
    """The outcome of preparing the new branch content."""

    differs_from_base: bool
    """The new tree is not the base's tree: there is something to propose."""
    same_as_remote: bool
    """The remote branch already has exactly this tree on top of the current base."""


def needs_push(state: BranchState) -> bool:
    return state.differs_from_base and not state.same_as_remote


def operation(state: BranchState, pr_open: bool) -> tuple[Operation, Literal["create", "update", "none"]]:
    """(pull-request-operation output, what to do with the pull request).

    * nothing differs from the base → no pull request, operation ``none``;
    * no open pull request → create one (``created``), even when the branch was already
      pushed by an earlier run that failed before opening it;
    * an open pull request whose branch changed → update title and body (``updated``);
    * an open pull request whose branch is unchanged → ``none``, number and URL still set.
    """
    if not state.differs_from_base:
        return "none", "none"
    if not pr_open:
        return "created", "create"
    if state.same_as_remote:
        return "none", "none"
    return "updated", "update"
