"""scripts/bench-read: the cost of reading maps, against the kernel and the FUSE floor.

For each size, a C helper (tests/helpers/many_vmas.c) holds a real process
with that many extra VMAs, and the file is read three ways, each timed as the
best of ``--runs`` reads that do what ``cat`` does (128 KiB ``read`` calls):

(a) ``MNT/<clone>/maps``: the daemon's clone of the helper (``clone PID`` on MNT/ctl);
(b) ``/proc/<helper>/maps``: the real kernel;
(c) a file of the same length on the floor filesystem (fakeproc.fuse.floor),
    which returns constant 4 KiB pages: what any pyfuse3 file costs.

It also times (d), the same clone read in-process through SeqFile with no
FUSE at all, which shows how (a) splits between the model and the transport.
The scaling exponent is the slope of log (a) against log VMAs.  Then: the
daemon's RSS per VMA (VmRSS before and after cloning the largest helper, into
a fresh daemon) and the model's operations per second (the mapper's random
4 KiB mmap/munmap in-process, without sleeping).

vm.max_map_count is 65530 and the helper's own binary, libraries and stack
take about 25, so the largest default size is 65,500 helper VMAs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import trio

from ..mm.walk import LockMode
from ..population import clone_real_process, many_layout
from ..process import ProcessTable
from ..procfs.maps import MapsIterator
from ..sched import Preempter, parse_policy
from ..seqfile import PAGE_SIZE, SeqFile
from ..lab import cbuild
from ..lab.daemon import Mount, mounted, spawn
from ..workloads.mapper import Mapper
from .common import (
    REPO,
    Cleanup,
    best_of,
    dump_json,
    end_group,
    loglog_slope,
    machine,
    run_guarded,
    target,
    time_read,
    vm_rss_kb,
)

HELPER_SOURCE = REPO / "tests" / "helpers" / "many_vmas.c"
FLOOR = (sys.executable, "-m", "fakeproc.fuse.floor")
DEFAULT_SIZES = "1000,4000,16000,65500"
#: VMAs many_vmas has before it maps anything (binary, libc, ld.so, vdso, stack...: 24 here), with a margin.
HELPER_OWN_VMAS = 30

TARGET_KERNEL_RATIO = 3.0
TARGET_FLOOR_RATIO = 1.5
TARGET_EXPONENT = 1.1
TARGET_OPS_PER_S = 100_000
TARGET_BYTES_PER_VMA = 400


def max_map_count() -> int:
    try:
        return int(Path("/proc/sys/vm/max_map_count").read_text())
    except (OSError, ValueError):
        return 65530


def start_helper(cleanup: Cleanup, binary: Path, count: int) -> tuple[subprocess.Popen[bytes], int]:
    """A real process holding ``count`` more VMAs until its stdin closes; returns it and its pid."""
    process = spawn([str(binary), str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    cleanup.callback(end_group, process)
    assert process.stdout is not None and process.stdin is not None
    cleanup.callback(process.stdin.close)
    line = process.stdout.readline().decode()
    if not line.startswith("ready "):
        process.wait(timeout=10)
        raise RuntimeError(f"many_vmas {count} failed (exit {process.returncode}); is {count} over vm.max_map_count?")
    return process, int(line.split()[1])


def read_inprocess(pid: int, mode: LockMode, preempt: str | None, runs: int) -> float:
    """(d): clone ``pid`` into this process and read its maps through SeqFile, no FUSE."""
    table = ProcessTable(Preempter(parse_policy(preempt) if preempt else None), mode)
    process = clone_real_process(table, pid)

    async def read_all() -> float:
        best = float("inf")
        for _ in range(max(1, runs)):
            seq = SeqFile(MapsIterator(process))
            offset = 0
            began = time.perf_counter()
            while True:
                data = await seq.read(offset, 128 * 1024)
                if not data:
                    break
                offset += len(data)
            best = min(best, time.perf_counter() - began)
        return best

    return trio.run(read_all)


#: The page cache figure: the first pages of a quiet process of this many VMAs, re-read on one open file.
CACHE_VMAS = 1500
CACHE_PAGES = 4
#: Re-reads per timed batch; the best batch of ``runs`` counts, cache off and on taking turns.
CACHE_REREADS = 50


def page_cache_rereads(mode: LockMode, preempt: str | None, runs: int) -> dict[str, object]:
    """Time re-reading the first pages of a quiet in-process process on one open file, page cache off and on.

    The same open file is read from offset 0 again and again, so with the
    cache every page after the first round is a hit.  Batches of both
    kinds alternate and the best of each counts, so machine load moves both
    alike.
    """

    async def batch(seq: SeqFile[object]) -> float:
        began = time.perf_counter()
        for _ in range(CACHE_REREADS):
            offset = 0
            for _ in range(CACHE_PAGES):
                offset += len(await seq.read(offset, PAGE_SIZE))
        return (time.perf_counter() - began) / (CACHE_REREADS * CACHE_PAGES)

    async def run() -> dict[str, object]:
        files = {}
        for cache in (False, True):
            process = ProcessTable(Preempter(parse_policy(preempt) if preempt else None), mode).spawn("quiet")
            many_layout(process, CACHE_VMAS)
            files[cache] = SeqFile(MapsIterator(process), cache=cache)
        best = {False: float("inf"), True: float("inf")}
        for _ in range(max(1, runs)):
            for cache, seq in files.items():
                best[cache] = min(best[cache], await batch(seq))  # type: ignore[arg-type]
        return {"vmas": CACHE_VMAS, "pages": CACHE_PAGES, "rereads": CACHE_REREADS,
                "uncached_us_per_page": round(best[False] * 1e6, 1), "cached_us_per_page": round(best[True] * 1e6, 1),
                "speedup": round(best[False] / best[True], 2), "hits": files[True].cache_stats.hits,
                "lock_mode": mode.value, "preempt": preempt or "virtual:8 (default)"}

    return trio.run(run)


def model_ops_per_second(count: int, preempt: str | None, seed: int = 0) -> dict[str, object]:
    """The mapper's operations back to back in one process (trio.run, no pause between them)."""

    async def run() -> dict[str, object]:
        process = ProcessTable(Preempter(parse_policy(preempt) if preempt else None)).spawn(Mapper.name)
        mapper = Mapper(seed, pause=None)
        await mapper.setup(process)
        began = time.perf_counter()
        for _ in range(count):
            await mapper.cycle(process)
        seconds = time.perf_counter() - began
        return {"ops": count, "seconds": round(seconds, 4), "ops_per_s": round(count / seconds),
                "us_per_op": round(seconds / count * 1e6, 2), "vmas_at_end": process.mm.map_count,
                "preempt": preempt or "virtual:8 (default)"}

    return trio.run(run)


def measure_size(
    daemon: Mount, floor: Mount, binary: Path, count: int, args: argparse.Namespace, with_rss: bool
) -> dict[str, object]:
    """One size: start the helper, clone it, read it every way; helper and clone are gone after."""
    with Cleanup() as local:
        _helper, pid = start_helper(local, binary, count)
        real = Path(f"/proc/{pid}/maps").read_bytes()
        vmas = real.count(b"\n")  # maps lines: the helper's VMAs plus [vsyscall]
        rss_before = vm_rss_kb(daemon.pid) if with_rss else 0
        [clone] = daemon.ctl(None, f"clone {pid}")
        local.callback(lambda: daemon.process.poll() is None and daemon.ctl(None, f"kill {clone}"))
        rss_after = vm_rss_kb(daemon.pid) if with_rss else 0
        maps = daemon.path / clone / "maps"
        cold, _ = time_read(maps)
        identical = maps.read_bytes() == real
        rss_read = vm_rss_kb(daemon.pid) if with_rss else 0
        floor_file = floor.path / str(len(real))
        mount_s = best_of(args.runs, lambda: time_read(maps)[0])
        kernel_s = best_of(args.runs, lambda: time_read(f"/proc/{pid}/maps")[0])
        floor_s = best_of(args.runs, lambda: time_read(floor_file)[0])
        inproc_s = read_inprocess(pid, LockMode.parse(args.lock_mode), args.preempt, args.runs)
    result: dict[str, object] = {
        "helper_vmas": count,
        "vmas": vmas,
        "bytes": len(real),
        "identical": identical,
        "mount_cold_s": round(cold, 6),
        "mount_s": round(mount_s, 6),
        "kernel_s": round(kernel_s, 6),
        "floor_s": round(floor_s, 6),
        "inprocess_s": round(inproc_s, 6),
        "mount_us_per_vma": round(mount_s / vmas * 1e6, 3),
        "mount_over_kernel": round(mount_s / kernel_s, 2),
        "mount_over_floor": round(mount_s / floor_s, 2),
    }
    if with_rss:
        result["rss"] = {
            "vmas": vmas,
            "before_kb": rss_before,
            "after_clone_kb": rss_after,
            "after_first_read_kb": rss_read,
            "bytes_per_vma": round((rss_after - rss_before) * 1024 / vmas, 1),
            "bytes_per_vma_with_line_cache": round((rss_read - rss_before) * 1024 / vmas, 1),
        }
    return result


def print_report(summary: dict[str, object], out) -> None:  # type: ignore[no-untyped-def]
    print("", file=out)
    print(f"maps read cost (best of {summary['method']['runs']}; lock mode {summary['method']['lock_mode']}, "  # type: ignore[index]
          f"preempt {summary['method']['preempt']})", file=out)  # type: ignore[index]
    print("   VMAs      bytes  (a) mount  (b) kernel  (c) floor  (d) in-proc    a/b    a/c  us/VMA(a)  (a) cold  same", file=out)
    for row in summary["sizes"]:  # type: ignore[attr-defined]
        print(
            f"{row['vmas']:7d} {row['bytes']:10d} {row['mount_s'] * 1e3:8.1f}ms {row['kernel_s'] * 1e3:9.2f}ms "
            f"{row['floor_s'] * 1e3:8.1f}ms {row['inprocess_s'] * 1e3:9.1f}ms {row['mount_over_kernel']:6.1f} "
            f"{row['mount_over_floor']:6.1f} {row['mount_us_per_vma']:9.2f} {row['mount_cold_s'] * 1e3:7.1f}ms  "
            f"{'yes' if row['identical'] else 'NO'}",
            file=out,
        )
    exponent = summary["exponent"]
    print(f"scaling exponent of (a): {'n/a' if exponent is None else f'{exponent:.3f}'}", file=out)
    rss = summary.get("rss")
    if rss:
        print(f"daemon RSS: {rss['before_kb']} kB -> {rss['after_clone_kb']} kB after cloning {rss['vmas']} VMAs "  # type: ignore[index]
              f"= {rss['bytes_per_vma']} bytes/VMA; {rss['bytes_per_vma_with_line_cache']} bytes/VMA once read "  # type: ignore[index]
              "(lines cached)", file=out)
    for model in summary["model"]:  # type: ignore[attr-defined]
        print(f"model: {model['ops_per_s']} ops/s ({model['us_per_op']} us/op, preempt {model['preempt']}, "
              f"{model['vmas_at_end']} VMAs at the end)", file=out)
    cache = summary["page_cache"]
    print(f"page cache: the first {cache['pages']} pages of a quiet {cache['vmas']}-VMA process re-read on one open file: "  # type: ignore[index]
          f"{cache['uncached_us_per_page']} us/page uncached, {cache['cached_us_per_page']} us/page cached "  # type: ignore[index]
          f"({cache['speedup']}x; lock mode {cache['lock_mode']}, preempt {cache['preempt']})", file=out)  # type: ignore[index]
    print("", file=out)
    for name, result in summary["targets"].items():  # type: ignore[attr-defined]
        value = result["value"]
        shown = "n/a" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
        verdict = {True: "met", False: "MISSED", None: "not measured"}[result["met"]]
        print(f"{name}: {shown} (target {result['target']}): {verdict}", file=out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench-read", description="Time reading maps: mount vs kernel vs FUSE floor.")
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"comma-separated helper VMA counts (default {DEFAULT_SIZES}; "
                             "65500 because vm.max_map_count is 65530 and the helper itself uses ~25)")
    parser.add_argument("--runs", type=int, help="reads per measurement; the best counts (default 5; 3 with --quick)")
    parser.add_argument("--lock-mode", default="vma", help="the daemon's --lock-mode (default vma, its own default)")
    parser.add_argument("--preempt", help="the daemon's --preempt policy (default: its own, virtual:8)")
    parser.add_argument("--model-ops", type=int,
                        help="operations for the model throughput (default 20000; 5000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions: --runs 3 --model-ops 5000")
    parser.add_argument("--build", type=Path, default=REPO / "build",
                        help="cache folder for the compiled helper (default build/)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout (the report goes to stderr)")
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 3 if args.quick else 5
    if args.model_ops is None:
        args.model_ops = 5000 if args.quick else 20000
    LockMode.parse(args.lock_mode)
    if args.runs < 1 or args.model_ops < 1:
        parser.error("--runs and --model-ops must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sorted({int(size) for size in args.sizes.split(",") if size}, reverse=True)
    limit = max_map_count()
    if not sizes or sizes[-1] < 1 or sizes[0] + HELPER_OWN_VMAS > limit:
        print(f"bench-read: sizes must be positive and leave {HELPER_OWN_VMAS} VMAs under vm.max_map_count ({limit}) "
              "for the helper's own binary, libraries and stack", file=sys.stderr)
        return 2
    out = sys.stderr if args.json else sys.stdout
    options = ["--population", "empty", "--lock-mode", args.lock_mode]
    if args.preempt:
        options += ["--preempt", args.preempt]
    rows: list[dict[str, object]] = []
    model: list[dict[str, object]] = []
    page_cache: dict[str, object] = {}

    def collect() -> None:
        binary = cbuild.build(HELPER_SOURCE, cache_dir=args.build)
        with Cleanup() as cleanup:
            floor = cleanup.enter_context(mounted(cleanup.workdir("fakeproc-bench-floor-"), command=FLOOR, own_session=True))
            daemon = cleanup.enter_context(mounted(cleanup.workdir("fakeproc-bench-read-"), *options, own_session=True))
            # Largest first, into the fresh daemon, so its RSS growth is all the clone's.
            for index, count in enumerate(sizes):
                row = measure_size(daemon, floor, binary, count, args, with_rss=index == 0)
                rows.append(row)
                print(f"  {row['vmas']} VMAs: mount {row['mount_s'] * 1e3:.1f} ms, kernel {row['kernel_s'] * 1e3:.2f} ms, "
                      f"floor {row['floor_s'] * 1e3:.1f} ms", file=sys.stderr, flush=True)
        model.append(model_ops_per_second(args.model_ops, args.preempt))
        if args.preempt != "never":
            model.append(model_ops_per_second(args.model_ops, "never"))
        page_cache.update(page_cache_rereads(LockMode.parse(args.lock_mode), args.preempt, args.runs))

    status = run_guarded("bench-read", collect)
    if status is not None:
        return status
    rows.sort(key=lambda row: row["vmas"])  # type: ignore[arg-type, return-value]
    largest = rows[-1]
    slope = loglog_slope([row["vmas"] for row in rows], [row["mount_s"] for row in rows])  # type: ignore[misc]
    exponent = None if slope is None else round(slope, 3)
    rss = largest.pop("rss")
    summary: dict[str, object] = {
        "sizes": rows,
        "exponent": exponent,
        "rss": rss,
        "model": model,
        "page_cache": page_cache,
        "targets": {
            "cat_largest_over_kernel": target(largest["mount_over_kernel"], TARGET_KERNEL_RATIO),  # type: ignore[arg-type]
            "cat_largest_over_floor": target(largest["mount_over_floor"], TARGET_FLOOR_RATIO),  # type: ignore[arg-type]
            "scaling_exponent": target(exponent, TARGET_EXPONENT),
            "model_ops_per_s": target(model[0]["ops_per_s"], TARGET_OPS_PER_S, at_most=False),  # type: ignore[arg-type]
            "bytes_per_vma": target(rss["bytes_per_vma"], TARGET_BYTES_PER_VMA),  # type: ignore[index]
        },
        "method": {"runs": args.runs, "lock_mode": args.lock_mode, "preempt": args.preempt or "virtual:8 (daemon default)",
                   "largest_vmas": largest["vmas"], "read_buffer": 128 * 1024},
        "machine": machine(),
    }
    print_report(summary, out)
    if args.json:
        dump_json(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
