"""The ``fakeproc`` command: ``mount`` serves the filesystem; the others drive ctl files."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import trio

from .calls import PROCESS_CALLS, ROOT_CALLS, Call
from .client import CtlRejected, ctl_path, round_trip
from .mm.walk import LockMode
from .mounts import clear_stale_mount
from .population import LAYOUTS, clone_real_process
from .process import ProcessTable
from .sched import Preempter, parse_policy
from .workloads import WORKLOAD_FORMS, parse_workload

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
                        help="processes to start with (default: demo)")
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
    parser.add_argument("--allow-other", action="store_true", help="let other users access the mount")
    parser.add_argument("--debug", action="store_true", help="log every request")


def build_table(args: argparse.Namespace) -> ProcessTable:
    table = ProcessTable(Preempter(args.preempt), args.lock_mode)
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
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(name)s: %(message)s")
    try:
        table = build_table(args)
    except OSError as error:
        print(f"{PROG}: {error.strerror}", file=sys.stderr)
        return 1
    try:
        trio.run(serve, mountpoint, table, args.workload, args.ready_file, args.debug, args.allow_other, args.stats_file)
    except FuseUnavailable as error:
        print(f"{PROG}: FUSE is unavailable: {error}", file=sys.stderr)
        return 1
    return 0


def mount_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mount.py", description="Mount a fake /proc.")
    add_mount_arguments(parser)
    return run_mount(parser.parse_args(argv))


# -- ctl subcommands ------------------------------------------------------


def _word_dest(index: int) -> str:
    return f"word{index}"


def _add_call_subcommand(commands: argparse._SubParsersAction, call_type: type[Call[Any]], per_process: bool) -> None:
    """A subcommand whose positionals are the call's words; run_ctl writes them back as one ctl line."""
    sub = commands.add_parser(call_type.name, help=call_type.summary, description=call_type.summary)
    if per_process:
        sub.add_argument("pid", help="the simulated process")
    for index, argument in enumerate(call_type.arguments):
        sub.add_argument(_word_dest(index), metavar=argument.metavar, help=argument.help,
                         nargs="?" if argument.optional else None)
    sub.set_defaults(call_type=call_type, per_process=per_process)


def build_parser() -> argparse.ArgumentParser:
    """``fakeproc``: ``mount``, and one subcommand per registered call."""
    parser = argparse.ArgumentParser(prog=PROG, description="Drive a fakeproc mount, or serve one (mount).")
    parser.add_argument("--mount", default=os.environ.get("FAKEPROC_MOUNT"),
                        help="the mountpoint (default: $FAKEPROC_MOUNT)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_mount_arguments(commands.add_parser("mount", help="mount a fake /proc (same as python mount.py)"))
    for call_type in ROOT_CALLS:
        _add_call_subcommand(commands, call_type, per_process=False)
    for call_type in PROCESS_CALLS:
        _add_call_subcommand(commands, call_type, per_process=True)
    return parser


def run_ctl(args: argparse.Namespace) -> int:
    if not args.mount:
        print(f"{PROG}: no mount given: use --mount or set FAKEPROC_MOUNT", file=sys.stderr)
        return 2
    given = (getattr(args, _word_dest(index)) for index in range(len(args.call_type.arguments)))
    # The daemon parses the line: it is the one judge of what the words mean.
    words = [args.command, *(word for word in given if word is not None)]
    path = ctl_path(args.mount, args.pid if args.per_process else None)
    try:
        output = round_trip(path, [" ".join(words)])
    except CtlRejected as error:
        print(f"{PROG}: {args.command}: {error.result or error.strerror}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"{PROG}: {path}: {error.strerror}", file=sys.stderr)
        return 1
    print(output, end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "mount":
        return run_mount(args)
    return run_ctl(args)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
