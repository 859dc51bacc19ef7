"""The daemon: mount, serve, run workloads, and unmount cleanly on any catchable terminating signal."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pyfuse3
import trio

from .fs import ProcFs
from .reader_stats import ReaderStats
from ..calls import HostFiles, ProcessSummary, format_summaries
from ..process import ProcessTable
from ..workloads import Workload, WorkloadRunner


#: Signals whose default action ends the process, all of which the daemon turns
#: into a clean unmount (closing the terminal that runs it sends SIGHUP).  The
#: faults (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS) are left out: a real
#: one must still end the process, since a handler that returns would re-run the
#: faulting instruction; SIGPIPE and SIGXFSZ stay ignored, as Python sets them.
TERMINATING_SIGNALS: tuple[int, ...] = (
    signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGABRT, signal.SIGUSR1, signal.SIGUSR2,
    signal.SIGALRM, signal.SIGTERM, signal.SIGSTKFLT, signal.SIGXCPU,
    signal.SIGVTALRM, signal.SIGPROF, signal.SIGIO, signal.SIGPWR,
    *range(signal.SIGRTMIN, signal.SIGRTMAX + 1),
)


class FuseUnavailable(RuntimeError):
    """The kernel's FUSE or fusermount3 cannot be used."""


def _mount(fs: ProcFs, mountpoint: str, debug: bool, allow_other: bool) -> None:
    if not os.path.exists("/dev/fuse"):
        raise FuseUnavailable("/dev/fuse does not exist (load the fuse module or install fuse3)")
    options = set(pyfuse3.default_options)
    options.discard("default_permissions")
    options |= {"fsname=fakeproc", "subtype=fakeproc"}
    if allow_other:
        options.add("allow_other")
    if debug:
        options.add("debug")
    try:
        pyfuse3.init(fs, mountpoint, options)
    except RuntimeError as error:
        raise FuseUnavailable(str(error)) from None


def _say(line: str) -> None:
    """Print a status line; after SIGHUP the terminal may be gone, which must not stop the shutdown."""
    try:
        print(line, flush=True)
    except OSError:
        pass


def print_banner(mountpoint: str, table: ProcessTable) -> None:
    print(f"fakeproc: mounted at {mountpoint}")
    print(format_summaries([ProcessSummary.of(process) for process in table]), end="", flush=True)


async def serve(
    mountpoint: str,
    table: ProcessTable,
    workloads: list[Workload],
    ready_file: Path | None = None,
    debug: bool = False,
    allow_other: bool = False,
    stats_file: Path | None = None,
    passthrough: bool = False,
) -> None:
    fs = ProcFs(table, debug, passthrough=passthrough)
    runner: WorkloadRunner | None = None
    # Signals are taken over before mounting and kept until unmounted, so a
    # second SIGTERM during shutdown cannot kill the daemon and strand a dead mount.
    with trio.open_signal_receiver(*TERMINATING_SIGNALS) as signals:
        _mount(fs, mountpoint, debug, allow_other)
        try:
            async with trio.open_nursery() as nursery:

                async def serve_requests() -> None:
                    await pyfuse3.main()
                    # The session ended (e.g. fusermount3 -u from outside): stop everything.
                    nursery.cancel_scope.cancel()

                nursery.start_soon(serve_requests)
                # A worker thread's stat, because the mount's root is answered by this very loop.
                HostFiles.own_device = (await trio.to_thread.run_sync(os.stat, mountpoint)).st_dev
                runner = WorkloadRunner(table, nursery)
                for workload in workloads:
                    await runner.start(workload)
                print_banner(mountpoint, table)
                if ready_file is not None:
                    ready_file.write_text(f"{os.getpid()}\n")
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break
        finally:
            pyfuse3.close(unmount=True)
            _say(f"fakeproc: unmounted {mountpoint}")
            if stats_file is not None:
                running = runner.running if runner is not None else []
                stats_file.write_text(json.dumps(collect_stats(table, running, fs.reader_stats)))


def collect_stats(table: ProcessTable, workloads: list[Workload], reader_stats: ReaderStats) -> dict[str, object]:
    """What benchmarks read after a run: per-workload latencies, per-process writer and reader counters."""
    return {
        "preempt": vars(table.preempter.stats),
        "workloads": [
            {"name": workload.name, "latencies_ns": list(getattr(workload, "latencies_ns", [])),
             "virtual_latencies_ns": list(getattr(workload, "virtual_latencies_ns", []))}
            for workload in workloads
        ],
        "processes": {
            str(process.pid): {
                "comm": process.comm,
                "vmas": process.mm.map_count,
                **vars(process.mm.stats),
                **reader_stats.counters(process).record(),
            }
            for process in table
        },
    }
