"""The daemon: mount, serve, run workloads, and unmount cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pyfuse3
import trio

from .fs import ProcFs
from .reader_stats import ReaderStats
from ..process import ProcessTable
from ..workloads import Workload, run_workload


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


def print_banner(mountpoint: str, table: ProcessTable) -> None:
    print(f"fakeproc: mounted at {mountpoint}", flush=True)
    print(f"{'PID':>7}  {'VMAS':>6}  {'LOCK':<14}  COMM")
    for process in table:
        print(f"{process.pid:>7}  {process.mm.map_count:>6}  {process.mm.reader_lock_mode.value:<14}  {process.comm}")
    sys.stdout.flush()


async def serve(
    mountpoint: str,
    table: ProcessTable,
    workloads: list[Workload],
    ready_file: Path | None = None,
    debug: bool = False,
    allow_other: bool = False,
    stats_file: Path | None = None,
) -> None:
    fs = ProcFs(table, debug)
    # Signals are taken over before mounting and kept until unmounted, so a
    # second SIGTERM during shutdown cannot kill the daemon and strand a dead mount.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        _mount(fs, mountpoint, debug, allow_other)
        try:
            async with trio.open_nursery() as nursery:

                async def serve_requests() -> None:
                    await pyfuse3.main()
                    # The session ended (e.g. fusermount3 -u from outside): stop everything.
                    nursery.cancel_scope.cancel()

                nursery.start_soon(serve_requests)
                for workload in workloads:
                    await nursery.start(run_workload, workload, table)
                print_banner(mountpoint, table)
                if ready_file is not None:
                    ready_file.write_text(f"{os.getpid()}\n")
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break
        finally:
            pyfuse3.close(unmount=True)
            print(f"fakeproc: unmounted {mountpoint}", flush=True)
            if stats_file is not None:
                stats_file.write_text(json.dumps(collect_stats(table, workloads, fs.reader_stats)))


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
                **vars(reader_stats.counters(process)),
            }
            for process in table
        },
    }
