"""The ``fakeproc`` command: ``mount`` serves the filesystem; the others drive ctl files."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import trio

from . import execview
from .calls import PROCESS_CALLS, ROOT_CALLS, Call, ProcessSummary, format_summaries
from .client import CtlRejected, ctl_path, round_trip
from .errors import SyscallError
from .mm.mm import Limits
from .mm.walk import LockMode
from .mounts import clear_stale_mount, fakeproc_mounts, mount_type
from .population import LAYOUTS, clone_real_process
from .process import DEFAULT_MAX_PROCESSES, FIRST_PID, PID_MAX_LIMIT, ProcessTable
from .sched import Preempter, parse_policy
from .workloads import WORKLOAD_FORMS, Workload, demo_workloads, parse_workload

PROG = "fakeproc"
T = TypeVar("T")


def _argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse ``type=`` from a parser that raises ValueError with a readable message."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


def add_mount_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mountpoint", help="an existing empty directory")
    parser.add_argument("--population", choices=["demo", "empty"], default="demo",
                        help="processes to start with (default: demo, which includes a gentle mapper and toggler)")
    parser.add_argument("--clone", type=int, action="append", default=[], metavar="PID",
                        help="copy a real process's maps into a new simulated one (repeatable)")
    parser.add_argument("--lock-mode", type=_argument(LockMode.parse), default=LockMode.VMA,
                        help="how maps readers lock: mmap, vma (default), vma-nogapcheck, nolock")
    parser.add_argument("--preempt", type=_argument(parse_policy), default=None,
                        help="preemption policy: virtual[:USEC] (default virtual:8), slice[:USEC], always, never, random:SEED[:P]")
    parser.add_argument("--workload", type=_argument(parse_workload), action="append", default=[],
                        help=f"start a workload process (repeatable): {WORKLOAD_FORMS}")
    parser.add_argument("--ready-file", type=Path, help="write this file once the mount is usable")
    parser.add_argument("--stats-file", type=Path,
                        help="at exit, write workload and reader statistics (JSON) to this file")
    parser.add_argument("--max-processes", type=_argument(parse_max_processes), default=DEFAULT_MAX_PROCESSES,
                        metavar="N", help=f"live simulated processes at most; spawn and clone past it fail with "
                                          f"EAGAIN (default {DEFAULT_MAX_PROCESSES})")
    parser.add_argument("--allow-other", action="store_true", help="let other users access the mount")
    parser.add_argument("--passthrough", action="store_true",
                        help="a complete /proc for `fakeproc exec`: the host's processes and files, read-only, "
                             "beside simulated ones numbered above the kernel's pid limit")
    parser.add_argument("--mmap-min-addr", type=_argument(_non_negative), metavar="BYTES",
                        help="pin vm.mmap_min_addr (default: the host's)")
    parser.add_argument("--max-map-count", type=_argument(_non_negative), metavar="N",
                        help="pin vm.max_map_count (default: the host's)")
    parser.add_argument("--thp-align", choices=["on", "off"],
                        help="pin whether large anonymous mappings are 2 MiB aligned "
                             "(default: on where the host has transparent huge pages)")
    parser.add_argument("--debug", action="store_true", help="log every request")


def parse_max_processes(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{text!r} is not a positive number of processes")
    return int(text)


def _non_negative(text: str) -> int:
    value = int(text, 0)
    if value < 0:
        raise ValueError(f"{text} is negative")
    return value


def mount_limits(args: argparse.Namespace) -> Limits:
    """The host's limits, with what the options pin."""
    host = Limits.from_host()
    return Limits(
        host.mmap_min_addr if args.mmap_min_addr is None else args.mmap_min_addr,
        host.max_map_count if args.max_map_count is None else args.max_map_count,
        host.thp_align if args.thp_align is None else args.thp_align == "on",
    )


def build_table(args: argparse.Namespace) -> ProcessTable:
    first_pid = PID_MAX_LIMIT if args.passthrough else FIRST_PID
    table = ProcessTable(Preempter(args.preempt), args.lock_mode, first_pid, args.max_processes, mount_limits(args))
    if args.population == "demo":
        LAYOUTS["demo"](table.spawn("bash"))
        LAYOUTS["many"](table.spawn("many-vmas"))
    for pid in args.clone:
        clone_real_process(table, pid)
    return table


def run_mount(args: argparse.Namespace) -> int:
    from .fuse.server import FuseUnavailable, serve

    mountpoint = os.path.abspath(args.mountpoint)
    if clear_stale_mount(mountpoint):
        print(f"{PROG}: cleared a stale mount at {mountpoint}", file=sys.stderr)
    if not os.path.isdir(mountpoint):
        print(f"{PROG}: {mountpoint} is not a directory", file=sys.stderr)
        return 1
    # Mounting over a live mount hides it, and unmounting either one later breaks both.
    busy = mount_type(os.path.realpath(mountpoint))
    if busy is not None:
        print(f"{PROG}: {mountpoint} is already a mount point ({busy}); unmount it first", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(name)s: %(message)s")
    try:
        table = build_table(args)
        if len(table) + len(args.workload) > table.max_processes:
            raise SyscallError(errno.EAGAIN, f"{len(table) + len(args.workload)} processes to start")
    except OSError as error:
        too_many = isinstance(error, SyscallError) and error.errno == errno.EAGAIN
        hint = f"--max-processes {args.max_processes} is too low: " if too_many else ""
        print(f"{PROG}: {hint}{error.strerror}", file=sys.stderr)
        return 1
    workloads: list[Workload] = [*(demo_workloads() if args.population == "demo" else []), *args.workload]
    try:
        trio.run(serve, mountpoint, table, workloads, args.ready_file, args.debug, args.allow_other, args.stats_file,
                 args.passthrough)
    except FuseUnavailable as error:
        print(f"{PROG}: FUSE is unavailable: {error}", file=sys.stderr)
        return 1
    return 0


def mount_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mount.py", description="Mount a fake /proc.")
    add_mount_arguments(parser)
    return run_mount(parser.parse_args(argv))


# -- ctl subcommands ------------------------------------------------------

MOUNT_HELP = "the mountpoint (default: $FAKEPROC_MOUNT, else the one fakeproc mount in the mount table)"


class NoMount(Exception):
    """No mountpoint was given and the mount table does not name exactly one."""


def find_mount(given: str | None) -> str:
    """``given`` (``--mount`` or $FAKEPROC_MOUNT), else the only live fakeproc mount; NoMount says why not."""
    if given:
        return given
    mounts = fakeproc_mounts()
    if len(mounts) == 1:
        return mounts[0]
    if mounts:
        listed = "".join(f"\n    {path}" for path in mounts)
        raise NoMount(f"{len(mounts)} fakeproc mounts; choose one with --mount MNT or FAKEPROC_MOUNT=MNT:{listed}")
    raise NoMount("no fakeproc mount found: start one with ./scripts/run [MOUNTPOINT] (or fakeproc mount MNT), "
                  "or name one with --mount MNT or FAKEPROC_MOUNT=MNT")


def _word_dest(index: int) -> str:
    return f"word{index}"


def _add_mount_option(parser: argparse.ArgumentParser) -> None:
    """``--mount`` after the subcommand too; SUPPRESS keeps the one before it when this one is not given."""
    parser.add_argument("--mount", default=argparse.SUPPRESS, metavar="MNT", help=MOUNT_HELP)


def _add_call_subcommand(commands: argparse._SubParsersAction, call_type: type[Call[Any]], per_process: bool) -> None:
    """A subcommand whose positionals are the call's words; run_ctl writes them back as one ctl line."""
    sub = commands.add_parser(call_type.name, help=call_type.summary, description=call_type.summary)
    _add_mount_option(sub)
    if per_process:
        sub.add_argument("pid", metavar="PID", help="the simulated process")
    for index, argument in enumerate(call_type.arguments):
        sub.add_argument(_word_dest(index), metavar=argument.metavar, help=argument.help,
                         nargs="?" if argument.optional else None)
    sub.set_defaults(call_type=call_type, per_process=per_process)


def build_parser() -> argparse.ArgumentParser:
    """``fakeproc``: ``mount``, ``ps``, and one subcommand per registered call."""
    parser = argparse.ArgumentParser(prog=PROG, description="Drive a fakeproc mount, or serve one (mount).")
    parser.add_argument("--mount", default=os.environ.get("FAKEPROC_MOUNT"), metavar="MNT", help=MOUNT_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_mount_arguments(commands.add_parser("mount", help="mount a fake /proc (same as python mount.py)"))
    execview.add_exec_arguments(commands.add_parser(
        "exec", help="run a command with the mount as its /proc",
        description="Run an unmodified command in a private mount namespace whose /proc is the mount "
                    "(start it with --passthrough); exits with the command's status."))
    ps = commands.add_parser("ps", help="list the simulated processes", description="One line per simulated process.")
    _add_mount_option(ps)
    ps.add_argument("--json", action="store_true", help="a JSON list of objects instead of a table")
    for call_type in ROOT_CALLS:
        _add_call_subcommand(commands, call_type, per_process=False)
    for call_type in PROCESS_CALLS:
        _add_call_subcommand(commands, call_type, per_process=True)
    return parser


def _failure(error: OSError, mount: str, pid: str | None) -> str:
    """What went wrong reaching a ctl file, in the user's terms rather than the path's."""
    if error.errno in (errno.ENOENT, errno.ESRCH) and pid is not None and os.path.exists(ctl_path(mount, None)):
        return f"no such process {pid}"
    if error.errno == errno.ENOENT and not os.path.exists(ctl_path(mount, None)):
        return f"{mount} is not a fakeproc mount (it has no ctl file)"
    return f"{error.filename or mount}: {error.strerror}"


def run_ctl(args: argparse.Namespace, mount: str) -> int:
    given = (getattr(args, _word_dest(index)) for index in range(len(args.call_type.arguments)))
    # The daemon parses the line: it is the one judge of what the words mean.
    words = [args.command, *(word for word in given if word is not None)]
    pid = args.pid if args.per_process else None
    try:
        output = round_trip(ctl_path(mount, pid), [" ".join(words)])
    except CtlRejected as error:
        if error.errno == errno.ESRCH and pid is not None:
            print(f"{PROG}: {args.command}: no such process {pid}", file=sys.stderr)
        else:
            print(f"{PROG}: {args.command}: {error.result or error.strerror}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"{PROG}: {args.command}: {_failure(error, mount, pid)}", file=sys.stderr)
        return 1
    if not args.call_type.status_only:
        print(output, end="")
    return 0


def process_summaries(mount: str) -> list[ProcessSummary]:
    """Every simulated process of ``mount``, by pid; one ctl round trip each.  A process killed meanwhile is left out."""
    # Any directory can be listed: only the root ctl file tells a mount from a folder of numbers.
    os.stat(ctl_path(mount, None))
    summaries = []
    for name in sorted((name for name in os.listdir(mount) if name.isdigit()), key=int):
        try:
            line = round_trip(ctl_path(mount, name), ["info"])
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ESRCH):
                continue
            raise
        summaries.append(ProcessSummary.from_words(line))
    return summaries


def run_ps(args: argparse.Namespace, mount: str) -> int:
    try:
        summaries = process_summaries(mount)
    except OSError as error:
        print(f"{PROG}: ps: {_failure(error, mount, None)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([dataclasses.asdict(summary) for summary in summaries], indent=2))
    else:
        print(format_summaries(summaries), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "mount":
        return run_mount(args)
    try:
        mount = find_mount(args.mount)
    except NoMount as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    if args.command == "exec":
        return execview.run(mount, execview.command_of(args.command_line), preload=execview.PRELOAD_LIBRARY,
                            self_pid=args.self_pid)
    return run_ps(args, mount) if args.command == "ps" else run_ctl(args, mount)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
