"""File-backed mappings through a real mount: open files, descriptors, access modes and the pinned host limits.

The kernel-differential suite (tests/kdiff) proves the model gives the
kernel's answers; these tests prove a user gets them through the ctl files
and the command line of a running daemon.
"""

from __future__ import annotations

import errno
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fakeproc.client import CtlRejected
from fakeproc.lab.daemon import Mount

PAGE = 4096
pytestmark = pytest.mark.fuse


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.write_bytes(b"x" * 2 * PAGE)
    (tmp_path / "link").symlink_to("data")
    return path


def maps_lines(mount: Mount, pid: str) -> list[str]:
    """The process's maps lines but the gate VMA."""
    return [line for line in (mount.path / pid / "maps").read_text().splitlines() if not line.endswith("[vsyscall]")]


def rejected(mount: Mount, pid: str, command: str) -> int:
    with pytest.raises(CtlRejected) as failure:
        mount.ctl(pid, command)
    return failure.value.errno


def test_descriptors_decide_merges_and_outlive_sessions(mount_factory: Callable[..., Mount], data_file: Path) -> None:
    mount = mount_factory("--population", "empty")
    [pid] = mount.ctl(None, "spawn files")
    # Each ctl round trip is its own session: the descriptors belong to the process.
    [first] = mount.ctl(pid, f"open {data_file.parent}/link r")
    [second] = mount.ctl(pid, f"open {data_file} r")
    assert (first, second) == ("3", "4")
    base = 0x200000000
    mount.ctl(pid, f"mmap {base:#x} 0x1000 r-- private,fixed fd=3 0",
              f"mmap {base + PAGE:#x} 0x1000 r-- private,fixed fd=4 0x1000",
              f"mmap {base + 0x10000:#x} 0x1000 r-- private,fixed fd=3 0",
              f"mmap {base + 0x11000:#x} 0x1000 r-- private,fixed fd=3 0x1000",
              f"mmap {base + 0x20000:#x} 0x1000 r-- private,fixed {data_file} 0",
              f"mmap {base + 0x21000:#x} 0x1000 r-- private,fixed {data_file} 0x1000")
    lines = maps_lines(mount, pid)
    ranges = [line.split()[0] for line in lines]
    assert ranges == [f"{base:08x}-{base + PAGE:08x}", f"{base + PAGE:08x}-{base + 2 * PAGE:08x}",
                      f"{base + 0x10000:08x}-{base + 0x12000:08x}",
                      f"{base + 0x20000:08x}-{base + 0x21000:08x}", f"{base + 0x21000:08x}-{base + 0x22000:08x}"]
    assert all(line.endswith(f" {data_file}") for line in lines), "the symlink is resolved"
    assert mount.ctl(pid, "close 3") == ["0"]
    assert rejected(mount, pid, "close 3") == errno.EBADF
    assert rejected(mount, pid, f"mmap {base + 0x30000:#x} 0x1000 r-- private,fixed fd=3 0") == errno.EBADF
    assert maps_lines(mount, pid) == lines, "a failed command changes nothing"


def test_access_mode_end_of_file_and_errors_through_the_cli(mount_factory: Callable[..., Mount], data_file: Path) -> None:
    mount = mount_factory("--population", "empty")
    [pid] = mount.ctl(None, "spawn modes")

    def cli(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "fakeproc.cli", "--mount", str(mount.path), *words],
                              capture_output=True, text=True, timeout=60)

    assert cli("open", pid, str(data_file)).stdout.strip() == "3"
    base = 0x300000000
    assert cli("mmap", pid, hex(base), "0x4000", "r--", "shared,fixed", "fd=3", "0").returncode == 0
    refused = cli("mprotect", pid, hex(base), "0x1000", "rw-")
    assert refused.returncode != 0 and "EACCES" in refused.stderr
    assert rejected(mount, pid, f"mmap {base + 0x10000:#x} 0x1000 rw- shared,fixed fd=3 0") == errno.EACCES
    assert rejected(mount, pid, f"touch {base + 2 * PAGE:#x} 0x1000") == errno.EFAULT  # past the 2-page file
    assert rejected(mount, pid, f"mmap 0 0x1000 r-- private {data_file.parent} 0") == errno.ENODEV
    assert rejected(mount, pid, "mmap 0 0x1000 r-- private fd=3 0x7ffffffffffff000") == errno.EOVERFLOW
    assert rejected(mount, pid, "open /nonexistent/file r") == errno.ENOENT
    [line] = maps_lines(mount, pid)
    assert line.startswith(f"{base:08x}-{base + 0x4000:08x} r--s 00000000 ") and line.endswith(str(data_file))
    smaps = (mount.path / pid / "smaps").read_text()
    assert "VmFlags: rd mr me ms \n" in smaps and "Rss:                   0 kB" in smaps


def test_host_limits_can_be_pinned(mount_factory: Callable[..., Mount]) -> None:
    low = mount_factory("--population", "empty", "--mmap-min-addr", "4096", "--thp-align", "on")
    high = mount_factory("--population", "empty", "--mmap-min-addr", "65536", "--thp-align", "off")
    for mount, expected in ((low, ["0x8000"]), (high, None)):
        [pid] = mount.ctl(None, "spawn limits")
        if expected is None:
            assert rejected(mount, pid, "mmap 0x8000 0x1000 rw- private,anonymous,fixed") == errno.EPERM
        else:
            assert mount.ctl(pid, "mmap 0x8000 0x1000 rw- private,anonymous,fixed") == expected
    [aligned_pid] = low.ctl(None, "spawn aligned")
    [plain_pid] = high.ctl(None, "spawn plain")
    for mount, pid, aligned in ((low, aligned_pid, True), (high, plain_pid, False)):
        [first] = mount.ctl(pid, "mmap 0 0x201000 rw- private,anonymous")
        [second] = mount.ctl(pid, "mmap 0 0x200000 rw- private,anonymous")
        assert (int(second, 16) % 0x200000 == 0) is aligned
        gap = int(first, 16) - (int(second, 16) + 0x200000)
        assert gap == (0x1ff000 if aligned else 0)


def test_a_bad_limit_option_is_refused(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "fakeproc.cli", "mount", str(tmp_path), "--max-map-count", "-3"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "negative" in result.stderr
