"""The VMA: one mapping of an address space, a mutable object with an identity.

Like ``struct vm_area_struct``, a :class:`Vma` is changed in place by writers
(a split shrinks it, a merge grows it), while the tree keeps its own record of
which range maps to which VMA.  During a transaction the two can disagree, and
a reader with no lock may see that.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

PAGE_SIZE = 4096
PAGE_SHIFT = 12


#: The subset of ``vm_flags`` bits that changes what maps shows or what
#: merges, with the kernel's values (comparable with smaps' ``VmFlags`` line
#: and the kernel's merge rules).  The model keeps and combines flags as
#: plain ints: every operation tests several bits, and ``&`` or ``|`` on an
#: ``enum.Flag`` costs a call into the enum machinery each time.
VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4
VM_SHARED = 0x8
VM_MAYREAD = 0x10
VM_MAYWRITE = 0x20
VM_MAYEXEC = 0x40
VM_MAYSHARE = 0x80
VM_GROWSDOWN = 0x100
VM_PFNMAP = 0x400
VM_IO = 0x4000
VM_SOFTDIRTY = 0x8000000
VM_DONTEXPAND = 0x40000
VM_ACCOUNT = 0x100000
VM_NORESERVE = 0x200000
VM_DONTDUMP = 0x4000000


class VmFlags(enum.IntFlag):
    """The same bits by name, for code outside the model: parsing, printing, tests.

    A ``VmFlags`` value may be given wherever the model takes flags (it is
    an int); the model stores and returns plain ints.
    """

    READ = VM_READ
    WRITE = VM_WRITE
    EXEC = VM_EXEC
    SHARED = VM_SHARED
    MAYREAD = VM_MAYREAD
    MAYWRITE = VM_MAYWRITE
    MAYEXEC = VM_MAYEXEC
    MAYSHARE = VM_MAYSHARE
    GROWSDOWN = VM_GROWSDOWN
    ACCOUNT = VM_ACCOUNT
    NORESERVE = VM_NORESERVE
    DONTEXPAND = VM_DONTEXPAND
    DONTDUMP = VM_DONTDUMP
    IO = VM_IO
    PFNMAP = VM_PFNMAP
    SOFTDIRTY = VM_SOFTDIRTY


PROT_MASK = VM_READ | VM_WRITE | VM_EXEC
MAY_MASK = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC


def prot_from_text(text: str) -> VmFlags:
    """``"rw-"`` -> READ|WRITE.  Raises ValueError on anything else."""
    if len(text) != 3 or any(c not in allowed for c, allowed in zip(text, ("r-", "w-", "x-"))):
        raise ValueError(f"PROT must be three characters like rw- or r-x, not {text!r}")
    flags = VmFlags(0)
    for char, bit in zip(text, (VmFlags.READ, VmFlags.WRITE, VmFlags.EXEC)):
        if char != "-":
            flags |= bit
    return flags


def prot_to_text(flags: int) -> str:
    return ("r" if flags & VM_READ else "-") + ("w" if flags & VM_WRITE else "-") + ("x" if flags & VM_EXEC else "-")


class FileKind(enum.Enum):
    """What an open file is, as far as mmap cares (the inode type and the driver's mmap)."""

    #: Page cache: offsets up to 2^63, a fault past the end of the file is SIGBUS.
    REGULAR = "regular"
    #: The ``/dev/zero`` device: shared writable it becomes shmem, else it maps zero pages under its own name.
    ZERO = "zero"
    #: The shmem file behind shared anonymous memory: as long as the mapping that made it.
    SHMEM = "shmem"
    #: Directories, pipes, sockets and devices without an mmap of their own: ENODEV.
    UNMAPPABLE = "unmappable"


#: The largest file a regular file's mapping may reach (MAX_LFS_FILESIZE), and any other file's.
MAX_REGULAR_FILE_SIZE = (1 << 63) - 1
MAX_OTHER_FILE_SIZE = (1 << 64) - 1


@dataclass(frozen=True, slots=True, eq=False)
class MappedFile:
    """An open file (``struct file``): what an fd refers to and a file-backed VMA maps.

    Printed as ``MAJ:MIN INODE PATH``.  Equality is identity, as the kernel
    compares ``vm_file`` pointers: two opens of one path are two open files,
    and VMAs merge only when they map the same one.  ``readable`` and
    ``writable`` are the access mode it was opened with (``FMODE_READ``,
    ``FMODE_WRITE``); ``size`` is the file's size in bytes when it was
    opened, None where it is unknown or has no end (clones, devices).
    """

    path: str
    dev_major: int = 0xFE
    dev_minor: int = 0
    inode: int = 0
    kind: FileKind = FileKind.REGULAR
    size: int | None = None
    readable: bool = True
    writable: bool = True

    @property
    def max_size(self) -> int:
        """How far into the file a mapping may reach (``file_mmap_size_max``)."""
        return MAX_REGULAR_FILE_SIZE if self.kind is FileKind.REGULAR else MAX_OTHER_FILE_SIZE

    @property
    def pages(self) -> int | None:
        """Pages holding the file's bytes (the last one may be partly past the end); None if unbounded."""
        return None if self.size is None else (self.size + PAGE_SIZE - 1) >> PAGE_SHIFT


class AnonVma:
    """Identity of anonymous memory that has been faulted in.

    Two anonymous VMAs merge only if at most one has an anon_vma, or both
    share the same one (``is_mergeable_anon_vma``).  Identity is the
    object's; ``number``, handed out by the address space, only tells them
    apart in a repr.
    """

    __slots__ = ("number",)

    def __init__(self, number: int) -> None:
        self.number = number

    def __repr__(self) -> str:
        return f"AnonVma#{self.number}"


class Vma:
    """One mapping.  ``start``/``end``/``pgoff``/``flags`` change in place.

    Lock state (see :mod:`fakeproc.mm.locks`): ``lock_seq`` equals the mm's odd
    write sequence while the VMA is write-locked; ``readers`` counts read
    locks; ``detached`` is set once the VMA has left the tree for good.
    ``line`` is a cache owned by the maps renderer, which the model only
    clears: every change of what maps shows goes through :meth:`set_range`
    or :meth:`set_flags`, never a bare assignment.
    """

    __slots__ = (
        "start",
        "end",
        "flags",
        "pgoff",
        "file",
        "name",
        "anon_vma",
        "lock_seq",
        "readers",
        "detached",
        "line",
    )

    def __init__(
        self,
        start: int,
        end: int,
        flags: int,
        pgoff: int = 0,
        file: MappedFile | None = None,
        name: str | None = None,
        anon_vma: AnonVma | None = None,
    ) -> None:
        self.start = start
        self.end = end
        # A VmFlags given here is kept as the plain int the model works with.
        self.flags = int(flags)
        self.pgoff = pgoff
        self.file = file
        self.name = name
        self.anon_vma = anon_vma
        self.lock_seq = -1
        self.readers = 0
        self.detached = False
        self.line: bytes | None = None

    def copy(self, start: int, end: int) -> Vma:
        """A new VMA like this one over [start, end), pgoff adjusted (``vm_area_dup``)."""
        return Vma(
            start,
            end,
            self.flags,
            self.pgoff + ((start - self.start) >> PAGE_SHIFT),
            self.file,
            self.name,
            self.anon_vma,
        )

    def set_range(self, start: int, end: int, pgoff: int) -> None:
        self.start, self.end, self.pgoff = start, end, pgoff
        self.line = None

    def set_flags(self, flags: int) -> None:
        self.flags = int(flags)
        self.line = None

    @property
    def is_anonymous(self) -> bool:
        """Anonymous memory (``vma_is_anonymous``): no file, or ``/dev/zero`` mapped without VM_SHARED.

        Such a ``/dev/zero`` VMA keeps the file for its name and merges, but
        its pages are anonymous, like those of a VMA without a file.
        """
        return self.file is None or self.file.kind is FileKind.ZERO

    @property
    def pages(self) -> int:
        return (self.end - self.start) >> PAGE_SHIFT

    def pgoff_at(self, addr: int) -> int:
        return self.pgoff + ((addr - self.start) >> PAGE_SHIFT)

    def __repr__(self) -> str:
        state = " detached" if self.detached else ""
        return (
            f"<Vma {self.start:#x}-{self.end:#x} {prot_to_text(self.flags)}"
            f"{'s' if self.flags & VM_SHARED else 'p'} pgoff={self.pgoff:#x}"
            f"{' ' + (self.file.path if self.file else self.name or '') if (self.file or self.name) else ''}"
            f" readers={self.readers}{state}>"
        )
