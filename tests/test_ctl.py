"""ctl parsing and robustness: bad input is EINVAL (or the syscall's errno) and changes nothing."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from functools import partial

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakeproc.calls import PROCESS_CALLS
from fakeproc.ctl import process_session, root_session
from fakeproc.errors import SyscallError
from fakeproc.lab.daemon import Mount
from fakeproc.population import demo_layout
from fakeproc.process import ProcessTable
from mountutil import REPO

WORDS = ["mmap", "munmap", "mprotect", "mremap", "query", "touch", "spawn", "kill", "clone", "0", "0x1000",
         "-1", "0x" + "f" * 20, "rw-", "rwx", "r-", "private,anonymous", "fixed", "shared,anonymous,fixed",
         "maymove", "covering_or_next", "18446744073709551616", "", "\x00", "é"]


def snapshot(table: ProcessTable) -> list[tuple[int, list[tuple[int, int, int, int]]]]:
    return [(p.pid, [(v.start, v.end, int(v.flags), v.pgoff) for v in p.mm.vmas()]) for p in table]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=200),
    st.lists(st.sampled_from(WORDS), max_size=8).map(lambda words: " ".join(words).encode()),
))
def test_garbage_never_crashes_or_changes_state(data: bytes) -> None:
    table = ProcessTable()
    process = table.spawn("victim")
    demo_layout(process)

    async def main() -> None:
        for session in (process_session(process), root_session(table)):
            try:
                await session.write(data.replace(b"\n", b" "))
            except SyscallError as error:
                assert error.errno in (errno.EINVAL, errno.ENOMEM, errno.EEXIST, errno.EFAULT, errno.ENOENT,
                                       errno.ESRCH, errno.EBADF, errno.EPERM, errno.EACCES, errno.EOVERFLOW)
                assert session.read(4096).startswith(b"error: E")

    trio.run(main)
    process.mm.check()


@pytest.mark.parametrize("line", [
    b"mmap", b"mmap 0 0x1000 rw-", b"mmap 0 0x1000 rw- private,anonymous extra 0 0", b"mmap 0 0x1000 rwz private,anonymous",
    b"mmap 0 0x1000 rw- private,bogus", b"mmap -4096 0x1000 rw- private,anonymous", b"mmap 0x1001 0x1000 rw- private,anonymous,fixed",
    b"mmap 0 99999999999999999999999 rw- private,anonymous", b"munmap 0x1001 1", b"mprotect 0x1000", b"frobnicate 1",
    b"\xff\xfe", b"query", b"touch 0 0", b"mremap 0x1000 0x1000", b"x" * 5000,
])
async def test_bad_lines_are_einval_and_change_nothing(line: bytes) -> None:
    table = ProcessTable()
    process = table.spawn("victim")
    demo_layout(process)
    before = snapshot(table)
    session = process_session(process)
    with pytest.raises(SyscallError) as failure:
        await session.write(line + b"\n")
    assert failure.value.errno == errno.EINVAL
    result = session.read(4096).decode()
    assert result.startswith("error: EINVAL ") and result.endswith("\n") and len(result) < 300
    assert snapshot(table) == before


async def test_lines_run_in_order_and_stop_at_first_failure() -> None:
    table = ProcessTable()
    process = table.spawn("p")
    session = process_session(process)
    with pytest.raises(SyscallError):
        await session.write(b"mmap 0 0x1000 r-- private,anonymous\nmunmap 0x1001 1\nmmap 0 0x1000 rw- private,anonymous\n")
    results = session.read(4096).decode().splitlines()
    assert len(results) == 2 and results[0].startswith("0x") and results[1].startswith("error: EINVAL")
    assert process.mm.map_count == 1


async def test_query_filters() -> None:
    table = ProcessTable()
    process = table.spawn("p")
    demo_layout(process)
    run = partial(PROCESS_CALLS.run, process)
    heap = next(v for v in process.mm.vmas() if v.name == "[heap]")
    assert (await run(f"query {heap.start:#x}")).endswith("[heap]")
    with pytest.raises(SyscallError) as failure:
        await run(f"query {heap.start - 0x1000:#x}")
    assert failure.value.errno == errno.ENOENT
    assert (await run(f"query {heap.start - 0x1000:#x} covering_or_next")).endswith("[heap]")
    assert "/usr/lib" in await run(f"query {heap.end:#x} covering_or_next,file_backed")
    assert " r-xp " in await run("query 0 covering_or_next,executable")


@pytest.mark.fuse
def test_fuse_robustness(demo_mount: Mount) -> None:
    maps_before = (demo_mount.path / "1000" / "maps").read_bytes()
    fd = os.open(demo_mount.path / "1000" / "ctl", os.O_RDWR)
    try:
        for payload in (b"x" * (1 << 20), b"\x00\xff" * 3000 + b"\n", b"mmap " + b"9" * 5000 + b"\n"):
            with pytest.raises(OSError) as failure:
                os.write(fd, payload)
            assert failure.value.errno == errno.EINVAL
            os.read(fd, 1 << 16)
            # Ends the refused line, whose rest is dropped up to its newline (a blank line otherwise).
            assert os.write(fd, b"\n") == 1
    finally:
        os.close(fd)
    assert (demo_mount.path / "1000" / "maps").read_bytes() == maps_before
    [pid] = demo_mount.ctl(None, "spawn doomed")
    fd = os.open(demo_mount.path / pid / "ctl", os.O_RDWR)
    try:
        demo_mount.ctl(None, f"kill {pid}")
        with pytest.raises(OSError) as failure:
            os.write(fd, b"mmap 0 0x1000 rw- private,anonymous\n")
        assert failure.value.errno == errno.ESRCH
    finally:
        os.close(fd)


@pytest.mark.fuse
def test_shell_transaction(demo_mount: Mount) -> None:
    script = f"""
set -e
m={demo_mount.path}
exec 3<>"$m/ctl"; echo 'spawn shelly' >&3; read -r pid <&3; exec 3>&-
exec 3<>"$m/$pid/ctl"
echo 'mmap 0 0x3000 rw- private,anonymous' >&3; read -r addr <&3
echo 'mprotect '$addr' 0x1000 r--' >&3; read -r rc <&3
echo "$addr $rc"; cat "$m/$pid/maps"
"""
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, check=True).stdout.splitlines()
    addr, rc = out[0].split()
    base = int(addr, 16)
    assert rc == "0"
    assert out[1].startswith(f"{base:08x}-{base + 0x1000:08x} r--p ")
    assert out[2].startswith(f"{base + 0x1000:08x}-{base + 0x3000:08x} rw-p ")


@pytest.mark.fuse
def test_ctl_demo_script_runs_clean(demo_mount: Mount) -> None:
    result = subprocess.run([str(REPO / "scripts/ctl-demo.sh"), str(demo_mount.path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "split: first page read-only" in result.stdout and "killed" in result.stdout
    sections = result.stdout.split("--- ")
    split_lines = [line for line in sections[2].splitlines() if line[:1] in "0123456789abcdef"]
    assert len(split_lines) == 2 and " r--p " in split_lines[0] and " rw-p " in split_lines[1]


@pytest.mark.fuse
def test_scanpid_stops_when_process_goes(demo_mount: Mount) -> None:
    [pid] = demo_mount.ctl(None, "spawn scanned layout=demo")
    scanner = subprocess.Popen([str(REPO / "scripts/scanpid.sh"), str(demo_mount.path), pid],
                               stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        demo_mount.ctl(None, f"kill {pid}")
        out, _ = scanner.communicate(timeout=30)
        assert int(out) > 0
    finally:
        if scanner.poll() is None:
            scanner.kill()
            scanner.wait(timeout=10)


@pytest.mark.fuse
def test_plain_shell_redirection(demo_mount: Mount) -> None:
    """`echo cmd > ctl` opens with O_TRUNC; it must work like a write on an open fd.

    The result is lost with the fd, so the daemon's log carries a failure's reason.
    """
    # The demo population is pids 1000-1003, so the spawned process is 1004.
    script = f"""
set -e
echo 'spawn redirected' > {demo_mount.path}/ctl
echo 'mmap 0x100000000 0x1000 r-- private,anonymous,fixed' > {demo_mount.path}/1004/ctl
if echo 'munmap 0x1001 1' > {demo_mount.path}/1004/ctl 2>/dev/null; then exit 3; fi
"""
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert (demo_mount.path / "1004" / "maps").read_text().startswith("100000000-100001000 r--p ")
    logged = [line for line in demo_mount.log.read_text().splitlines() if "munmap" in line]
    assert logged == ["fakeproc.ctl: 1004/ctl: 'munmap 0x1001 1': error: EINVAL address is not page aligned "
                      "or the range is beyond the address space"]


@pytest.mark.fuse
def test_a_failed_command_is_logged_once_with_its_pid(demo_mount: Mount) -> None:
    fd = os.open(demo_mount.path / "1000" / "ctl", os.O_RDWR)
    try:
        for payload in (b"garbage\r\n", b"munmap 0 " + b"9" * 300 + b"\n"):
            with pytest.raises(OSError):
                os.write(fd, payload)
    finally:
        os.close(fd)
    with pytest.raises(OSError):
        demo_mount.ctl(None, "kill 4242")
    logged = [line for line in demo_mount.log.read_text().splitlines() if line.startswith("fakeproc.ctl: ")]
    assert logged[0] == "fakeproc.ctl: 1000/ctl: 'garbage\\r': error: EINVAL command holds control characters"
    assert logged[1].startswith("fakeproc.ctl: 1000/ctl: 'munmap 0 999") and "...': error: EINVAL LEN " in logged[1]
    assert logged[2] == "fakeproc.ctl: ctl: 'kill 4242': error: ESRCH no process 4242"
    assert len(logged) == 3
