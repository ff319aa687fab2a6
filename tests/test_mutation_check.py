"""benchmarks/mutation_check.py's planted bugs stay plantable: each is written as edits of the
code as it is, so a change to that code shows here at once, not at the next (rare, slow) check."""

from __future__ import annotations

import ast

import pytest
from conftest import REPO

from benchmarks.mutation_check import PLANTED_BUGS, planted_source


@pytest.mark.parametrize("bug", PLANTED_BUGS, ids=lambda bug: bug.name)
def test_every_planted_bug_still_applies_to_the_code(bug):
    written = (REPO / bug.path).read_text()
    planted = planted_source(bug, written)
    assert planted != written
    if bug.path.endswith(".py"):
        ast.parse(planted)  # a bug, not a syntax error
    assert all(
        (REPO / argument).is_file() for argument in bug.tests if argument.startswith("tests/")
    )
