"""Kernel-differential tests: the simulation must do what the real kernel does.

Operations use the arena syntax of arena.c (ctl commands with addresses
relative to an arena).  :class:`Simulation` replays them through
``PROCESS_CALLS.run`` on a simulated process whose arena sits at
the address the C helper uses, and reports results and arena lines in the
helper's format, so both sides compare line for line.

- ``test_fact``: every recorded scenario of kernel_facts.py (no kernel needed).
- ``test_fixed_sequence``: Lorenzo's ten merge/split cases (from
  ``workloads.scenarios.SCENARIOS``) and the selftest's split/resize/remap
  toggles (``workloads.toggler``), run on the kernel and the simulation.
- ``test_generated``: hypothesis sequences run on both, compared after every
  operation (200 examples): mmap (fixed, fixed_noreplace, shared, noreserve,
  growsdown, populate, bad types), munmap, mprotect, mremap (shrink, grow,
  maymove, fixed, dontunmap, old_len 0, multi-VMA moves), touch, with
  unaligned addresses, empty or odd lengths and holes.
- ``test_generated_neighbourhood``: prev/middle/next layouts built to show
  anon_vma reuse and merge decisions (300 examples).
- ``test_map_count_edges``: max_map_count edges, the helper's process filled
  up to the limit.

The helper's ``touch`` skips holes and never fails; the simulation's own
``touch`` fails with EFAULT on a hole, so a helper touch is replayed as one
ctl ``touch`` per run of mapped pages.  ``mm.check()`` runs after every
operation.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

import files  # noqa: E402
import kernel  # noqa: E402
from kernel_facts import FACTS, FILE_FACTS, HOST_SETTINGS, Fact  # noqa: E402

from fakeproc.calls import PROCESS_CALLS, Mmap, Mremap  # noqa: E402
from fakeproc.errors import SyscallError  # noqa: E402
from fakeproc.mm.placement import page_align  # noqa: E402
from fakeproc.mm.mm import Limits  # noqa: E402
from fakeproc.mm.placement import HUGE_PAGE_SIZE  # noqa: E402
from fakeproc.mm.vma import PAGE_SIZE, Vma, VmFlags, prot_to_text  # noqa: E402
from fakeproc.process import ProcessTable  # noqa: E402
from fakeproc.procfs.maps import format_maps_line  # noqa: E402
from fakeproc.procfs.smaps import format_smaps_record  # noqa: E402
from fakeproc.workloads import scenarios, toggler  # noqa: E402
from fakeproc.workloads.base import Calls, Pause  # noqa: E402

P = PAGE_SIZE
#: arena.c's default placement: its first candidate plus the default margin.
ARENA = 0x100000000000 + (256 << 20)
#: Arena size for the hypothesis runs (the kernel side); generated ops stay well inside.
SMALL_ARENA = 0x100000

#: The limits of the host the facts were recorded on (KERNEL_FACTS.md section 11).
RECORDED_LIMITS = Limits(
    int(HOST_SETTINGS["/proc/sys/vm/mmap_min_addr"]), int(HOST_SETTINGS["/proc/sys/vm/max_map_count"]), thp_align=True
)
#: This machine's, for the sequences run on its kernel.
HOST_LIMITS = Limits.from_host()
MAX_MAP_COUNT = HOST_LIMITS.max_map_count
#: arena.c's mmaplow works in the first MiB.
LOW_WINDOW = 0x100000

#: Which words of an operation are arena offsets.
_ADDRESS_WORDS = {"mmap": (1,), "munmap": (1,), "mprotect": (1,), "mremap": (1, 5), "touch": (1,)}


_KERNEL_MARKS = kernel.reference_marks()


def needs_kernel(test: Callable[..., None]) -> Callable[..., None]:
    """Skip where the running kernel cannot be the reference (the conditions of test_kernel_facts)."""
    for mark in _KERNEL_MARKS:
        test = mark(test)
    return test


def _number(text: str) -> int:
    return int(text, 0)


def relative_line(vma: Vma) -> str:
    """The VMA's maps line with arena-relative addresses, padded the way arena.c pads it."""
    fields = format_maps_line(vma).rstrip("\n").split(None, 5)
    head = f"{vma.start - ARENA:08x}-{vma.end - ARENA:08x} " + " ".join(fields[1:5]) + " "
    return head if len(fields) == 5 else head.ljust(72) + " " + fields[5]


class Simulation:
    """A simulated process driven with arena-relative operations through ctl."""

    def __init__(self, arena_size: int = kernel.DEFAULT_ARENA, limits: Limits = HOST_LIMITS) -> None:
        self.process = ProcessTable(limits=limits).spawn("kdiff")
        self.mm = self.process.mm
        self.arena_size = arena_size
        self._last_nohint = 0

    async def run(self, op: str) -> str:
        """Run one operation; the result as arena.c prints it."""
        words = op.split()
        if words[0] == "count":
            return str(self.mm.map_count)
        if words[0] == "touch":
            return await self._touch(_number(words[1]), _number(words[2]))
        if words[0] in ("vmflags", "rss"):
            return self._smaps_field(words[0], ARENA + _number(words[1]))
        if words[0] == "mmapnohint":
            return await self._mmap_no_hint(_number(words[1]), " ".join(words[2:]))
        if words[0] == "mmaplow":
            return await self._mmap_low(" ".join(words[1:]))
        for index in _ADDRESS_WORDS.get(words[0], ()):
            if index < len(words):
                words[index] = hex(ARENA + _number(words[index]))
        if words[0] == "mmap" and "fixed_noreplace" not in words[4].split(","):
            words[4] += ",fixed"  # arena.c always maps MAP_FIXED unless NOREPLACE
        try:
            result = await PROCESS_CALLS.run(self.process, " ".join(words))
        except SyscallError as error:
            return f"error: {error.errno_name}"
        finally:
            self.mm.check()
        return self._result(words[0], result)

    def _result(self, command: str, result: str) -> str:
        if command not in ("mmap", "mremap"):
            return result
        addr = int(result, 16)
        if ARENA <= addr < ARENA + self.arena_size:
            return hex(addr - ARENA)
        return f"outside {result}"

    async def _touch(self, offset: int, length: int) -> str:
        """arena.c's touch: fault every mapped page meeting the range; holes are skipped.

        The simulation's own ``touch`` fails on holes, so each run of mapped
        pages is touched separately, in address order like the helper.
        """
        if not length:
            return "0"
        start = (ARENA + offset) & ~(P - 1)
        end = page_align(ARENA + offset + length)
        for run_start, run_end in self._mapped_runs(start, end):
            try:
                await PROCESS_CALLS.run(self.process, f"touch {run_start:#x} {run_end - run_start:#x}")
            except SyscallError as error:  # past the end of a file: the helper's SIGBUS
                return f"error: {error.errno_name}"
            finally:
                self.mm.check()
        return "0"

    def _smaps_field(self, word: str, addr: int) -> str:
        """The helper's ``vmflags``/``rss``: that field of the VMA's smaps record, without label or unit."""
        vma = self.mm.tree.lookup(addr)
        if vma is None:
            return "error: ENOENT"
        label = {"vmflags": "VmFlags:", "rss": "Rss:"}[word]
        line = next(line for line in format_smaps_record(self.mm, vma).splitlines() if line.startswith(label))
        return line.removeprefix(label).split(" kB")[0].strip()

    async def _mmap_no_hint(self, length: int, rest: str) -> str:
        """The helper's ``mmapnohint``: where a NULL-address mmap lands, against the previous one."""
        try:
            addr = int(await PROCESS_CALLS.run(self.process, f"mmap 0 {length:#x} {rest}"), 16)
        except SyscallError as error:
            return f"error: {error.errno_name}"
        aligned = int(addr % HUGE_PAGE_SIZE == 0)
        end, last, self._last_nohint = addr + page_align(length), self._last_nohint, addr
        if not last:
            return f"aligned2m={aligned} first"
        return f"aligned2m={aligned} gap={last - end:#x}" if end <= last else f"aligned2m={aligned} above"

    async def _mmap_low(self, rest: str) -> str:
        """The helper's ``mmaplow``: an mmap at an absolute address of the first MiB."""
        try:
            addr = int(await PROCESS_CALLS.run(self.process, f"mmap {rest}"), 16)
        except SyscallError as error:
            return f"error: {error.errno_name}"
        return hex(addr) if addr < LOW_WINDOW else f"outside {addr:#x}"

    def _mapped_runs(self, start: int, end: int) -> list[tuple[int, int]]:
        runs: list[tuple[int, int]] = []
        for vma_start, vma_end, _ in self.mm.tree.overlapping(start, end):
            low, high = max(vma_start, start), min(vma_end, end)
            if runs and runs[-1][1] == low:
                runs[-1] = (runs[-1][0], high)
            else:
                runs.append((low, high))
        return runs

    def lines(self, offset: int = 0) -> list[str]:
        """The arena's maps lines from ``offset`` on, shared-anonymous inodes numbered as groups."""
        vmas = self.mm.tree.overlapping(ARENA + offset, ARENA + self.arena_size)
        return kernel.normalize_shmem_inodes([relative_line(vma) for _, _, vma in vmas])


async def simulate_steps(
    ops_: list[str], arena_size: int = kernel.DEFAULT_ARENA, limits: Limits = HOST_LIMITS
) -> list[tuple[str, str, list[str]]]:
    """Like ``kernel.run_kernel_steps``: (op, result, arena lines) after every op."""
    sim = Simulation(arena_size, limits)
    steps = []
    for op in ops_:
        result = await sim.run(op)
        steps.append((op, result, sim.lines()))
    return steps


def _same_result(expected: str, got: str) -> bool:
    if expected.startswith("outside"):
        return got.startswith("outside ")
    return expected == got


def _describe(steps: list[tuple[str, str, list[str]]], upto: int) -> str:
    return "\n".join(f"  {op}  ->  {result}" for op, result, _ in steps[: upto + 1])


def assert_same_steps(
    kernel_steps: list[tuple[str, str, list[str]]], sim_steps: list[tuple[str, str, list[str]]]
) -> None:
    """Results and arena lines agree after every operation."""
    assert len(kernel_steps) == len(sim_steps)
    for index, ((op, k_result, k_lines), (_, s_result, s_lines)) in enumerate(zip(kernel_steps, sim_steps)):
        history = _describe(kernel_steps, index)
        assert _same_result(k_result, s_result), f"{op!r}: kernel {k_result!r}, simulation {s_result!r}\n{history}"
        k_lines = kernel.normalize_shmem_inodes(k_lines)
        assert s_lines == k_lines, f"after {op!r}:\nkernel:\n{_table(k_lines)}\nsimulation:\n{_table(s_lines)}\n{history}"


def _table(lines: list[str]) -> str:
    return "\n".join(f"    {line}" for line in lines) or "    (nothing)"


# --------------------------------------------------------------------------
# (a) the recorded facts


def _check_fact(fact: Fact, ops: list[str], steps: list[tuple[str, str, list[str]]], lines: list[str]) -> None:
    for op, (_, expected), (_, got, _) in zip(ops, fact.steps, steps):
        assert _same_result(expected, got), f"{fact.id}: {op!r} gave {got!r}, the kernel gave {expected!r}"
    assert steps[-1][2] == lines, f"{fact.id} {fact.title}:\n{_table(steps[-1][2])}\nrecorded:\n{_table(lines)}"


@pytest.mark.parametrize("fact", FACTS, ids=[fact.id for fact in FACTS])
async def test_fact(fact: Fact) -> None:
    _check_fact(fact, fact.ops, await simulate_steps(fact.ops, limits=RECORDED_LIMITS), list(fact.lines))


@pytest.fixture(scope="session")
def files_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return files.make_files(tmp_path_factory.mktemp("mapped-files"))


@pytest.mark.parametrize("fact", FILE_FACTS, ids=[fact.id for fact in FILE_FACTS])
async def test_file_fact(fact: Fact, files_dir: Path) -> None:
    """The file facts, on this machine's files (the model maps host files) with the recorded limits."""
    if reason := files.host_cannot_show(fact.ops):
        pytest.skip(reason)
    ops = [files.expand(op, files_dir) for op in fact.ops]
    steps = await simulate_steps(ops, limits=RECORDED_LIMITS)
    _check_fact(fact, ops, steps, kernel.normalize_shmem_inodes(files.render_lines(fact.lines, files_dir)))


# --------------------------------------------------------------------------
# running the same operations on the kernel and on the simulation


@pytest.fixture(scope="session")
def helper(tmp_path_factory: pytest.TempPathFactory) -> str:
    return kernel.build_helper(tmp_path_factory.getbasetemp())


def compare_with_kernel(ops_: list[str], helper: str, arena_size: int = SMALL_ARENA) -> None:
    kernel_steps = kernel.run_kernel_steps(ops_, arena_size, helper=helper)
    refused = [(op, result) for op, result, _ in kernel_steps if result.startswith("refused")]
    assert not refused, f"the helper refused {refused}: fix the generator"
    assert_same_steps(kernel_steps, trio.run(simulate_steps, ops_, arena_size))


def recorded(calls: Calls, free: int) -> list[str]:
    """The ctl lines of a workload's calls, as arena operations; pauses are dropped.

    ``mmap(NULL)`` (the kernel's choice) is placed at ``free`` instead, so
    that it stays inside the arena; each call gets the result it would have
    had, so later calls can use it.
    """
    ops: list[str] = []
    step = next(calls, None)
    while step is not None:
        result = ""
        if isinstance(step, Mmap):
            step = replace(step, addr=step.addr or free)
            result = hex(step.addr)
        elif isinstance(step, Mremap):
            result = hex(step.new_addr or step.old)
        if not isinstance(step, Pause):
            ops.append(step.line())
        try:
            step = calls.send(result)
        except StopIteration:
            step = None
    return ops


def lorenzo_case(number: int, touched: bool) -> list[str]:
    """Scenario ``number``: its setup in the arena (guard VMAs around the region), then two modify/restore cycles."""
    case = scenarios.SCENARIOS[number]
    region = 0x10000
    base = region + P
    setup = [
        f"mmap {region:#x} {(scenarios.REGION_PAGES + 2) * P:#x} --x private,anonymous",
        f"munmap {base:#x} {scenarios.REGION_PAGES * P:#x}",
    ] + [f"mmap {base + offset:#x} {pages * P:#x} {prot_to_text(prot)} private,anonymous" for offset, pages, prot in case.layout]
    if touched:
        setup.append(f"touch {base:#x} {scenarios.REGION_PAGES * P:#x}")
    workload = scenarios.Scenario(number)
    workload.base = base
    return setup + [op for _ in range(2) for op in recorded(workload.cycle_calls(), free=0x80000)]


TOGGLER_MAPPINGS = 8


def toggler_case(pattern: str, target_index: int) -> list[str]:
    """The selftest's layout in small (3-page VMAs of alternating protection, packed top-down), then two cycles."""
    size = toggler.PAGES * P
    top = 0x10000 + TOGGLER_MAPPINGS * size
    setup = [
        f"mmap {top - (index + 1) * size:#x} {size:#x} {'rw-' if index % 2 else 'r--'} private,anonymous"
        for index in range(TOGGLER_MAPPINGS)
    ]
    workload = toggler.Toggler(pattern)
    workload.target = top - (target_index + 1) * size
    workload.prot = toggler.READ_WRITE if target_index % 2 else toggler.READ_ONLY
    return setup + [op for _ in range(2) for op in recorded(workload.cycle_calls(), free=0x80000)]


#: Name -> a function building the operations (run when the test runs, not at collection).
FIXED_SEQUENCES: dict[str, Callable[[], list[str]]] = {
    **{f"lorenzo-{n}{'-touched' if touched else ''}": partial(lorenzo_case, n, touched)
       for n in scenarios.SCENARIOS for touched in (False, True)},
    **{f"toggler-{pattern}-{'rw' if index % 2 else 'ro'}": partial(toggler_case, pattern, index)
       for pattern in toggler.TOGGLE_PATTERNS for index in (3, 4)},
}


@needs_kernel
@pytest.mark.parametrize("name", list(FIXED_SEQUENCES))
def test_fixed_sequence(name: str, helper: str) -> None:
    compare_with_kernel(FIXED_SEQUENCES[name](), helper)


# --------------------------------------------------------------------------
# (b) generated sequences

#: Generated addresses lie within the first ARENA_PAGES pages; lengths add at most 6 pages.
ARENA_PAGES = 12


def _mostly(common: st.SearchStrategy, rare: st.SearchStrategy, percent: int) -> st.SearchStrategy:  # type: ignore[type-arg]
    """``rare`` in about ``percent`` % of the draws.

    (Duplicates in ``sampled_from`` do not weigh: Hypothesis favours the ends
    of an index range, so the rare band sits in the middle of 0..99.)
    """
    return st.integers(0, 99).flatmap(lambda draw: rare if 40 <= draw < 40 + percent else common)


def _offsets(aligned: bool = False, pages: int = ARENA_PAGES) -> st.SearchStrategy[int]:
    """Arena offsets, rarely unaligned."""
    offsets = st.integers(0, pages).map(lambda page: page * P)
    return offsets if aligned else _mostly(offsets, offsets.map(lambda off: off + 0x800), 4)


def _lengths(valid: bool = False) -> st.SearchStrategy[int]:
    """Mostly 1 to 3 pages; rarely 0 or not a page multiple (the kernel rounds up)."""
    lengths = _mostly(st.sampled_from([1, 2, 3]), st.integers(4, 6), 20).map(lambda pages: pages * P)
    if valid:
        return lengths
    odd = _mostly(lengths, st.sampled_from([0x1, 0x800, 0x1001, 0x2800]), 6)
    return _mostly(odd, st.just(0), 6)


PROTS = _mostly(st.sampled_from(["rw-", "r--"]), st.sampled_from(["---", "rwx", "r-x", "-w-", "--x"]), 30)
MAP_TYPES = _mostly(st.just("private,anonymous"), st.just("shared,anonymous"), 25)
BAD_MAP_TYPES = _mostly(MAP_TYPES, st.sampled_from(["private,shared,anonymous", "anonymous", "private"]), 10)
MAP_EXTRAS = st.lists(_mostly(st.sampled_from(["populate", "noreserve"]), st.sampled_from(["growsdown", "fixed_noreplace"]), 50),
                      max_size=2, unique=True)


def _mmap(valid: bool = False) -> st.SearchStrategy[str]:
    """``mmap``; with ``valid`` an aligned, non-empty private or shared anonymous mapping."""
    types = MAP_TYPES if valid else BAD_MAP_TYPES
    extras = st.just([]) if valid else MAP_EXTRAS
    flags = st.builds(lambda kind, more: ",".join([kind, *more]), types, extras)
    return st.builds(lambda off, length, prot, words: f"mmap {off:#x} {length:#x} {prot} {words}",
                     _offsets(valid), _lengths(valid), PROTS, flags)


def _munmap() -> st.SearchStrategy[str]:
    return st.builds(lambda off, length: f"munmap {off:#x} {length:#x}", _offsets(), _lengths())


def _mprotect() -> st.SearchStrategy[str]:
    return st.builds(lambda off, length, prot: f"mprotect {off:#x} {length:#x} {prot}", _offsets(), _lengths(), PROTS)


def _touch() -> st.SearchStrategy[str]:
    return st.builds(lambda off, length: f"touch {off:#x} {length:#x}", _offsets(), _lengths())


MREMAP_FLAGS = _mostly(
    st.sampled_from(["-", "maymove", "maymove,fixed", "maymove,fixed", "maymove,dontunmap,fixed", "maymove,dontunmap"]),
    st.sampled_from(["fixed", "dontunmap", "dontunmap,fixed"]),
    8,
)


@st.composite
def _mremap(draw: st.DrawFn) -> str:
    """``mremap``: half of them keep the length (pure moves); FIXED always, DONTUNMAP sometimes, gets NEW."""
    off, flags = draw(_offsets()), draw(MREMAP_FLAGS)
    old_len = draw(_mostly(_lengths(), st.just(0), 5))
    keep = st.just(True) if "dontunmap" in flags else st.booleans()
    new_len = old_len if old_len and draw(_mostly(keep, st.just(False), 15)) else draw(_lengths())
    op = f"mremap {off:#x} {old_len:#x} {new_len:#x} {flags}"
    if "fixed" in flags or ("dontunmap" in flags and draw(st.booleans())):
        op += f" {draw(_offsets(pages=2 * ARENA_PAGES)):#x}"
    return op


OPERATIONS = st.one_of(_mmap(), _mmap(valid=True), _munmap(), _mprotect(), _mprotect(),
                       _mremap(), _mremap(), _mremap(), _touch(), _touch())
#: Sometimes the arena starts fully mapped, so that later operations meet VMAs rather than holes.
BASE = st.lists(st.builds(lambda prot, kind: f"mmap 0 {(ARENA_PAGES + 1) * P:#x} {prot} {kind}", PROTS, MAP_TYPES), max_size=1)
SETUP = st.lists(st.one_of(_mmap(valid=True), _mmap(valid=True), _touch()), min_size=1, max_size=6)
SEQUENCES = st.builds(lambda base, setup, rest: base + setup + rest, BASE, SETUP, st.lists(OPERATIONS, max_size=10))


@pytest.mark.slow
@needs_kernel
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sequence=SEQUENCES)
# Differences found while the model was brought in line, kept as regressions:
@example(sequence=[  # a piece moved next to its own VMA merges into it; the walk must not find it again
    "mmap 0 0xd000 rw- private,anonymous",
    "mremap 0x1000 0x1 0x1 maymove,dontunmap,fixed 0xd000",
])
@example(sequence=[  # a placement hint closer than stack_guard_gap below a growsdown VMA is not taken
    "mmap 0x8000 0x1000 rw- private,anonymous,growsdown",
    "mmap 0 0x1000 rw- private,anonymous",
    "mremap 0 0x1000 0x1000 maymove,dontunmap 0x4000",
])
@example(sequence=[  # old_len 0 duplicates shared memory; the copies merge where their pgoff fits
    "mmap 0x10000 0x3000 rw- shared,anonymous",
    "mremap 0x11000 0 0x1000 maymove",
    "mremap 0x11000 0 0x2000 maymove,fixed 0x12000",
    "mremap 0x10000 0 0x1000 maymove,fixed 0xf000",
])
def test_generated(sequence: list[str], helper: str) -> None:
    compare_with_kernel(sequence, helper)


# Neighbourhoods: prev, middle and next VMAs of private anonymous memory, each faulted or not,
# faulted while apart or together, the middle made by mmap, by a move, by growing prev, then
# re-protected: anon_vma reuse and merges with different anon_vmas only show in such sequences
# (random operations almost never line them up).

AWAY = 0x10000
NEAR_PROTS = st.sampled_from(["rw-", "r--", "rwx"])
NEAR_FLAGS = st.sampled_from(["", "", "", ",populate", ",noreserve"])
_pages = st.sampled_from([1, 1, 2])


def _anon(addr: int, pages: int, prot: str, more: str = "") -> str:
    return f"mmap {addr:#x} {pages * P:#x} {prot} private,anonymous{more}"


@st.composite
def _outer(draw: st.DrawFn, addr: int, pages: int) -> list[str]:
    """prev or next: absent, or mapped and maybe faulted."""
    if not draw(_mostly(st.just(True), st.just(False), 15)):
        return []
    ops_ = [_anon(addr, pages, draw(NEAR_PROTS), draw(NEAR_FLAGS))]
    return ops_ + ([f"touch {addr:#x} {pages * P:#x}"] if draw(st.booleans()) else [])


@st.composite
def _middle(draw: st.DrawFn, addr: int, pages: int, prev_pages: int) -> list[str]:
    """The middle VMA: mapped in place, moved in (maybe faulted first; maybe DONTUNMAP), or grown from prev."""
    how = draw(st.sampled_from(["mmap", "move", "move", "grow"]))
    prot = draw(NEAR_PROTS)
    if how == "mmap":
        return [_anon(addr, pages, prot, draw(NEAR_FLAGS))]
    if how == "grow":
        return [f"mremap 0 {prev_pages * P:#x} {(prev_pages + pages) * P:#x} -"]
    ops_ = [_anon(AWAY, pages, prot)]
    if draw(st.booleans()):
        ops_.append(f"touch {AWAY:#x} {pages * P:#x}")
    flags = draw(st.sampled_from(["maymove,fixed", "maymove,dontunmap,fixed"]))
    return ops_ + [f"mremap {AWAY:#x} {pages * P:#x} {pages * P:#x} {flags} {addr:#x}"]


@st.composite
def neighbourhoods(draw: st.DrawFn) -> list[str]:
    prev_pages, middle_pages, next_pages = draw(_pages), draw(_pages), draw(_pages)
    middle, after = prev_pages * P, (prev_pages + middle_pages) * P
    outer = [draw(_outer(0, prev_pages)), draw(_outer(after, next_pages))]
    if draw(st.booleans()):
        outer.reverse()
    ops_ = outer[0] + outer[1] + draw(_middle(middle, middle_pages, prev_pages))
    if draw(st.booleans()):
        ops_.append(f"touch {middle:#x} {middle_pages * P:#x}")
    span = st.sampled_from([(middle, middle_pages * P), (0, after + next_pages * P), (0, after)])
    for _ in range(draw(st.integers(1, 2))):
        start, length = draw(span)
        ops_.append(f"mprotect {start:#x} {length:#x} {draw(NEAR_PROTS)}")
    return ops_ + draw(st.lists(NEAR_OPERATIONS, max_size=4))


def _slot() -> st.SearchStrategy[int]:
    return st.integers(0, 5).map(lambda slot: slot * P)


def _slot_pages() -> st.SearchStrategy[int]:
    return st.sampled_from([1, 1, 2, 3]).map(lambda pages: pages * P)


NEAR_OPERATIONS = st.one_of(
    st.builds(lambda off, length, prot, more: f"mmap {off:#x} {length:#x} {prot} private,anonymous{more}",
              _slot(), _slot_pages(), NEAR_PROTS, NEAR_FLAGS),
    st.builds(lambda off, length: f"touch {off:#x} {length:#x}", _slot(), _slot_pages()),
    st.builds(lambda off, length, prot: f"mprotect {off:#x} {length:#x} {prot}", _slot(), _slot_pages(), NEAR_PROTS),
    st.builds(lambda off, length: f"munmap {off:#x} {length:#x}", _slot(), _slot_pages()),
    st.builds(lambda off, length, flags, new: f"mremap {off:#x} {length:#x} {length:#x} {flags} {new + AWAY:#x}",
              _slot(), _slot_pages(), st.sampled_from(["maymove,fixed", "maymove,dontunmap,fixed"]), _slot()),
    st.builds(lambda off, length, flags, new: f"mremap {off + AWAY:#x} {length:#x} {length:#x} {flags} {new:#x}",
              _slot(), _slot_pages(), st.sampled_from(["maymove,fixed", "maymove,dontunmap,fixed"]), _slot()),
    st.builds(lambda off, old, new: f"mremap {off:#x} {old:#x} {new:#x} -", _slot(), _slot_pages(), _slot_pages()),
)


@pytest.mark.slow
@needs_kernel
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sequence=neighbourhoods())
def test_generated_neighbourhood(sequence: list[str], helper: str) -> None:
    compare_with_kernel(sequence, helper)


# File-backed mappings (KERNEL_FACTS 10): files opened once and mapped many times or opened per
# mmap (PATH), read-only and read-write, through symlinks and "..", /dev/zero, a directory and a
# missing path, then changed the ways anonymous memory is.  File offsets mostly follow the arena
# offset (offset = address - shift), so adjacent mappings of one fd line up to merge; files are
# one or two pages long, so mappings reach past their end and touches fault there.

FILE_PATHS = _mostly(
    st.sampled_from([
        "{files}/two-pages", "{files}/two-pages", "{files}/page-and-half", "{files}/link-to-two-pages",
        "{files}/sub/one-page", "{files}/link-to-sub/one-page", "{files}/sub/../two-pages", "/dev/zero",
    ]),
    st.sampled_from(["{files}/sub", "{files}/missing", "{files}/link-to-sub"]),
    8,
)
FILE_ACCESS = _mostly(st.sampled_from(["r", "rw"]), st.just("w"), 10)
FILE_MAP_TYPES = _mostly(st.sampled_from(["private", "shared"]), st.sampled_from(["private,shared", "private,anonymous"]), 12)
FILE_MAP_EXTRAS = _mostly(st.just(""), st.sampled_from([",populate", ",noreserve", ",growsdown", ",fixed_noreplace"]), 15)
OPEN_FILES = st.builds(lambda path, access: f"open {path} {access}", FILE_PATHS, FILE_ACCESS)
ODD_OFFSETS = st.sampled_from([0x800, 0x7FFFFFFFFFFFF000, 0xFFFFFFFFFFFFF000, 0x7FFFFFFFFFFFE000])


def _fds(opens: int) -> st.SearchStrategy[int]:
    """A descriptor the sequence's opens gave (3 first), rarely one never opened."""
    return _mostly(st.integers(3, 2 + opens), st.just(9), 5)


@st.composite
def _file_mmap(draw: st.DrawFn, shift: int, opens: int) -> str:
    off, length, prot = draw(_offsets(aligned=True)), draw(_lengths(valid=True)), draw(PROTS)
    source = draw(_mostly(_fds(opens).map(lambda fd: f"fd={fd}"), FILE_PATHS, 35))
    offset = draw(_mostly(st.just(max(off - shift * P, 0)), ODD_OFFSETS, 6))
    return f"mmap {off:#x} {length:#x} {prot} {draw(FILE_MAP_TYPES)}{draw(FILE_MAP_EXTRAS)} {source} {offset:#x}"


def _vma_query() -> st.SearchStrategy[str]:
    return st.builds(lambda word, off: f"{word} {off:#x}", st.sampled_from(["vmflags", "rss"]), _offsets(aligned=True))


@st.composite
def file_sequences(draw: st.DrawFn) -> list[str]:
    shift = draw(st.integers(0, 2))
    opens = draw(st.lists(OPEN_FILES, min_size=1, max_size=3))
    # Sometimes one fd covers the arena first, so that later operations split and merge its pieces.
    base = draw(st.lists(st.builds(lambda prot, kind: f"mmap 0 {(ARENA_PAGES + 1) * P:#x} {prot} {kind} fd=3 0",
                                   PROTS, st.sampled_from(["private", "shared"])), max_size=1))
    setup = draw(st.lists(_file_mmap(shift, len(opens)), min_size=1, max_size=5))
    rest = draw(st.lists(st.one_of(
        _file_mmap(shift, len(opens)), _file_mmap(shift, len(opens)), _mmap(valid=True), _munmap(),
        _mprotect(), _mprotect(), _mremap(), _mremap(), _touch(), _touch(), _vma_query(), _vma_query(),
        _fds(len(opens)).map(lambda fd: f"close {fd}"), OPEN_FILES,
    ), max_size=10))
    return opens + base + setup + rest


@pytest.fixture(scope="session")
def compare_files(helper: str, files_dir: Path) -> Callable[[list[str]], None]:
    """Compare a file sequence on the kernel and the model, ``{files}`` being the session's files."""
    return lambda ops: compare_with_kernel([files.expand(op, files_dir) for op in ops], helper)


@needs_kernel
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sequence=file_sequences())
def test_generated_files(sequence: list[str], compare_files: Callable[[list[str]], None]) -> None:
    compare_files(sequence)


# --------------------------------------------------------------------------
# max_map_count edges (KERNEL_FACTS 7 and 8)

#: The edge experiments happen at EDGE, above the one-page fill VMAs that raise the count.
EDGE = 0x20100000
MAP_COUNT_ARENA = EDGE + 0x100000
ANON = "rw- private,anonymous"


class MapCountWalk:
    """Operations that walk the process's VMA count along max_map_count's edges.

    One-page fill VMAs at every other page of the arena's bottom raise or
    lower the count; ``expect`` records what the ``count`` operations must say.
    """

    def __init__(self, own_vmas: int) -> None:
        self.count = own_vmas
        self.fill = 0
        self.ops: list[str] = []
        self.expected_counts: list[str] = []

    def op(self, text: str, change: int = 0) -> None:
        self.ops.append(text)
        self.count += change

    def set_count(self, count: int) -> None:
        while self.count < count:
            self.op(f"mmap {2 * self.fill * P:#x} {P:#x} {ANON}", +1)
            self.fill += 1
        while self.count > count:
            self.fill -= 1
            self.op(f"munmap {2 * self.fill * P:#x} {P:#x}", -1)
        self.expect()

    def expect(self) -> None:
        self.ops.append("count")
        self.expected_counts.append(str(self.count))


def map_count_walk(own_vmas: int) -> tuple[MapCountWalk, int]:
    """The walk, and how many of its first operations only fill (the simulation installs those directly)."""
    a, b, c, d = EDGE, EDGE + 8 * P, EDGE + 16 * P, EDGE + 48 * P
    walk = MapCountWalk(own_vmas)
    for addr, pages, prot in ((a, 3, "rw-"), (b, 1, "rw-"), (c, 3, "rw-"), (d, 2, "rw-"), (d + 2 * P, 2, "r--")):
        walk.op(f"mmap {addr:#x} {pages * P:#x} {prot} private,anonymous", +1)
    walk.set_count(MAX_MAP_COUNT - 7)
    bulk = len(walk.ops) - 1
    walk.op(f"mremap {b:#x} {P:#x} {P:#x} maymove,fixed {EDGE + 32 * P:#x}")  # below the mremap limit
    walk.set_count(MAX_MAP_COUNT - 6)
    walk.op(f"mremap {EDGE + 32 * P:#x} {P:#x} {P:#x} maymove,fixed {b:#x}")
    walk.set_count(MAX_MAP_COUNT - 5)  # map_count + 2 >= max - 3: every FIXED/DONTUNMAP mremap fails
    walk.op(f"mremap {b:#x} {P:#x} {P:#x} maymove,fixed {EDGE + 40 * P:#x}")
    walk.op(f"mremap {EDGE + 100 * P:#x} {P:#x} {P:#x} maymove,fixed {EDGE + 40 * P:#x}")  # before EFAULT
    walk.op(f"mremap {b:#x} {P:#x} {P:#x} maymove,dontunmap")
    walk.op(f"mremap {b:#x} {P:#x} {2 * P:#x} -")  # growing in place has no limit
    walk.op(f"mremap {b:#x} {2 * P:#x} {P:#x} -")
    walk.set_count(MAX_MAP_COUNT - 3)  # move_vma's own limit
    walk.op(f"mremap {a:#x} {P:#x} {2 * P:#x} maymove")
    walk.set_count(MAX_MAP_COUNT - 1)
    walk.op(f"mprotect {a + P:#x} {P:#x} r--", +1)  # the first split happens, the second fails
    walk.expect()
    walk.op(f"munmap {c + P:#x} {P:#x}")  # strictly inside one VMA
    walk.op(f"mmap {c + P:#x} {P:#x} r-- private,anonymous")  # MAP_FIXED strictly inside one VMA
    walk.op(f"mprotect {c:#x} {P:#x} r--")  # one split is one too many
    walk.op(f"mprotect {a + P:#x} {2 * P:#x} r--")  # no split needed
    walk.op(f"mprotect {a + P:#x} {2 * P:#x} rw-", -1)  # merges back with the first page
    walk.expect()
    walk.set_count(MAX_MAP_COUNT)
    walk.op(f"mmap {EDGE + 24 * P:#x} {P:#x} {ANON}", +1)  # a process can reach max + 1
    walk.expect()
    walk.op(f"mmap {EDGE + 25 * P:#x} {P:#x} {ANON}")  # refused even though it would merge
    walk.op(f"mmap {EDGE + 26 * P + 0x800:#x} {P:#x} {ANON}")  # ENOMEM before the alignment EINVAL
    walk.op(f"mmap {EDGE + 26 * P:#x} 0 {ANON}")  # EINVAL before ENOMEM
    walk.op(f"mmap {EDGE + 26 * P:#x} {P:#x} rw- private")  # EBADF first of all
    walk.op(f"mremap {b:#x} {P:#x} {2 * P:#x} -")
    walk.op(f"munmap {c:#x} {P:#x}")  # a prefix
    walk.op(f"munmap {d + P:#x} {2 * P:#x}")  # across two VMAs
    walk.op(f"mprotect {EDGE + 24 * P:#x} {P:#x} r--")
    walk.expect()
    walk.op(f"munmap {EDGE + 24 * P:#x} {P:#x}", -1)
    walk.expect()
    return walk, bulk


async def simulate_map_count(walk: MapCountWalk, bulk: int, own_vmas: int) -> tuple[list[str], list[str]]:
    """Replay ``walk`` on a simulation holding ``own_vmas`` VMAs outside the arena, like the helper.

    The first fill VMA is mapped through ctl; the other ``bulk`` fill
    operations install copies of it, which is what those mmaps would make.
    """
    sim = Simulation(MAP_COUNT_ARENA)
    for index in range(own_vmas):
        sim.mm.install(Vma(0x7E0000000000 + 2 * index * P, 0x7E0000000000 + (2 * index + 1) * P, VmFlags.READ))
    results = [await sim.run(op) for op in walk.ops[:6]]
    fill = sim.mm.tree.lookup(ARENA)
    assert fill is not None
    for op in walk.ops[6:bulk]:
        start = ARENA + _number(op.split()[1])
        sim.mm.install(fill.copy(start, start + P))
        results.append(hex(start - ARENA))
    results += [await sim.run(op) for op in walk.ops[bulk:]]
    return results, sim.lines(EDGE)


@pytest.mark.slow
@needs_kernel
def test_map_count_edges(helper: str) -> None:
    own_vmas = int(kernel.run_kernel(["count"], helper=helper)[0][0])
    walk, bulk = map_count_walk(own_vmas)
    assert walk.ops[5] == "mmap 0x0 0x1000 rw- private,anonymous" and walk.ops[bulk] == "count"
    k_results, k_lines = kernel.run_kernel(walk.ops, MAP_COUNT_ARENA, helper=helper)
    s_results, s_lines = trio.run(simulate_map_count, walk, bulk, own_vmas)
    counts = [result for op, result in zip(walk.ops, k_results) if op == "count"]
    assert counts == walk.expected_counts, "the kernel did not count as the walk expects"
    for op, k_result, s_result in list(zip(walk.ops, k_results, s_results))[bulk:]:
        assert s_result == k_result, f"{op!r}: kernel {k_result!r}, simulation {s_result!r}"
    k_edge = [line for line in k_lines if int(line.split("-")[0], 16) >= EDGE]
    assert s_lines == k_edge, f"kernel:\n{_table(k_edge)}\nsimulation:\n{_table(s_lines)}"
