"""The control interface: parse ctl command lines and run them (DESIGN section 6).

Root commands (``<mnt>/ctl``): spawn, kill, clone.  Per-process commands
(``<mnt>/<pid>/ctl``): mmap, munmap, mprotect, mremap, query, touch.  Every
failure is a :class:`SyscallError` carrying the errno the real syscall gives;
a malformed line is EINVAL.  Nothing here knows about FUSE.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .errors import SyscallError
from .mm import syscalls
from .mm.syscalls import MapFlags, MremapFlags
from .mm.vma import MappedFile, Vma, VmFlags, prot_from_text
from .mm.walk import LockMode
from .population import LAYOUTS, clone_real_process
from .procfs.maps import encode, format_maps_line
from .process import Process, ProcessTable

#: Longest command line accepted; longer ones are EINVAL, like an oversized argument.
MAX_LINE = 4096

_NUMBER = re.compile(r"(0[xX][0-9a-fA-F]+|[0-9]+)")
_NAME = re.compile(r"[A-Za-z0-9_.:+-]{1,64}")
_MAX_ULONG = (1 << 64) - 1


def _invalid(message: str) -> SyscallError:
    return SyscallError(errno.EINVAL, message)


def parse_number(text: str, what: str) -> int:
    """``0x`` hex or decimal, within an unsigned long."""
    if not _NUMBER.fullmatch(text):
        raise _invalid(f"{what} must be 0x hex or decimal, not {text[:40]!r}")
    value = int(text, 0) if text.lower().startswith("0x") else int(text, 10)
    if value > _MAX_ULONG:
        raise _invalid(f"{what} {text[:40]} does not fit in an unsigned long")
    return value


def parse_prot(text: str) -> VmFlags:
    try:
        return prot_from_text(text)
    except ValueError as error:
        raise _invalid(str(error)) from None


def parse_words(text: str, allowed: dict[str, object], what: str) -> list[object]:
    words = [word for word in text.split(",") if word]
    unknown = [word for word in words if word not in allowed]
    if unknown or not words:
        raise _invalid(f"{what} {text[:60]!r}: use comma-separated words from {', '.join(allowed)}")
    return [allowed[word] for word in words]


_MAP_FLAGS = {flag.name.lower(): flag for flag in MapFlags if flag.name}
_MREMAP_FLAGS = {flag.name.lower(): flag for flag in MremapFlags if flag.name and flag.value}
_QUERY_FLAGS = ("covering_or_next", "file_backed", "readable", "writable", "executable", "shared")


def _map_flags(text: str) -> MapFlags:
    flags = MapFlags(0)
    for flag in parse_words(text, _MAP_FLAGS, "FLAGS"):
        assert isinstance(flag, MapFlags)
        flags |= flag
    return flags


def _mremap_flags(text: str) -> MremapFlags:
    if text in ("-", "0"):
        return MremapFlags.NONE
    flags = MremapFlags.NONE
    for flag in parse_words(text, _MREMAP_FLAGS, "FLAGS"):
        assert isinstance(flag, MremapFlags)
        flags |= flag
    return flags


def _mapped_file(path: str) -> MappedFile:
    """A file to map: the real file's device and inode, as the kernel would print them."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise SyscallError(error.errno or errno.ENOENT, f"cannot map {path}: {error.strerror}") from None
    return MappedFile(os.path.abspath(path), os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)


def _arity(words: list[str], low: int, high: int, usage: str) -> None:
    if not low <= len(words) - 1 <= high:
        raise _invalid(f"usage: {usage}")


def query_vma(process: Process, addr: int, flags: set[str]) -> Vma:
    """PROCMAP_QUERY: the VMA covering ``addr`` (or the next, with covering_or_next) that passes the filters."""
    tree = process.mm.tree
    while True:
        found = tree.find(addr)
        if found is None:
            raise SyscallError(errno.ENOENT, f"no VMA at or after {addr:#x}")
        vma = found[2]
        if vma.start > addr and "covering_or_next" not in flags:
            raise SyscallError(errno.ENOENT, f"no VMA covers {addr:#x}")
        vm = vma.flags
        if (
            ("file_backed" in flags and vma.file is None)
            or ("readable" in flags and not vm & VmFlags.READ)
            or ("writable" in flags and not vm & VmFlags.WRITE)
            or ("executable" in flags and not vm & VmFlags.EXEC)
            or ("shared" in flags and not vm & VmFlags.MAYSHARE)
        ):
            if "covering_or_next" not in flags:
                raise SyscallError(errno.ENOENT, f"the VMA at {addr:#x} does not match the filters")
            addr = vma.end
            continue
        return vma


Handler = Callable[[list[str]], Awaitable[str]]


@dataclass
class CommandSet:
    """Command words -> handlers, for one ctl file."""

    handlers: dict[str, Handler]

    async def run(self, line: str) -> str:
        words = line.split()
        if not words:
            raise _invalid("empty command")
        handler = self.handlers.get(words[0])
        if handler is None:
            raise _invalid(f"unknown command {words[0][:40]!r}; commands: {', '.join(self.handlers)}")
        return await handler(words)


def root_commands(table: ProcessTable) -> CommandSet:
    async def spawn(words: list[str]) -> str:
        name, layout, mode = "sim", "empty", None
        for word in words[1:]:
            key, separator, value = word.partition("=")
            if key == "layout" and value:
                if value not in LAYOUTS:
                    raise _invalid(f"layout {value!r} is not one of {', '.join(LAYOUTS)}")
                layout = value
            elif key == "lock" and value:
                try:
                    mode = LockMode.parse(value)
                except ValueError as error:
                    raise _invalid(str(error)) from None
            elif not separator and _NAME.fullmatch(word):
                name = word
            else:
                raise _invalid(f"spawn: unexpected {word[:40]!r}; usage: spawn [NAME] [layout=empty|demo|many] [lock=MODE]")
        process = table.spawn(name, mode)
        LAYOUTS[layout](process)
        return str(process.pid)

    async def kill(words: list[str]) -> str:
        _arity(words, 1, 1, "kill PID")
        table.kill(parse_number(words[1], "PID"))
        return "0"

    async def clone(words: list[str]) -> str:
        _arity(words, 1, 1, "clone PID")
        return str(clone_real_process(table, parse_number(words[1], "PID")).pid)

    return CommandSet({"spawn": spawn, "kill": kill, "clone": clone})


def process_commands(process: Process) -> CommandSet:
    mm = process.mm

    async def mmap(words: list[str]) -> str:
        if len(words) not in (5, 7):
            raise _invalid("usage: mmap ADDR LEN PROT FLAGS [PATH OFFSET]")
        addr = parse_number(words[1], "ADDR")
        length = parse_number(words[2], "LEN")
        prot = parse_prot(words[3])
        flags = _map_flags(words[4])
        file, offset = None, 0
        if len(words) == 7:
            if flags & MapFlags.ANONYMOUS:
                raise _invalid("an anonymous mapping takes no PATH")
            offset = parse_number(words[6], "OFFSET")
            file = _mapped_file(words[5])
        return f"{await syscalls.mmap(mm, addr, length, prot, flags, file, offset):#x}"

    async def munmap(words: list[str]) -> str:
        _arity(words, 2, 2, "munmap ADDR LEN")
        await syscalls.munmap(mm, parse_number(words[1], "ADDR"), parse_number(words[2], "LEN"))
        return "0"

    async def mprotect(words: list[str]) -> str:
        _arity(words, 3, 3, "mprotect ADDR LEN PROT")
        addr, length = parse_number(words[1], "ADDR"), parse_number(words[2], "LEN")
        await syscalls.mprotect(mm, addr, length, parse_prot(words[3]))
        return "0"

    async def mremap(words: list[str]) -> str:
        _arity(words, 3, 5, "mremap OLD OLDLEN NEWLEN [FLAGS [NEWADDR]]")
        old, old_len, new_len = (parse_number(word, what) for word, what in zip(words[1:4], ("OLD", "OLDLEN", "NEWLEN")))
        flags = _mremap_flags(words[4]) if len(words) > 4 else MremapFlags.NONE
        new_addr = parse_number(words[5], "NEWADDR") if len(words) > 5 else 0
        return f"{await syscalls.mremap(mm, old, old_len, new_len, flags, new_addr):#x}"

    async def query(words: list[str]) -> str:
        _arity(words, 1, 2, "query ADDR [FLAGS]")
        addr = parse_number(words[1], "ADDR")
        flags = {str(word) for word in parse_words(words[2], {w: w for w in _QUERY_FLAGS}, "FLAGS")} if len(words) > 2 else set()
        await mm.mmap_lock.acquire_read()
        try:
            return format_maps_line(query_vma(process, addr, flags)).rstrip("\n")
        finally:
            mm.mmap_lock.release_read()

    async def touch(words: list[str]) -> str:
        _arity(words, 2, 2, "touch ADDR LEN")
        await syscalls.touch(mm, parse_number(words[1], "ADDR"), parse_number(words[2], "LEN"))
        return "0"

    return CommandSet(
        {"mmap": mmap, "munmap": munmap, "mprotect": mprotect, "mremap": mremap, "query": query, "touch": touch}
    )


class ControlSession:
    """One open ctl file: commands written in, one result line each read out."""

    def __init__(self, commands: CommandSet, process: Process | None = None) -> None:
        self.commands = commands
        self.process = process
        self.results = bytearray()

    async def write(self, data: bytes) -> int:
        """Run every line of ``data`` in order, stopping at the first failure.

        Returns ``len(data)``; raises the failing command's SyscallError after
        recording its ``error:`` line.
        """
        if self.process is not None:
            self.process.check_alive()
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            try:
                result = await self.run_raw(raw)
            except SyscallError as error:
                self.results += encode(error.result_line() + "\n")
                raise
            self.results += encode(result + "\n")
        return len(data)

    async def run_raw(self, raw: bytes) -> str:
        if len(raw) > MAX_LINE:
            raise _invalid(f"command line longer than {MAX_LINE} bytes")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid("command is not UTF-8 text") from None
        if any(char < " " and char != "\t" or char == "\x7f" for char in line):
            raise _invalid("command holds control characters")
        return await self.commands.run(line)

    def read(self, size: int) -> bytes:
        """Take up to ``size`` bytes of pending results (empty when none)."""
        taken = bytes(self.results[:size])
        del self.results[:size]
        return taken
