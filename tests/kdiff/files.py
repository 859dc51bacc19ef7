"""The files that the file-backed kernel facts map, and how their lines compare.

A file fact names its files as ``{files}/NAME``; :func:`make_files` builds
the same tree in any directory (a fresh one per test session, so parallel
runs never share it), :func:`expand` puts that directory into the
operations, and :func:`render_lines` turns a fact's recorded lines into what
the kernel must print for this directory: ``{files}`` becomes the directory,
and ``{dev} {inode}`` become the device and inode of the file the line
names, so a recorded line still says "this is that file" without the
numbers of the machine it was recorded on.
"""

from __future__ import annotations

import os
from pathlib import Path

PLACEHOLDER = "{files}"
PAGE = 4096

#: Regular files: name -> size in bytes.  The contents do not matter; they are
#: written with write(2), so every page is in the page cache before a fact runs.
REGULAR: dict[str, int] = {
    "two-pages": 2 * PAGE,
    "page-and-half": PAGE + PAGE // 2,
    "sub/one-page": PAGE,
}
#: Symbolic links: name -> target, relative to the link's directory.
SYMLINKS: dict[str, str] = {
    "link-to-two-pages": "two-pages",
    "link-to-sub": "sub",
}


def make_files(directory: Path) -> Path:
    """Create the regular files, the directory ``sub`` and the symlinks in ``directory``."""
    for name, size in REGULAR.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(index % 251 for index in range(size)))
    for name, target in SYMLINKS.items():
        (directory / name).symlink_to(target)
    return directory


def expand(op: str, directory: Path) -> str:
    return op.replace(PLACEHOLDER, str(directory))


def _device_and_inode(path: str) -> tuple[str, str]:
    """The ``MAJ:MIN INODE`` columns maps prints for ``path`` (device numbers in hex, at least two digits)."""
    info = os.stat(path)
    return f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}", str(info.st_ino)


def render_lines(recorded: tuple[str, ...], directory: Path) -> list[str]:
    """The maps lines a recorded fact stands for in ``directory``, padded the kernel's way.

    Lines without placeholders are kept as they are (anonymous memory, and
    shared anonymous memory whose inodes ``kernel.normalize_shmem_inodes``
    numbers).
    """
    rendered = []
    for line in recorded:
        if PLACEHOLDER not in line and "{dev}" not in line:
            rendered.append(line)
            continue
        start_end, perms, offset, device, inode, name = line.split(None, 5)
        name = expand(name, directory)
        if (device, inode) == ("{dev}", "{inode}"):
            device, inode = _device_and_inode(name)
        rendered.append(f"{start_end} {perms} {offset} {device} {inode} ".ljust(72) + " " + name)
    return rendered


def host_cannot_show(ops: list[str]) -> str | None:
    """Why this host cannot replay ``ops`` as recorded (a path that resolves elsewhere here), or None."""
    if any(" /bin/bash " in op for op in ops) and os.path.realpath("/bin/bash") != "/usr/bin/bash":
        return "/bin/bash is not /usr/bin/bash on this host"
    return None
