"""No single request freezes the daemon or eats its memory: each limit tried through a real mount."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fakeproc import calls
from fakeproc.ctl import MAX_LINE, MAX_QUEUED_RESULTS
from fakeproc.errors import SyscallError
from fakeproc.lab.daemon import FAKEPROC_MOUNT, Mount, mounted
from mountutil import require_fuse

pytestmark = pytest.mark.fuse

PAGE = 4096
#: Generous: every wait here is for work the daemon does in well under a second when nothing is wrong.
WAIT = 60


def spawn(mount: Mount, *words: str) -> int:
    return int(mount.ctl(None, " ".join(("spawn", *words)))[0])


@contextmanager
def opened(path: Path, flags: int = os.O_RDWR) -> Iterator[int]:
    fd = os.open(path, flags)
    try:
        yield fd
    finally:
        os.close(fd)


def status_kb(mount: Mount, pid: int, field: str) -> int:
    for line in (mount.path / str(pid) / "status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in status")


def run_python(mount: Mount, code: str, *args: str) -> str:
    """What ``code`` prints in a child; a daemon that hangs fails the test instead of stalling it.

    A request the daemon has taken cannot be interrupted, so a child stuck in
    one dies only with the daemon: on timeout the mount is stopped first.
    """
    child = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    try:
        return child.communicate(timeout=WAIT)[0]
    except subprocess.TimeoutExpired:
        mount.stop()
        child.kill()
        child.communicate(timeout=WAIT)
        raise


# -- mmap of a file inside the mount -------------------------------------------

_MMAP_CHILD = """
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    os.write(fd, sys.argv[2].encode())
except OSError as error:
    print(error.errno, os.read(fd, 4096).decode().strip())
else:
    print(0, os.read(fd, 4096).decode().strip())
"""


def test_mmap_of_a_file_in_the_mount_is_enodev_and_the_daemon_keeps_serving(demo_mount: Mount) -> None:
    pid = spawn(demo_mount, "mapper")
    ctl = demo_mount.path / str(pid) / "ctl"
    for inside in (demo_mount.path / str(pid) / "maps", demo_mount.path / "1000" / "status", demo_mount.path / "ctl"):
        done = run_python(demo_mount, _MMAP_CHILD, str(ctl), f"mmap 0 0x1000 r-- private {inside} 0\n")
        code, _, line = done.strip().partition(" ")
        # Linux refuses to map a /proc file the same way: its seq files have no mmap.
        assert int(code) == errno.ENODEV, done
        assert line.startswith("error: ENODEV"), line
    assert sorted(os.listdir(demo_mount.path))[:2] == ["1000", "1001"]
    assert demo_mount.ctl(pid, "mmap 0 0x1000 r-- private /etc/hostname 0")[0].startswith("0x")
    assert demo_mount.stop() == 0


async def test_a_host_path_that_never_answers_is_etimedout(monkeypatch: pytest.MonkeyPatch) -> None:
    answered = threading.Event()

    def hung_lookup(path: str, *args: object) -> None:
        answered.wait(WAIT)
        raise SyscallError(errno.EIO, "answered too late")

    monkeypatch.setattr(calls, "HOST_LOOKUP_TIMEOUT", 0.2)
    monkeypatch.setattr(calls, "_host_file", hung_lookup)
    try:
        with pytest.raises(SyscallError) as failure:
            await calls.host_file("/a/hung/network/mount/file")
    finally:
        answered.set()
    assert failure.value.errno == errno.ETIMEDOUT


# -- resident pages as ranges --------------------------------------------------

#: Under the daemon's address-space cap below, far more pages than a page set could hold.
HUGE = 1 << 40


@pytest.fixture
def capped_mount(tmp_path: Path) -> Iterator[Mount]:
    """A daemon whose address space is capped at 2 GiB: a per-page structure hits MemoryError, not the OOM killer."""
    require_fuse()
    with mounted(tmp_path, "--population", "empty", command=("prlimit", "--as=2147483648", "--", *FAKEPROC_MOUNT)) as mount:
        yield mount


def test_populate_and_touch_of_a_terabyte_are_exact(capped_mount: Mount) -> None:
    mount = capped_mount
    pid = spawn(mount, "big")
    addr = int(mount.ctl(pid, f"mmap 0 {HUGE:#x} rw- private,anonymous,populate")[0], 16)
    assert status_kb(mount, pid, "VmRSS") == HUGE // 1024
    # Punch a hole, then touch across it and a fresh mapping next to it: the ranges split and merge again.
    mount.ctl(pid, f"munmap {addr + PAGE:#x} {PAGE:#x}")
    assert status_kb(mount, pid, "VmRSS") == (HUGE - PAGE) // 1024
    assert status_kb(mount, pid, "VmHWM") == HUGE // 1024
    low = int(mount.ctl(pid, f"mmap {addr - 3 * PAGE:#x} {3 * PAGE:#x} rw- private,anonymous,fixed")[0], 16)
    mount.ctl(pid, f"mmap {addr + PAGE:#x} {PAGE:#x} rw- private,anonymous,fixed")
    mount.ctl(pid, f"touch {low + PAGE:#x} {HUGE:#x}")
    assert status_kb(mount, pid, "VmRSS") == (HUGE + 2 * PAGE) // 1024
    smaps = (mount.path / str(pid) / "smaps").read_text()
    rss = [int(line.split()[1]) for line in smaps.splitlines() if line.startswith("Rss:")]
    assert sum(rss) == (HUGE + 2 * PAGE) // 1024
    mount.ctl(pid, f"mremap {addr + 2 * PAGE:#x} {HUGE - 2 * PAGE:#x} {HUGE - 2 * PAGE:#x} maymove,fixed 0x200000000000")
    assert (mount.path / str(pid) / "maps").read_text().startswith(f"200000000000-{0x200000000000 + HUGE - 2 * PAGE:x} ")
    assert status_kb(mount, pid, "VmRSS") == (HUGE + 2 * PAGE) // 1024
    assert mount.stop() == 0


# -- the result queue ------------------------------------------------------------


def test_unread_results_are_bounded_and_a_full_queue_refuses_writes(mount_factory: Callable[..., Mount]) -> None:
    with mount_factory("--population", "demo") as mount:
        line = b"query 0 covering_or_next\n" * 100
        with opened(mount.path / "1000" / "ctl") as fd:
            with pytest.raises(OSError) as full:
                for _ in range(10 * MAX_QUEUED_RESULTS // 1000):
                    os.write(fd, line)
            assert full.value.errno == errno.ENOBUFS
            queued = b""
            while chunk := os.read(fd, 1 << 16):
                queued += chunk
            assert MAX_QUEUED_RESULTS <= len(queued) < MAX_QUEUED_RESULTS + 2 * MAX_LINE
            assert b"error" not in queued
            # Read out, the queue takes commands again.
            os.write(fd, b"query 0 covering_or_next\n")
            assert os.read(fd, 4096).startswith(b"5")


# -- lines cut across writes -----------------------------------------------------


def test_a_line_cut_across_writes_runs_once_whole(mount_factory: Callable[..., Mount]) -> None:
    with mount_factory("--population", "empty") as mount:
        pid = spawn(mount, "cut")
        mount.ctl(pid, "mmap 0x20000000 0x20000 rw- private,anonymous,fixed")
        with opened(mount.path / str(pid) / "ctl") as fd:
            assert os.write(fd, b"munmap 0x20000000 0x1") == 21
            assert os.read(fd, 4096) == b""
            assert (mount.path / str(pid) / "maps").read_text().startswith("20000000-20020000 ")
            os.write(fd, b"0000\nquery 0x2000")
            assert os.read(fd, 4096) == b"0\n"
            with pytest.raises(FileNotFoundError):
                os.write(fd, b"0000\n")
            assert os.read(fd, 4096).startswith(b"error: ENOENT")


def test_an_over_long_line_is_einval_and_discarded_up_to_its_newline(mount_factory: Callable[..., Mount]) -> None:
    with mount_factory("--population", "empty") as mount:
        pid = spawn(mount, "long")
        with opened(mount.path / str(pid) / "ctl") as fd:
            os.write(fd, b"mmap 0x20000000 0x1000 rw- private,anonymous,fixed" + b" " * (MAX_LINE // 2))
            with pytest.raises(OSError) as failure:
                os.write(fd, b" " * MAX_LINE)
            assert failure.value.errno == errno.EINVAL
            assert os.read(fd, 4096).startswith(b"error: EINVAL")
            # The rest of the over-long line is dropped without running; the next line runs.
            os.write(fd, b" " * MAX_LINE + b"private\nmmap 0x30000000 0x1000 r-- private,anonymous,fixed\n")
            assert os.read(fd, 4096) == b"0x30000000\n"
        assert (mount.path / str(pid) / "maps").read_text().startswith("30000000-30001000 r--p ")


def test_cat_of_100000_commands_runs_each_exactly_once(mount_factory: Callable[..., Mount], tmp_path: Path) -> None:
    count = 100_000
    base = 0x100000000
    commands = tmp_path / "commands.txt"
    # fixed_noreplace: a command run twice fails with EEXIST, a cut one with EINVAL or a page out of place.
    commands.write_text("".join(f"mmap {base + index * PAGE:#x} 0x1000 rw- private,anonymous,fixed_noreplace\n"
                                for index in range(count)))
    assert commands.stat().st_size > 4 * (128 << 10)
    with mount_factory("--population", "empty", "--preempt", "never") as mount:
        pid = spawn(mount, "many")
        with open(commands, "rb") as source:
            subprocess.run(["cat"], stdin=source, stdout=open(mount.path / str(pid) / "ctl", "wb"),
                           check=True, timeout=10 * WAIT)
        maps = (mount.path / str(pid) / "maps").read_text().splitlines()
        assert maps[0].startswith(f"{base:x}-{base + count * PAGE:x} rw-p ")
        assert len(maps) == 2


# -- readdir and the process limit ------------------------------------------------


def test_ls_lists_every_process_across_many_readdir_calls(mount_factory: Callable[..., Mount]) -> None:
    with mount_factory("--population", "empty") as mount:
        with opened(mount.path / "ctl") as fd:
            os.write(fd, b"spawn p\n" * 3000)
            pids = os.read(fd, 1 << 20).decode().split()
        with opened(mount.path / "ctl", os.O_WRONLY) as fd:
            os.write(fd, b"".join(f"kill {pid}\n".encode() for pid in pids[::7]))
        expected = sorted({*pids} - {*pids[::7]} | {"ctl"})
        listed = subprocess.run(["ls", "-f", str(mount.path)], capture_output=True, text=True, check=True, timeout=WAIT)
        assert sorted(name for name in listed.stdout.split() if name not in (".", "..")) == expected


def test_spawn_past_max_processes_is_eagain(mount_factory: Callable[..., Mount]) -> None:
    with mount_factory("--population", "demo", "--max-processes", "6") as mount:
        pids = [spawn(mount, "x"), spawn(mount, "y")]
        for command in ("spawn z", f"clone {os.getpid()}"):
            with pytest.raises(OSError) as refused:
                mount.ctl(None, command)
            assert refused.value.errno == errno.EAGAIN
        mount.ctl(None, f"kill {pids[0]}")
        spawn(mount, "z")
        assert len(os.listdir(mount.path)) == 7


def test_max_processes_below_the_population_is_refused(mount_factory: Callable[..., Mount]) -> None:
    with pytest.raises(RuntimeError, match="max-processes"):
        mount_factory("--population", "demo", "--max-processes", "1")
