"""Real FUSE mounts read by real programs: cat, dd, os.read loops, pread, lseek."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fakeproc.lab import cbuild
from fakeproc.lab.daemon import Mount
from fakeproc.mounts import is_mounted
from mountutil import REPO

pytestmark = pytest.mark.fuse

DEMO_PID, MANY_PID = 1000, 1001


def read_in_chunks(path: Path, size: int) -> list[bytes]:
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, size):
            chunks.append(chunk)
        return chunks
    finally:
        os.close(fd)


def cat(path: Path) -> bytes:
    return subprocess.run(["cat", str(path)], check=True, capture_output=True, timeout=60).stdout


def test_root_lists_ctl_and_pids(demo_mount: Mount) -> None:
    # The demo population: bash, many-vmas, and its two gentle workloads.
    assert sorted(os.listdir(demo_mount.path)) == ["1000", "1001", "1002", "1003", "ctl"]
    assert stat.S_IMODE(os.stat(demo_mount.path / "ctl").st_mode) == 0o600
    entries = sorted(os.listdir(demo_mount.path / "1000"))
    assert entries == ["cmdline", "comm", "ctl", "cwd", "environ", "exe", "maps", "root", "smaps", "smaps_rollup",
                       "stat", "statm", "status", "task"]


def test_inodes_are_stable(demo_mount: Mount) -> None:
    first = os.stat(demo_mount.path / "1000" / "maps").st_ino
    os.listdir(demo_mount.path)
    assert os.stat(demo_mount.path / "1000" / "maps").st_ino == first
    assert os.stat(demo_mount.path / "1001" / "maps").st_ino != first


def test_maps_is_size_zero_and_readonly(demo_mount: Mount) -> None:
    maps = demo_mount.path / "1000" / "maps"
    info = os.stat(maps)
    assert info.st_size == 0 and stat.S_IMODE(info.st_mode) == 0o444
    fd = os.open(maps, os.O_WRONLY)  # root may open it, as on /proc
    try:
        with pytest.raises(OSError) as failure:
            os.write(fd, b"x")
        assert failure.value.errno == errno.EINVAL
    finally:
        os.close(fd)


def test_unknown_pid_is_enoent(demo_mount: Mount) -> None:
    for name in ("999", "4242", "self", "1000x"):
        with pytest.raises(FileNotFoundError):
            os.stat(demo_mount.path / name)
    with pytest.raises(FileNotFoundError):
        os.stat(demo_mount.path / "1000" / "nosuchfile")


def test_demo_process_looks_real(demo_mount: Mount) -> None:
    text = cat(demo_mount.path / f"{DEMO_PID}" / "maps").decode()
    names = [line[73:] for line in text.splitlines() if len(line) > 73]
    for expected in ("/usr/bin/bash", "[heap]", "[vvar]", "[vdso]", "[stack]", "[vsyscall]"):
        assert expected in names
    assert any("libc.so.6" in name for name in names) and any("ld-linux" in name for name in names)
    assert text.splitlines()[-1].endswith("[vsyscall]")
    assert (demo_mount.path / "1000" / "comm").read_text() == "bash\n"
    assert (demo_mount.path / "1000" / "cmdline").read_bytes() == b"/usr/bin/bash\0--login\0"


def test_status_fields(demo_mount: Mount) -> None:
    status = (demo_mount.path / "1000" / "status").read_text()
    fields = dict(line.split(":\t", 1) for line in status.splitlines())
    assert fields["Name"] == "bash" and fields["Pid"] == "1000" and fields["Tgid"] == "1000"
    assert fields["Uid"] == "0\t0\t0\t0" and fields["Threads"] == "1"
    maps = cat(demo_mount.path / "1000" / "maps").decode().splitlines()[:-1]
    size_kb = sum(int(line.split()[0].split("-")[1], 16) - int(line.split()[0].split("-")[0], 16) for line in maps) >> 10
    assert fields["VmSize"] == f"{size_kb:8d} kB"


def test_pages_are_whole_lines(demo_mount: Mount) -> None:
    whole = cat(demo_mount.path / f"{MANY_PID}" / "maps")
    assert whole.count(b"\n") == 1501
    for size in (4096, 8192, 131072):
        chunks = read_in_chunks(demo_mount.path / f"{MANY_PID}" / "maps", size)
        assert b"".join(chunks) == whole
        assert len(chunks) > 10
        for chunk in chunks:
            assert len(chunk) <= 4096 and chunk.endswith(b"\n")
            # A page is full: the next line would not have fit.
        for chunk, following in zip(chunks, chunks[1:]):
            assert len(chunk) + len(following.split(b"\n", 1)[0]) + 1 > 4096


def test_small_reads_continue_mid_line(demo_mount: Mount) -> None:
    maps = demo_mount.path / f"{MANY_PID}" / "maps"
    whole = cat(maps)
    chunks = read_in_chunks(maps, 100)
    assert all(len(chunk) == 100 for chunk in chunks[:-1])
    assert b"".join(chunks) == whole
    dd = subprocess.run(["dd", f"if={maps}", "bs=100", "status=none"], check=True, capture_output=True, timeout=60)
    assert dd.stdout == whole


def test_pread_and_lseek(demo_mount: Mount) -> None:
    maps = demo_mount.path / f"{MANY_PID}" / "maps"
    whole = cat(maps)
    fd = os.open(maps, os.O_RDONLY)
    try:
        for offset in (0, 1, 99, 4095, 4096, 5000, len(whole) // 2, len(whole) - 3, len(whole), len(whole) + 10):
            assert os.pread(fd, 300, offset) == whole[offset : offset + 300]
        os.read(fd, 4096)
        os.read(fd, 4096)
        assert os.lseek(fd, 0, os.SEEK_SET) == 0
        assert os.read(fd, 4096) == read_in_chunks(maps, 4096)[0]
    finally:
        os.close(fd)


def test_smaps_and_rollup(demo_mount: Mount) -> None:
    smaps = cat(demo_mount.path / "1000" / "smaps").decode()
    maps = cat(demo_mount.path / "1000" / "maps").decode().splitlines()
    headers = [line for line in smaps.splitlines() if line[:1].isdigit() or line[:1] in "abcdef"]
    assert headers == maps
    real = Path("/proc/self/smaps").read_text().split("\n", 1)[1].splitlines()
    first_record = real[: real.index("VmFlags: " + real[[line.split(":")[0] for line in real].index("VmFlags")][9:]) + 1]
    fields = [line.split(":")[0] for line in first_record]
    assert [line.split(":")[0] for line in smaps.splitlines()[1 : len(fields) + 1]] == fields
    for chunk in read_in_chunks(demo_mount.path / "1001" / "smaps", 4096):
        assert len(chunk) <= 4096 and chunk.endswith(b"\n")
    rollup = (demo_mount.path / "1000" / "smaps_rollup").read_text().splitlines()
    assert rollup[0].endswith(" [rollup]") and rollup[0].index("[rollup]") == 73
    assert [line.split(":")[0] for line in rollup[1:]] == [
        line.split(":")[0] for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]
    ]


def test_pread_of_page_zero_again_is_a_page_cache_hit_until_a_mmap(mount_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stats_file = tmp_path / "stats.json"
    with mount_factory("--population", "empty", "--stats-file", str(stats_file)) as mount:
        [pid] = mount.ctl(None, "spawn quiet")
        for _ in range(3):
            mount.ctl(int(pid), "mmap 0 0x1000 r-- private,anonymous", "mmap 0 0x1000 rw- private,anonymous")
        fd = os.open(mount.path / pid / "maps", os.O_RDONLY)
        try:
            first = os.pread(fd, 4096, 0)
            assert os.pread(fd, 4096, 0) == first
            # Above the others: the page still starts with the same line, so the cached page is found, and is stale.
            [addr] = mount.ctl(int(pid), "mmap 0x7ff000000000 0x1000 r-x private,anonymous,fixed")
            after = os.pread(fd, 4096, 0)
        finally:
            os.close(fd)
    new_line = f"{int(addr, 16):08x}-{int(addr, 16) + 0x1000:08x} r-xp ".encode()
    assert new_line not in first and new_line in after
    stats = json.loads(stats_file.read_text())["processes"][pid]
    assert (stats["page_cache_hits"], stats["page_cache_misses"], stats["page_cache_stale"]) == (1, 1, 1), stats


def test_ctl_spawn_mmap_and_kill(demo_mount: Mount) -> None:
    [pid] = demo_mount.ctl(None, "spawn tester")
    assert (demo_mount.path / pid / "comm").read_text() == "tester\n"
    [addr] = demo_mount.ctl(int(pid), "mmap 0 0x3000 rw- private,anonymous")
    maps = (demo_mount.path / pid / "maps").read_text().splitlines()
    assert maps[0].startswith(f"{int(addr, 16):08x}-{int(addr, 16) + 0x3000:08x} rw-p 00000000 00:00 0 ")
    fd = os.open(demo_mount.path / pid / "maps", os.O_RDONLY)
    try:
        assert demo_mount.ctl(None, f"kill {pid}") == ["0"]
        with pytest.raises(OSError) as failure:
            os.read(fd, 4096)
        assert failure.value.errno == errno.ESRCH
    finally:
        os.close(fd)
    assert not (demo_mount.path / pid).exists()


def test_ctl_errors_keep_daemon_serving(demo_mount: Mount) -> None:
    fd = os.open(demo_mount.path / "1000" / "ctl", os.O_RDWR)
    try:
        with pytest.raises(OSError) as failure:
            os.write(fd, b"mmap 0x1001 0x1000 rw- private,anonymous,fixed\n")
        assert failure.value.errno == errno.EINVAL
        assert os.read(fd, 4096).startswith(b"error: EINVAL ")
        with pytest.raises(OSError) as failure:
            os.write(fd, b"\xff\xfe garbage\n")
        assert failure.value.errno == errno.EINVAL
    finally:
        os.close(fd)
    assert cat(demo_mount.path / "1000" / "maps").count(b"\n") == 26


def _clone_and_compare(mount: Mount, pid: int) -> bool:
    """Clone real ``pid``; True if its maps was stable and the clone matches it byte for byte."""
    real_path = Path(f"/proc/{pid}/maps")
    try:
        before = real_path.read_bytes()
        [clone] = mount.ctl(None, f"clone {pid}")
        after = real_path.read_bytes()
    except OSError:
        return False
    try:
        if before != after:
            return False
        assert cat(mount.path / clone / "maps") == before, f"clone of {pid} differs"
        return True
    finally:
        mount.ctl(None, f"kill {clone}")


@pytest.mark.slow
def test_clone_every_real_process(demo_mount: Mount) -> None:
    compared = 0
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            compared += _clone_and_compare(demo_mount, int(name))
    assert compared >= 3


@pytest.mark.slow
def test_clone_60000_vmas(demo_mount: Mount) -> None:
    helper = cbuild.build(REPO / "tests/helpers/many_vmas.c")
    holder = subprocess.Popen([str(helper), "60000"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().startswith(b"ready")
        real = Path(f"/proc/{holder.pid}/maps").read_bytes()
        assert real.count(b"\n") > 60000
        [clone] = demo_mount.ctl(None, f"clone {holder.pid}")
        assert cat(demo_mount.path / clone / "maps") == real
        assert (demo_mount.path / clone / "comm").read_text() == "many_vmas\n"
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def test_sigint_unmounts_cleanly(mount_factory) -> None:  # type: ignore[no-untyped-def]
    with mount_factory("--population", "empty") as mount:
        assert os.listdir(mount.path) == ["ctl"]
        mount.process.send_signal(2)
        assert mount.process.wait(timeout=15) == 0
        assert not is_mounted(mount.path)


def test_bad_mountpoint_is_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "mount.py"), str(tmp_path / "missing-dir")],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "not a directory" in result.stderr


def test_odd_pid_names_are_enoent_and_harmless(demo_mount: Mount) -> None:
    for name in ("²", "01000", "+1000", "1000 ", "١٠٠٠"):
        with pytest.raises(FileNotFoundError):
            os.stat(demo_mount.path / name)
    assert (demo_mount.path / "1000" / "comm").read_text() == "bash\n"


def test_seek_end_is_transport_defined(demo_mount: Mount) -> None:
    """The kernel's FUSE layer answers SEEK_END from st_size (0) itself; /proc gives EINVAL.

    fakeproc cannot see the request, so this pins the documented difference.
    """
    fd = os.open(demo_mount.path / "1000" / "maps", os.O_RDONLY)
    try:
        assert os.lseek(fd, 0, os.SEEK_END) == 0
    finally:
        os.close(fd)


def test_clone_keeps_non_utf8_file_names(demo_mount: Mount, tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/odd-\xff\xfe.bin"
    with open(name, "wb") as file:
        file.write(b"\0" * 8192)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import mmap, sys\nf = open(sys.argv[1].encode('utf-8', 'surrogateescape'), 'rb')\n"
         "m = mmap.mmap(f.fileno(), 8192, prot=mmap.PROT_READ)\nprint('ready', flush=True)\nsys.stdin.read()\n",
         os.fsdecode(name)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
        real = Path(f"/proc/{holder.pid}/maps").read_bytes()
        assert b"odd-\xff\xfe.bin" in real
        [clone] = demo_mount.ctl(None, f"clone {holder.pid}")
        assert cat(demo_mount.path / clone / "maps") == real
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def _a_kernel_thread() -> int | None:
    for name in sorted(os.listdir("/proc"), key=lambda entry: (len(entry), entry)):
        try:
            if name.isdigit() and Path(f"/proc/{name}/maps").read_bytes() == b"":
                return int(name)
        except OSError:
            continue
    return None


def test_kernel_thread_clone(demo_mount: Mount) -> None:
    kthread = _a_kernel_thread()
    if kthread is None:
        pytest.skip("no kernel thread is visible in this pid namespace")
    [clone] = demo_mount.ctl(None, f"clone {kthread}")
    assert cat(demo_mount.path / clone / "maps") == b""
    with pytest.raises(OSError) as failure:
        (demo_mount.path / clone / "smaps_rollup").read_bytes()
    assert failure.value.errno == errno.ESRCH
