"""The branch/pull request decisions, case by case (as create-pull-request tests them)."""

from __future__ import annotations

import pytest

from static_registry.branch import BranchState, RemoteBranch, carry_over, needs_push, operation


@pytest.mark.parametrize(
    ("remote", "keep"),
    [
        (RemoteBranch(tip=None), False),  # branch gone (or never made): start from base
        (RemoteBranch(tip="abc"), True),  # an update waiting on the branch: keep it
        (RemoteBranch(tip="abc", merged=True), False),  # merged: its content is in the base
        (RemoteBranch(tip="abc", closed_pr_at_tip=True), False),  # squash-merged or declined
    ],
)
def test_carry_over(remote: RemoteBranch, keep: bool) -> None:
    assert carry_over(remote) is keep


@pytest.mark.parametrize(
    ("state", "pr_open", "expected", "push"),
    [
        # nothing changed against the base: no pull request at all
        (BranchState(differs_from_base=False, same_as_remote=False), False, ("none", "none"), False),
        (BranchState(differs_from_base=False, same_as_remote=False), True, ("none", "none"), False),
        # no pull request yet: create one
        (BranchState(differs_from_base=True, same_as_remote=False), False, ("created", "create"), True),
        # branch pushed by an earlier run that died before the PR: create, push nothing
        (BranchState(differs_from_base=True, same_as_remote=True), False, ("created", "create"), False),
        # pull request open, branch changed (new tags, or the base moved): update it
        (BranchState(differs_from_base=True, same_as_remote=False), True, ("updated", "update"), True),
        # pull request open and the branch already says exactly this: nothing to do
        (BranchState(differs_from_base=True, same_as_remote=True), True, ("none", "none"), False),
    ],
)
def test_operation(state: BranchState, pr_open: bool, expected: tuple[str, str], push: bool) -> None:
    assert operation(state, pr_open) == expected
    assert needs_push(state) is push
