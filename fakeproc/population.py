"""Ready-made address spaces: the demo processes and clones of real ones."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable

from .errors import SyscallError
from .mm.syscalls import SHMEM_PATH
from .mm.vma import MAY_MASK, PAGE_SHIFT, FileKind, MappedFile, Vma, VmFlags, prot_from_text
from .process import Process, ProcessTable

_MAPS_LINE = re.compile(
    r"([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-])([ps]) ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) (\d+) ?(.*)\n?"
)
_GATE_START = 0xFFFFFFFFFF600000
#: A clone's open files by what its maps lines show of them: (path, major, minor, inode).
OpenFiles = dict[tuple[str, int, int, int], MappedFile]


def parse_maps_line(line: str, open_files: OpenFiles | None = None) -> Vma:
    """A Vma that renders back to exactly ``line`` (a real kernel's maps line).

    Lines showing the same file share one open file from ``open_files``, as
    the segments a loader maps from one descriptor do, so that they merge
    where the kernel's would after a change.
    """
    match = _MAPS_LINE.fullmatch(line)
    if not match:
        raise ValueError(f"not a maps line: {line!r}")
    start, end, prot, share, offset, major, minor, inode, name = match.groups()
    flags = prot_from_text(prot) | MAY_MASK
    if share == "s":
        flags |= VmFlags.SHARED | VmFlags.MAYSHARE
    name = name.lstrip(" ")
    major_n, minor_n, inode_n = int(major, 16), int(minor, 16), int(inode)
    if major_n or minor_n or inode_n:
        kind = FileKind.SHMEM if name == SHMEM_PATH else FileKind.REGULAR
        key = (name, major_n, minor_n, inode_n)
        file = (open_files if open_files is not None else {}).setdefault(key, MappedFile(*key, kind))
        return Vma(int(start, 16), int(end, 16), flags, int(offset, 16) >> PAGE_SHIFT, file)
    return Vma(int(start, 16), int(end, 16), flags, int(start, 16) >> PAGE_SHIFT, None, name or None)


def install_lines(process: Process, lines: list[str]) -> None:
    """Install every VMA of a real maps text, leaving out the gate VMA."""
    mm = process.mm
    open_files: OpenFiles = {}
    for line in lines:
        vma = parse_maps_line(line, open_files)
        if vma.start >= _GATE_START:
            continue
        mm.install(vma)


def _real_file(path: str, fallback_inode: int) -> MappedFile:
    try:
        info = os.stat(path)
    except OSError:
        return MappedFile(path, 0xFE, 0, fallback_inode)
    return MappedFile(path, os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)


def _segments(file: MappedFile, base: int, layout: list[tuple[int, str]]) -> list[Vma]:
    """Consecutive segments of one binary: (pages, prot) each, offsets as a linker lays them out."""
    vmas, address, pgoff = [], base, 0
    for pages, prot in layout:
        vmas.append(Vma(address, address + (pages << PAGE_SHIFT), prot_from_text(prot) | MAY_MASK, pgoff, file))
        address += pages << PAGE_SHIFT
        pgoff += pages
    return vmas


def _anon(start: int, pages: int, prot: str, name: str | None = None) -> Vma:
    flags = prot_from_text(prot) | MAY_MASK
    if "w" in prot:
        flags |= VmFlags.ACCOUNT
    return Vma(start, start + (pages << PAGE_SHIFT), flags, start >> PAGE_SHIFT, None, name)


def demo_layout(process: Process) -> None:
    """A bash-like x86-64 process: binary, [heap], locale, libc, ld.so, vdso, [stack]."""
    bash = _real_file("/usr/bin/bash", 260104)
    libc = _real_file("/usr/lib/x86_64-linux-gnu/libc.so.6", 339380)
    ldso = _real_file("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 338944)
    locale = _real_file("/usr/lib/locale/C.utf8/LC_CTYPE", 329635)
    vmas = _segments(bash, 0x562E9A9ED000, [(47, "r--"), (193, "r-x"), (56, "r--"), (4, "r--"), (9, "rw-")])
    vmas.append(_anon(0x562E9AB22000, 11, "rw-"))
    vmas.append(_anon(0x562EACC4C000, 96, "rw-", "[heap]"))
    vmas.append(_anon(0x7F7AFD1D5000, 129, "rw-"))
    vmas += _segments(locale, 0x7F7AFD256000, [(87, "r--")])
    vmas.append(_anon(0x7F7AFD2AD000, 3, "rw-", "[anon:glibc.malloc]"))
    vmas += _segments(libc, 0x7F7AFD2B0000, [(38, "r--"), (342, "r-x"), (83, "r--"), (4, "r--"), (2, "rw-")])
    vmas.append(_anon(0x7F7AFD48D000, 13, "rw-"))
    vmas.append(_anon(0x7F7AFD4A0000, 4, "r--", "[vvar]"))
    vmas.append(_anon(0x7F7AFD4A4000, 2, "r--", "[vvar_vclock]"))
    vmas.append(_anon(0x7F7AFD4A6000, 2, "r-x", "[vdso]"))
    vmas += _segments(ldso, 0x7F7AFD4A8000, [(1, "r--"), (38, "r-x"), (10, "r--"), (2, "r--"), (2, "rw-")])
    stack = _anon(0x7FFC7E488000, 33, "rw-", "[stack]")
    stack.set_flags(stack.flags | VmFlags.GROWSDOWN)
    vmas.append(stack)
    for vma in vmas:
        if vma.name in ("[vvar]", "[vvar_vclock]", "[vdso]"):
            vma.set_flags(vma.flags | VmFlags.DONTEXPAND | VmFlags.PFNMAP)
        process.mm.install(vma)
    process.mm.mmap_base = 0x7F7AFD4D5000
    process.cmdline = ["/usr/bin/bash", "--login"]


def many_layout(process: Process, count: int = 1500) -> None:
    """``count`` VMAs that cannot merge: alternating protections, some file-backed, some named."""
    libc = _real_file("/usr/lib/x86_64-linux-gnu/libc.so.6", 339380)
    address = 0x7E0000000000
    for index in range(count):
        pages = 1 + index % 3
        if index % 10 == 9:
            vma = Vma(address, address + (pages << PAGE_SHIFT), VmFlags.READ | MAY_MASK, index, libc)
        else:
            vma = _anon(address, pages, "rw-" if index % 2 else "r--", "[anon:arena]" if index % 7 == 0 else None)
        process.mm.install(vma)
        address += pages << PAGE_SHIFT
    process.mm.mmap_base = 0x7E0000000000


def empty_layout(process: Process) -> None:
    """No VMAs at all."""


LAYOUTS: dict[str, Callable[[Process], None]] = {"empty": empty_layout, "demo": demo_layout, "many": many_layout}


def read_real_maps(pid: int) -> tuple[str, list[str]]:
    """``(comm, maps lines)`` of a real process, or SyscallError as the kernel reports it."""
    try:
        # File names need not be UTF-8; surrogateescape carries their bytes through unchanged.
        with open(f"/proc/{pid}/comm", errors="surrogateescape") as comm_file:
            comm = comm_file.read().rstrip("\n")
        with open(f"/proc/{pid}/maps", errors="surrogateescape") as maps_file:
            lines = maps_file.read().splitlines(keepends=True)
    except FileNotFoundError:
        raise SyscallError(errno.ESRCH, f"no real process {pid}") from None
    except OSError as error:
        raise SyscallError(error.errno or errno.EIO, f"cannot read /proc/{pid}/maps: {error.strerror}") from None
    return comm, lines


def clone_real_process(table: ProcessTable, pid: int) -> Process:
    """A simulated process whose maps is byte-identical to real process ``pid``'s."""
    comm, lines = read_real_maps(pid)
    # /proc/PID's owner is the one the kernel's ptrace check compares with: the
    # effective ids, or root for a process that is not dumpable.
    try:
        owner = os.stat(f"/proc/{pid}")
    except OSError as error:
        raise SyscallError(error.errno or errno.ESRCH, f"no real process {pid}") from None
    process = table.spawn(comm, uid=owner.st_uid, gid=owner.st_gid)
    process.has_mm = bool(lines)
    try:
        install_lines(process, lines)
    except ValueError as error:
        table.kill(process.pid)
        raise SyscallError(errno.EINVAL, f"cannot clone {pid}: {error}") from None
    starts = [vma.start for _, _, vma in process.mm.tree if vma.start < 0x7FF000000000]
    if starts:
        process.mm.mmap_base = max(starts)
    return process
