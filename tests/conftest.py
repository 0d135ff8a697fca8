"""Fixtures and plugins shared by the whole suite."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

# xdist_group marks that work under pytest 9 (see the module); imported, so its hooks are this conftest's.
from xdist_groups import (pytest_collection_modifyitems, pytest_configure, pytest_configure_node,  # noqa: F401
                          pytest_runtest_setup, pytest_sessionfinish, pytest_unconfigure,
                          pytest_xdist_make_scheduler)

# The session's one graded lesson-01 class (200-odd submissions), shared by the report, demo and
# instructor-loop tests (tests/grading/graded_class.py); defined here so tests/browser sees it too.
from grading.graded_class import graded_class  # noqa: E402,F401


def seed_for(nodeid: str) -> int:
    """A seed that depends on the test alone, not on which tests its worker ran before."""
    return int.from_bytes(hashlib.sha256(nodeid.encode()).digest()[:8], "little")


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A random generator seeded from the test's own id: the same numbers in every run and order."""
    return np.random.default_rng(seed_for(request.node.nodeid))
