"""Replay kernel_facts.FACTS against the running kernel.

This checks the oracle, not fakeproc: if it fails, KERNEL_FACTS.md no longer
describes the machine's kernel (other version, overcommit mode 2, ...), and
the model's expectations must be re-derived.  The facts were recorded on
Linux 6.18; older kernels differ (for example older kernels refuse the
multi-VMA mremap move of facts 4.10/4.11 with EFAULT), so the test is skipped
there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import kernel  # noqa: E402
from kernel_facts import FACTS, Fact  # noqa: E402


pytestmark = kernel.reference_marks()


@pytest.fixture(scope="session")
def helper(tmp_path_factory: pytest.TempPathFactory) -> str:
    return kernel.build_helper(tmp_path_factory.getbasetemp())


def _same_result(expected: str, got: str) -> bool:
    if expected == "outside":
        return got.startswith("outside ")
    return expected == got


@pytest.mark.parametrize("fact", FACTS, ids=[fact.id for fact in FACTS])
def test_fact_holds(fact: Fact, helper: str) -> None:
    results, lines = kernel.run_kernel(fact.ops, helper=helper)
    for (op, expected), got in zip(fact.steps, results):
        assert _same_result(expected, got), f"{fact.id}: {op!r} gave {got!r}, recorded {expected!r}"
    assert kernel.normalize_shmem_inodes(lines) == list(fact.lines), fact.title
