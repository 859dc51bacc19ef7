"""Unmodified real tools (procps, psutil, a C reader, PROCMAP_QUERY users) under `fakeproc exec`.

Each test runs the installed tool inside the view, and compares what it prints
with the tool run on a real process, or with the mount read from outside.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from fakeproc.execview import PRELOAD_LIBRARY
from fakeproc.lab import cbuild
from fakeproc.lab.daemon import Mount
from fakeproc.process import PID_MAX_LIMIT
from mountutil import REPO
from procmap_tools import TIMEOUT, Tools, procmap  # noqa: F401  (procmap is a fixture)
from test_procmap_query import EXPECTED, FILE, data_file, real_maps, spawn_with_layout  # noqa: F401  (fixtures)

pytestmark = pytest.mark.fuse

#: The demo population's first process ("bash"): simulated pids start at the kernel's limit.
SIM = PID_MAX_LIMIT


def fakeproc_exec(mount: Mount, *command: str, self_pid: int | None = None) -> subprocess.CompletedProcess[str]:
    """``fakeproc --mount MNT exec [--self PID] -- COMMAND`` as a user types it."""
    argv = [sys.executable, "-m", "fakeproc.cli", "--mount", str(mount.path), "exec"]
    if self_pid is not None:
        argv += ["--self", str(self_pid)]
    return subprocess.run([*argv, "--", *command], capture_output=True, text=True, timeout=TIMEOUT, cwd=REPO)


def inside(mount: Mount, *command: str, self_pid: int | None = None) -> str:
    """The command's stdout; it must succeed."""
    result = fakeproc_exec(mount, *command, self_pid=self_pid)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def sleeper() -> Iterator[int]:
    """A real process whose address space holds still."""
    child = subprocess.Popen(["sleep", "600"])
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait(timeout=TIMEOUT)


def status_kb(mount: Mount, pid: int, field: str) -> int:
    line = next(line for line in (mount.path / str(pid) / "status").read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1])


def simulated_pids(mount: Mount) -> list[int]:
    return sorted(int(name) for name in os.listdir(mount.path) if name.isdigit() and int(name) >= PID_MAX_LIMIT)


def test_ps_lists_simulated_and_real_processes(proc_mount: Mount) -> None:
    rows = {}
    for line in inside(proc_mount, "ps", "-e", "-o", "pid=,comm=,vsz=,rss=").splitlines():
        pid, comm, vsz, rss = line.split()
        rows[int(pid)] = (comm, int(vsz), int(rss))
    simulated = simulated_pids(proc_mount)
    assert simulated[0] == SIM and len(simulated) >= 2
    for pid in simulated:
        comm = (proc_mount.path / str(pid) / "comm").read_text().strip()
        if "workload=-" not in proc_mount.ctl(pid, "info")[0]:
            # The demo's workloads change their sizes between ps's read and this one.
            assert rows[pid][0] == comm
            continue
        assert rows[pid] == (comm, status_kb(proc_mount, pid, "VmSize"), status_kb(proc_mount, pid, "VmRSS"))
    assert rows[proc_mount.pid][0] == psutil.Process(proc_mount.pid).name()
    assert rows[1][0] == psutil.Process(1).name()


def test_top_and_free_run(proc_mount: Mount) -> None:
    # top sizes its pid column from pid_max: the view's covers the simulated pids, or it prints "4194+".
    assert int(inside(proc_mount, "cat", "/proc/sys/kernel/pid_max")) > max(simulated_pids(proc_mount))
    top = inside(proc_mount, "top", "-b", "-n", "1")
    assert any(line.split()[:1] == [str(SIM)] for line in top.splitlines())
    free = inside(proc_mount, "free")
    total = int(next(line for line in free.splitlines() if line.startswith("Mem:")).split()[1])
    assert total == psutil.virtual_memory().total // 1024


def pmap_mappings(output: str) -> list[list[str]]:
    """Address, Kbytes, mode and mapping of each line of ``pmap -x`` (RSS and Dirty dropped)."""
    lines = output.splitlines()[2:-2]
    assert lines, output
    return [[*line.split()[:2], *line.split()[4:]] for line in lines]


def test_pmap_shows_a_clone_as_the_real_process(proc_mount: Mount, sleeper: int) -> None:
    clone = int(proc_mount.ctl(None, f"clone {sleeper}")[0])
    outside = subprocess.run(["pmap", "-x", str(sleeper)], capture_output=True, text=True, timeout=TIMEOUT, check=True)
    real_inside = inside(proc_mount, "pmap", "-x", str(sleeper))
    simulated = inside(proc_mount, "pmap", "-x", str(clone))
    assert pmap_mappings(simulated) == pmap_mappings(outside.stdout)
    assert real_inside == outside.stdout  # the real process is passed through whole, RSS included
    assert simulated.splitlines()[0] == f"{clone}:   sleep"


MEMORY_MAPS = (
    "import json, sys, psutil\n"
    "print(json.dumps([[m.addr, m.perms, m.path, m.size] for m in psutil.Process(int(sys.argv[1])).memory_maps(grouped=False)]))\n"
)


def test_psutil_memory_maps_of_a_clone_match_the_real_process(proc_mount: Mount, sleeper: int) -> None:
    clone = int(proc_mount.ctl(None, f"clone {sleeper}")[0])
    real = [[m.addr, m.perms, m.path, m.size] for m in psutil.Process(sleeper).memory_maps(grouped=False)]
    assert json.loads(inside(proc_mount, sys.executable, "-c", MEMORY_MAPS, str(clone))) == real
    assert json.loads(inside(proc_mount, sys.executable, "-c", MEMORY_MAPS, str(sleeper))) == real


PSUTIL_OVERVIEW = (
    "import json, sys, psutil\n"
    "p = psutil.Process(int(sys.argv[1]))\n"
    "print(json.dumps([p.name(), p.exe(), p.cwd(), p.status(), p.num_threads(), p.uids().real, p.ppid(),\n"
    "                  p.memory_info().vms, p.memory_full_info().uss, p.cmdline(), p.environ(),\n"
    "                  [t.id for t in p.threads()], p.pid in psutil.pids()]))\n"
)


def test_psutil_reads_every_simulated_file(proc_mount: Mount) -> None:
    name, exe, cwd, state, threads, uid, ppid, vms, uss, cmdline, environ, tids, listed = json.loads(
        inside(proc_mount, sys.executable, "-c", PSUTIL_OVERVIEW, str(SIM)))
    assert (name, exe, cwd, state, threads, uid, ppid) == ("bash", "/usr/bin/bash", "/", "sleeping", 1, 0, 1)
    assert vms == status_kb(proc_mount, SIM, "VmSize") * 1024 and uss == 0
    assert cmdline == (proc_mount.path / str(SIM) / "cmdline").read_text().split("\0")[:-1]
    assert (environ, tids, listed) == ({}, [SIM], True)


def test_self_is_the_simulated_process_under_self(proc_mount: Mount) -> None:
    maps = (proc_mount.path / str(SIM) / "maps").read_bytes()
    result = subprocess.run([sys.executable, "-m", "fakeproc.cli", "--mount", str(proc_mount.path), "exec", "--self",
                             str(SIM), "--", "cat", "/proc/self/maps"], capture_output=True, timeout=TIMEOUT, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout == maps
    # A grandchild inherits the view; thread-self names the one thread.
    links = inside(proc_mount, "sh", "-c", "sh -c 'readlink /proc/self /proc/thread-self'", self_pid=SIM)
    assert links.split() == [str(SIM), f"{SIM}/task/{SIM}"]


def test_self_is_the_callers_own_directory_otherwise(proc_mount: Mount) -> None:
    # The shell reads /proc/self itself (a builtin): the pid in its stat is its own.
    shell, stat_pid, thread_self = inside(
        proc_mount, "sh", "-c", 'read line < /proc/self/stat; echo $$ "${line%% *}" "$(readlink /proc/thread-self)"'
    ).split()
    assert shell == stat_pid and thread_self.split("/")[1] == "task"


def test_a_c_reader_of_self_maps_sees_the_toggler_change_between_reads(
        mount_factory: Callable[..., Mount], tmp_path: Path) -> None:
    reader = cbuild.build(REPO / "tests" / "helpers" / "self_maps_reader.c")
    stats_file = tmp_path / "stats.json"
    with mount_factory("--passthrough", "--population", "empty", "--workload", "toggler:split",
                       "--stats-file", str(stats_file)) as mount:
        toggler = simulated_pids(mount)[0]
        assert (mount.path / str(toggler) / "comm").read_text().startswith("toggler")
        report = dict(word.split("=") for word in inside(mount, str(reader), "2", self_pid=toggler).split())
    stats = json.loads(stats_file.read_text())["processes"][str(toggler)]
    assert int(report["reads"]) > 5 and int(report["most_lines"]) > 100
    assert int(report["variants"]) > 1, report
    assert stats["pages_with_writer_inside"] > 0, stats


def test_procmap_query_inside_matches_the_kernel(proc_mount: Mount, procmap: Tools, real_maps: str,
                                                 data_file: Path) -> None:
    assert PRELOAD_LIBRARY.is_file(), "scripts/setup builds the preload library"
    pid = spawn_with_layout(proc_mount, data_file)
    kernel = procmap.run("query", real_maps, *EXPECTED, preload=False)
    assert inside(proc_mount, str(procmap.client), "query", f"/proc/{pid}/maps", *EXPECTED).splitlines() == kernel
    thread_maps = f"/proc/{pid}/task/{pid}/maps"
    assert inside(proc_mount, str(procmap.client), "query", thread_maps, *EXPECTED).splitlines() == kernel
    # A real process's maps passed through cannot carry the ioctl: ENOTTY, so tools fall back to the text.
    real_pid = real_maps.split("/")[2]
    assert inside(proc_mount, str(procmap.client), "query", f"/proc/{real_pid}/maps", f"{FILE:#x}").splitlines() == [
        f"{FILE:#x}: ENOTTY"]


def test_writes_never_reach_the_real_proc(proc_mount: Mount) -> None:
    pid_max = Path("/proc/sys/kernel/pid_max").read_text()
    for target, text in (("/proc/meminfo", "x"), ("/proc/sys/kernel/pid_max", str(int(pid_max) - 1))):
        result = fakeproc_exec(proc_mount, "sh", "-c", f"echo {text} > {target}")
        assert result.returncode != 0 and "Read-only file system" in result.stderr, result
    assert Path("/proc/sys/kernel/pid_max").read_text() == pid_max
    touched = fakeproc_exec(proc_mount, "touch", "/proc/meminfo")
    assert touched.returncode != 0 and "Read-only file system" in touched.stderr


def test_kill_cannot_reach_a_simulated_pid(proc_mount: Mount) -> None:
    result = fakeproc_exec(proc_mount, "sh", "-c", f"kill -0 {SIM}")
    assert result.returncode == 1 and "No such process" in result.stderr
    assert (proc_mount.path / str(SIM) / "maps").exists()


def test_exec_refuses_a_mount_without_passthrough(demo_mount: Mount) -> None:
    result = fakeproc_exec(demo_mount, "true")
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "--passthrough" in result.stderr
