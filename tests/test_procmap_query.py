"""PROCMAP_QUERY through the preload library, compared field by field with the kernel's answers.

A real child lays out four mappings at fixed addresses and a simulated process gets the same
layout through its ctl; the same client then queries both maps files.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakeproc.lab.daemon import Mount
from procmap_tools import TIMEOUT, Tools, procmap  # noqa: F401  (procmap is a fixture)

pytestmark = pytest.mark.fuse

BASE = 0x200000000000
ANON, FILE, SHARED_FILE, EXEC = BASE, BASE + 0x4000, BASE + 0x8000, BASE + 0xA000
END = BASE + 0xB000


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 64)
    return path


def layout(data: Path) -> list[tuple[int, int, str, str, str | None, int]]:
    """(addr, length, prot, sharing, path, offset): gaps between them so nothing merges."""
    return [
        (ANON, 0x3000, "rw-", "private", None, 0),
        (FILE, 0x2000, "r--", "private", str(data), 0x1000),
        (SHARED_FILE, 0x1000, "rw-", "shared", str(data), 0),
        (EXEC, 0x1000, "r-x", "private", None, 0),
    ]


@pytest.fixture
def real_maps(procmap: Tools, data_file: Path) -> Iterator[str]:
    """/proc/<pid>/maps of a real child holding the layout until the test ends."""
    specs = [f"{addr:#x}:{length:#x}:{prot}:{sharing}" + (f":{path}:{offset:#x}" if path else "")
             for addr, length, prot, sharing, path, offset in layout(data_file)]
    child = subprocess.Popen([str(procmap.client), "hold", *specs], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        yield f"/proc/{child.pid}/maps"
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=TIMEOUT)


def spawn_with_layout(mount: Mount, data: Path) -> int:
    pid = int(mount.ctl(None, "spawn layout=empty")[0])
    commands = []
    for addr, length, prot, sharing, path, offset in layout(data):
        if path is None:
            commands.append(f"mmap {addr:#x} {length:#x} {prot} {sharing},anonymous,fixed_noreplace")
        else:
            commands.append(f"mmap {addr:#x} {length:#x} {prot} {sharing},fixed_noreplace {path} {offset:#x}")
    assert mount.ctl(pid, *commands) == [f"{addr:#x}" for addr, *_ in layout(data)]
    return pid


@pytest.fixture
def sim_maps(demo_mount: Mount, data_file: Path) -> str:
    return str(demo_mount.path / str(spawn_with_layout(demo_mount, data_file)) / "maps")


def field(line: str, name: str) -> str:
    return next(word.split("=", 1)[1] for word in line.split(": ", 1)[1].split() if word.startswith(name + "="))


#: query -> the VMA start it must find, or the errno.
EXPECTED = {
    f"{ANON:#x}": ANON,
    f"{ANON + 0x2fff:#x}": ANON,
    f"{ANON + 0x3000:#x}": "ENOENT",
    f"{ANON + 0x3000:#x}/covering_or_next": FILE,
    f"{ANON:#x}/file_backed": "ENOENT",
    f"{ANON:#x}/covering_or_next,file_backed": FILE,
    f"{ANON:#x}/covering_or_next,shared": SHARED_FILE,
    f"{ANON:#x}/covering_or_next,executable": EXEC,
    f"{FILE:#x}/covering_or_next,writable": SHARED_FILE,
    f"{FILE:#x}/writable": "ENOENT",
    f"{FILE + 0x1000:#x}/readable": FILE,
    f"{SHARED_FILE:#x}/readable,writable,shared,file_backed": SHARED_FILE,
    f"{EXEC:#x}/readable,executable": EXEC,
    "0xffffffffff600000/covering_or_next": "ENOENT",
    f"{ANON:#x}/0x40": "EINVAL",
}


def test_queries_match_the_kernel_field_by_field(procmap: Tools, real_maps: str, sim_maps: str, data_file: Path) -> None:
    kernel = procmap.run("query", real_maps, *EXPECTED, preload=False)
    simulated = procmap.run("query", sim_maps, *EXPECTED)
    assert simulated == kernel
    for line, expected in zip(simulated, EXPECTED.values()):
        if isinstance(expected, str):
            assert line.endswith(": " + expected), line
        else:
            assert int(field(line, "start"), 16) == expected, line
    file_line = simulated[list(EXPECTED).index(f"{FILE + 0x1000:#x}/readable")]
    info = os.stat(data_file)
    assert field(file_line, "name") == str(data_file)
    assert field(file_line, "inode") == str(info.st_ino)
    assert field(file_line, "dev") == f"{os.major(info.st_dev)}:{os.minor(info.st_dev)}"
    assert field(file_line, "offset") == "0x1000" and field(file_line, "flags") == "0x1"


PROBES = [
    "size_below_query_addr: EINVAL",
    "size_over_page: E2BIG",
    "nonzero_tail: E2BIG",
    "zero_tail: OK",
    "unknown_flag: EINVAL",
    "name_size_without_addr: EINVAL",
    "name_addr_without_size: EINVAL",
    "build_id_size_without_addr: EINVAL",
    "null_argument: EFAULT",
    "name_exact_fit: OK size_kept=1",
    "name_one_short: ENAMETOOLONG",
    "name_buffer_unmapped: EFAULT",
    "struct_runs_off_the_page: EFAULT",
    "struct_read_only: EFAULT",
    "short_struct: OK start_written=1 end_untouched=1",
]


def test_argument_checks_match_the_kernel(procmap: Tools, real_maps: str, sim_maps: str) -> None:
    assert procmap.run("probes", real_maps, f"{FILE:#x}", preload=False) == PROBES
    assert procmap.run("probes", sim_maps, f"{FILE:#x}") == PROBES


def test_past_the_last_vma_is_enoent(procmap: Tools, sim_maps: str) -> None:
    assert procmap.run("query", sim_maps, f"{END:#x}/covering_or_next", f"{END - 1:#x}") == [
        f"{END:#x}/covering_or_next: ENOENT",
        f"{END - 1:#x}: start={EXEC:#x} end={END:#x} flags=0x5 page_size=4096 offset=0 inode=0 dev=0:0 "
        "build_id_size=0 name_size=0 name=",
    ]


def test_answers_follow_the_address_space(procmap: Tools, demo_mount: Mount, data_file: Path) -> None:
    pid = spawn_with_layout(demo_mount, data_file)
    maps = str(demo_mount.path / str(pid) / "maps")
    query = f"{ANON + 0x3000:#x}/covering_or_next"
    assert field(procmap.run("query", maps, query)[0], "start") == f"{FILE:#x}"
    demo_mount.ctl(pid, f"munmap {FILE:#x} 0x2000")
    assert field(procmap.run("query", maps, query)[0], "start") == f"{SHARED_FILE:#x}"


def test_a_killed_process_is_esrch(procmap: Tools, demo_mount: Mount, data_file: Path) -> None:
    pid = spawn_with_layout(demo_mount, data_file)
    fd = os.open(demo_mount.path / str(pid) / "maps", os.O_RDONLY)
    try:
        assert procmap.run("query", f"fd:{fd}", f"{ANON:#x}", pass_fds=(fd,))[0].startswith(f"{ANON:#x}: start=")
        demo_mount.ctl(None, f"kill {pid}")
        assert procmap.run("query", f"fd:{fd}", f"{ANON:#x}", pass_fds=(fd,)) == [f"{ANON:#x}: ESRCH"]
    finally:
        os.close(fd)


def test_fuse_alone_cannot_answer(procmap: Tools, sim_maps: str) -> None:
    """Why the library exists: without it the ioctl never reaches the daemon."""
    assert procmap.run("query", sim_maps, f"{ANON:#x}", preload=False) == [f"{ANON:#x}: ENOTTY"]


def test_other_ioctls_pass_through(procmap: Tools, real_maps: str) -> None:
    assert procmap.run("fionread") == ["fionread: OK pending=5"]
    queries = [f"{FILE:#x}", f"{ANON:#x}/covering_or_next,executable", f"{END:#x}"]
    assert procmap.run("query", real_maps, *queries) == procmap.run("query", real_maps, *queries, preload=False)
