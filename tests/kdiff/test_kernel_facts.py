"""Replay kernel_facts.FACTS and FILE_FACTS against the running kernel.

This checks the oracle, not fakeproc: if it fails, KERNEL_FACTS.md no longer
describes the machine's kernel (other version, overcommit mode 2, ...), and
the model's expectations must be re-derived.  The facts were recorded on
Linux 6.18; older kernels differ (for example older kernels refuse the
multi-VMA mremap move of facts 4.10/4.11 with EFAULT), so the test is skipped
there.  The file facts map files that ``files.make_files`` creates afresh in
the session's temporary directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import files  # noqa: E402
import kernel  # noqa: E402
from kernel_facts import FACTS, FILE_FACTS, HOST_SETTINGS, Fact, host_differences  # noqa: E402


pytestmark = kernel.reference_marks()


@pytest.fixture(scope="session")
def helper(tmp_path_factory: pytest.TempPathFactory) -> str:
    return kernel.build_helper(tmp_path_factory.getbasetemp())


def _same_result(expected: str, got: str) -> bool:
    if expected == "outside":
        return got.startswith("outside ")
    return expected == got


@pytest.fixture(scope="session")
def files_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return files.make_files(tmp_path_factory.mktemp("mapped-files"))


def _assert_results(fact: Fact, ops: list[str], results: list[str]) -> None:
    for (_, expected), op, got in zip(fact.steps, ops, results):
        assert _same_result(expected, got), f"{fact.id}: {op!r} gave {got!r}, recorded {expected!r}"


@pytest.mark.parametrize("fact", FACTS, ids=[fact.id for fact in FACTS])
def test_fact_holds(fact: Fact, helper: str) -> None:
    results, lines = kernel.run_kernel(fact.ops, helper=helper)
    _assert_results(fact, fact.ops, results)
    assert kernel.normalize_shmem_inodes(lines) == list(fact.lines), fact.title


@pytest.mark.parametrize("fact", FILE_FACTS, ids=[fact.id for fact in FILE_FACTS])
def test_file_fact_holds(fact: Fact, helper: str, files_dir: Path) -> None:
    if reason := files.host_cannot_show(fact.ops) or host_differences(fact.id):
        pytest.skip(reason)
    ops = [files.expand(op, files_dir) for op in fact.ops]
    results, lines = kernel.run_kernel(ops, helper=helper)
    _assert_results(fact, ops, results)
    assert kernel.normalize_shmem_inodes(lines) == files.render_lines(fact.lines, files_dir), fact.title


def test_a_fact_is_skipped_where_a_setting_it_depends_on_differs() -> None:
    recorded = dict(HOST_SETTINGS)
    assert host_differences("11.2", read=recorded.__getitem__) is None
    reason = host_differences("11.2", read=lambda path: "65536")
    assert reason is not None and "/proc/sys/vm/mmap_min_addr" in reason and "'65536'" in reason
    assert host_differences("10.1", read=lambda path: "65536") is None
