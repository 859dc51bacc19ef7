"""The call registry: every command is one value type whose line round-trips, and a new one is one class."""

from __future__ import annotations

import errno
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeproc import cli
from fakeproc.calls import (
    PROCESS_CALLS, ROOT_CALLS, Call, Clone, Close, Info, Kill, Mmap, Mprotect, Mremap, Munmap, Open, ProcessSummary, Query,
    SelfView, Spawn, Touch, check_arity,
)
from fakeproc.ctl import process_session
from fakeproc.errors import SyscallError
from fakeproc.mm.query import QueryFlags
from fakeproc.mm.syscalls import MapFlags, MremapFlags
from fakeproc.mm.vma import VmFlags
from fakeproc.mm.walk import LockMode
from fakeproc.population import LAYOUTS
from fakeproc.process import Process, ProcessTable
from fakeproc.workloads.base import Calls, Pause, run_calls

# -- adding a command touches nothing but its class ---------------------------


@pytest.fixture
def count_call() -> Iterator[type[Call[Process]]]:
    """A ``count`` command (how many VMAs), registered the way fakeproc.calls registers its own."""

    @PROCESS_CALLS.register
    @dataclass(frozen=True)
    class Count(Call[Process]):
        name = "count"
        summary = "print how many VMAs the process has"
        usage = "count"
        arguments = ()

        @classmethod
        def parse(cls, words: Sequence[str]) -> Count:
            check_arity(words, 0, 0, cls.usage)
            return cls()

        def line(self) -> str:
            return "count"

        async def apply(self, process: Process) -> str:
            return str(process.mm.map_count)

    try:
        yield Count
    finally:
        PROCESS_CALLS.unregister("count")


async def test_a_new_command_runs_in_a_ctl_session(count_call: type[Call[Process]]) -> None:
    process = ProcessTable().spawn("counted")
    session = process_session(process)
    await session.write(b"mmap 0 0x1000 rw- private,anonymous\nmmap 0 0x1000 r-- private,anonymous\ncount\n")
    assert session.read(4096).decode().splitlines()[2] == "2"
    with pytest.raises(SyscallError) as failure:
        await session.write(b"count 1\n")
    assert failure.value.errno == errno.EINVAL and session.read(4096) == b"error: EINVAL usage: count\n"


def test_a_new_command_is_a_cli_subcommand(count_call: type[Call[Process]], capsys: pytest.CaptureFixture[str]) -> None:
    args = cli.build_parser().parse_args(["count", "1000"])
    assert args.call_type is count_call and args.pid == "1000" and args.per_process
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--help"])
    assert "count" in capsys.readouterr().out


async def test_an_unregistered_command_is_unknown() -> None:
    assert "count" not in [call_type.name for call_type in PROCESS_CALLS]
    with pytest.raises(SyscallError) as failure:
        await process_session(ProcessTable().spawn("p")).write(b"count\n")
    assert failure.value.errno == errno.EINVAL


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="already registered"):
        PROCESS_CALLS.register(Mmap)


# -- every registered call's line round-trips ----------------------------------

ULONG = st.integers(0, (1 << 64) - 1)
PROT = st.integers(0, 7).map(VmFlags)


def _flags(flag_type: type[Any], min_size: int = 0) -> st.SearchStrategy[Any]:
    members = [flag for flag in flag_type if flag.value]
    return st.sets(st.sampled_from(members), min_size=min_size).map(lambda chosen: reduce(or_, chosen, flag_type(0)))


#: A word of a ctl line: printable, no whitespace.
WORD = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1).filter(
    lambda text: text.split() == [text]
)
NAME = st.from_regex(r"[A-Za-z0-9_.:+-]{1,64}", fullmatch=True)
LOCK = st.none() | st.sampled_from(list(LockMode))
FILE_MAP_FLAGS = _flags(MapFlags, min_size=1).filter(lambda flags: not flags & MapFlags.ANONYMOUS)
#: A PATH word of mmap: ``fd=`` starts the descriptor form instead.
PATH_WORD = WORD.filter(lambda text: not text.startswith("fd="))

STRATEGIES: dict[type[Call[Any]], st.SearchStrategy[Call[Any]]] = {
    Mmap: st.one_of(
        st.builds(Mmap, ULONG, ULONG, PROT, _flags(MapFlags, min_size=1)),
        st.builds(Mmap, ULONG, ULONG, PROT, FILE_MAP_FLAGS, PATH_WORD, ULONG),
        st.builds(Mmap, ULONG, ULONG, PROT, _flags(MapFlags, min_size=1), st.none(), ULONG, ULONG),
    ),
    Open: st.builds(Open, WORD, st.sampled_from(["r", "w", "rw"])),
    Close: st.builds(Close, ULONG),
    Munmap: st.builds(Munmap, ULONG, ULONG),
    Mprotect: st.builds(Mprotect, ULONG, ULONG, PROT),
    Mremap: st.builds(Mremap, ULONG, ULONG, ULONG, _flags(MremapFlags), ULONG),
    Query: st.builds(Query, ULONG, _flags(QueryFlags)),
    Touch: st.builds(Touch, ULONG, ULONG),
    Spawn: st.one_of(
        st.builds(Spawn, st.none() | NAME, st.sampled_from(list(LAYOUTS)), LOCK),
        st.builds(Spawn, st.none() | NAME, st.just("empty"), LOCK, WORD,
                  st.none() | st.floats(0, 1e6, exclude_min=True)),
    ),
    Info: st.builds(Info),
    Kill: st.builds(Kill, ULONG),
    Clone: st.builds(Clone, ULONG),
    SelfView: st.builds(SelfView, ULONG, ULONG),
}


def registry_of(call: Call[Any]) -> Any:
    return PROCESS_CALLS if type(call) in set(PROCESS_CALLS) else ROOT_CALLS


def test_every_registered_call_has_a_strategy() -> None:
    assert set(STRATEGIES) == set(PROCESS_CALLS) | set(ROOT_CALLS)


@given(st.one_of(*STRATEGIES.values()))
def test_line_round_trips(call: Call[Any]) -> None:
    line = call.line()
    registry = registry_of(call)
    assert type(call).parse(line.split()) == call
    assert registry.parse(line) == call
    assert line.split()[0] == call.name and registry.parse(line).line() == line


@pytest.mark.parametrize("line, call", [
    ("mmap 0 4096 rw- private,anonymous", Mmap(0, 0x1000, VmFlags.READ | VmFlags.WRITE, MapFlags.PRIVATE | MapFlags.ANONYMOUS)),
    ("mmap 0X10 0x1000 r-x shared,shared /bin/sh 8192", Mmap(0x10, 0x1000, VmFlags.READ | VmFlags.EXEC, MapFlags.SHARED, "/bin/sh", 0x2000)),
    ("mmap 0 0x1000 r-- private /bin/sh", Mmap(0, 0x1000, VmFlags.READ, MapFlags.PRIVATE, "/bin/sh", 0)),
    ("mremap 0x1000 0x1000 0x2000", Mremap(0x1000, 0x1000, 0x2000)),
    ("mremap 0x1000 0x1000 0x2000 0", Mremap(0x1000, 0x1000, 0x2000)),
    ("mremap 0x1000 0x1000 0x2000 fixed,maymove 0x9000", Mremap(0x1000, 0x1000, 0x2000, MremapFlags.MAYMOVE | MremapFlags.FIXED, 0x9000)),
    ("query 5 readable,,covering_or_next", Query(5, QueryFlags.READABLE | QueryFlags.COVERING_OR_NEXT)),
    ("spawn", Spawn()),
    ("spawn layout=demo first lock=nolock second", Spawn("second", "demo", LockMode.NOLOCK)),
    ("spawn rate=0.5 workload=toggler:split", Spawn(None, "empty", None, "toggler:split", 0.5)),
    ("kill 0x3e8", Kill(1000)),
])
def test_parse_reads_every_spelling(line: str, call: Call[Any]) -> None:
    assert registry_of(call).parse(line) == call


# -- malformed lines are EINVAL with a message saying what is wrong -------------


@pytest.mark.parametrize("line, message", [
    ("", "empty command"),
    ("frobnicate 1", "unknown command 'frobnicate'; commands: mmap, open, close, munmap, mprotect, mremap, query, touch, info"),
    ("mmap 0 0x1000 rw-", "usage: mmap ADDR LEN PROT FLAGS [fd=N|PATH [OFFSET]]"),
    ("mmap 0 0x1000 r-- private /bin/sh 0 0", "usage: mmap ADDR LEN PROT FLAGS [fd=N|PATH [OFFSET]]"),
    ("info 1", "usage: info"),
    ("munmap 0x1000", "usage: munmap ADDR LEN"),
    ("mremap 0 1", "usage: mremap OLD OLDLEN NEWLEN [FLAGS [NEWADDR]]"),
    ("mmap -1 0x1000 rw- private,anonymous", "ADDR must be 0x hex or decimal, not '-1'"),
    ("touch 0 18446744073709551616", "LEN 18446744073709551616 does not fit in an unsigned long"),
    ("mprotect 0 0x1000 rwz", "PROT must be three characters like rw- or r-x, not 'rwz'"),
    ("mmap 0 0x1000 rw- private,bogus",
     "FLAGS 'private,bogus': use comma-separated words from private, shared, anonymous, fixed, fixed_noreplace, "
     "populate, growsdown, noreserve"),
    ("mremap 0 1 1 sideways", "FLAGS 'sideways': use comma-separated words from maymove, fixed, dontunmap"),
    ("query 0 ,", "FLAGS ',': use comma-separated words from covering_or_next, file_backed, readable, writable, "
     "executable, shared"),
])
def test_process_call_errors(line: str, message: str) -> None:
    with pytest.raises(SyscallError) as failure:
        PROCESS_CALLS.parse(line)
    assert failure.value.errno == errno.EINVAL and failure.value.strerror == message


@pytest.mark.parametrize("line, message", [
    ("mmap 0 1 rw- private", "unknown command 'mmap'; commands: spawn, kill, clone, self"),
    ("spawn layout=huge", "layout 'huge' is not one of empty, demo, many"),
    ("spawn lock=rcu", "lock mode 'rcu' is not one of mmap, vma, vma-nogapcheck, nolock"),
    ("spawn a=b", "spawn: unexpected 'a=b'; usage: spawn [NAME] [layout=empty|demo|many | workload=KIND[:ARG] "
     "[rate=N]] [lock=MODE]"),
    ("spawn workload=mapper layout=demo",
     "spawn: a workload builds its own address space; give layout= or workload=, not both"),
    ("spawn rate=4", "spawn: rate= paces a workload; give workload= too"),
    ("spawn workload=mapper rate=0", "rate '0' must be a number of changes per second, above 0 and at most 1e+06"),
    ("spawn workload=mapper rate=nan", "rate 'nan' must be a number of changes per second, above 0 and at most 1e+06"),
    ("kill", "usage: kill PID"),
    ("clone 1 2", "usage: clone PID"),
    ("self 1", "usage: self REALPID PID"),
])
def test_root_call_errors(line: str, message: str) -> None:
    with pytest.raises(SyscallError) as failure:
        ROOT_CALLS.parse(line)
    assert failure.value.errno == errno.EINVAL and failure.value.strerror == message


async def test_a_missing_file_fails_when_applied_with_the_open_errno() -> None:
    call = PROCESS_CALLS.parse("mmap 0 0x1000 r-- private /nonexistent/file 0")
    with pytest.raises(SyscallError) as failure:
        await call.apply(ProcessTable().spawn("p"))
    assert failure.value.errno == errno.ENOENT and "cannot open /nonexistent/file" in str(failure.value)


# -- workloads: the runner sends each result back ------------------------------


async def test_run_calls_sends_each_result_back() -> None:
    process = ProcessTable().spawn("p")
    seen: list[str] = []

    def calls() -> Calls:
        addr = yield Mmap(0, 0x2000, VmFlags.READ, MapFlags.PRIVATE | MapFlags.ANONYMOUS)
        seen.append(addr)
        seen.append((yield Pause()))
        seen.append((yield Munmap(int(addr, 16), 0x1000)))

    await run_calls(process, calls())
    [vma] = process.mm.vmas()
    assert seen == [f"{vma.start - 0x1000:#x}", "", "0"] and vma.end - vma.start == 0x1000


# -- spawn workload= and info ------------------------------------------------------


async def test_a_workload_needs_a_daemon_to_run_in() -> None:
    table = ProcessTable()
    with pytest.raises(SyscallError) as failure:
        await ROOT_CALLS.run(table, "spawn workload=mapper")
    assert failure.value.errno == errno.EOPNOTSUPP and len(table) == 0


async def test_info_describes_the_process_and_reads_back() -> None:
    process = ProcessTable(lock_mode=LockMode.MMAP).spawn("two words")
    await PROCESS_CALLS.run(process, "mmap 0 0x3000 rw- private,anonymous")
    process.workload, process.workload_rate = "toggler:split", 2.5
    line = await PROCESS_CALLS.run(process, "info")
    assert line == "pid=1000 vmas=1 size_kb=12 lock=mmap workload=toggler:split rate=2.5 comm=two words"
    assert ProcessSummary.from_words(line) == ProcessSummary(1000, "two words", 1, 12, "mmap", "toggler:split", 2.5)
    with pytest.raises(ValueError, match="not an info line"):
        ProcessSummary.from_words("pid=1000 comm=x")
