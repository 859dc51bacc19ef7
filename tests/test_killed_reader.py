"""What an open maps file gives after its process is killed: what was buffered, then ESRCH.

The kernel's ``seq_read_iter`` copies out what its buffer still holds before it
calls the iterator again, and reports the iterator's error only when it has
copied nothing.  A read of 100 bytes renders whole lines until they hold at
least 100 bytes, so the buffer then holds the rest of those lines.
"""

from __future__ import annotations

import errno
import os

import pytest

from fakeproc.errors import SyscallError
from fakeproc.lab.daemon import Mount
from fakeproc.population import demo_layout
from fakeproc.process import ProcessTable
from fakeproc.procfs.maps import MapsIterator
from fakeproc.seqfile import PAGE_SIZE, SeqFile

HEAD = 100


def rendered_for(head: int, whole: bytes) -> bytes:
    """The whole lines a read of ``head`` bytes renders: the fewest that hold ``head`` bytes."""
    end = whole.index(b"\n", head - 1) + 1
    return whole[:end]


async def test_seqfile_serves_its_buffer_before_the_iterators_error() -> None:
    table = ProcessTable()
    process = table.spawn("victim")
    demo_layout(process)
    whole = await SeqFile(MapsIterator(process)).read(0, PAGE_SIZE)
    seq = SeqFile(MapsIterator(process))
    head = await seq.read(0, HEAD)
    table.kill(process.pid)
    rest = await seq.read(HEAD, PAGE_SIZE)
    assert rest and head + rest == rendered_for(HEAD, whole)
    with pytest.raises(SyscallError) as failure:
        await seq.read(HEAD + len(rest), PAGE_SIZE)
    assert failure.value.errno == errno.ESRCH


@pytest.mark.fuse
def test_read_after_kill_returns_the_rest_of_the_page_then_esrch(demo_mount: Mount) -> None:
    pid = demo_mount.ctl(None, "spawn victim layout=demo")[0]
    with open(demo_mount.path / pid / "maps", "rb") as whole_file:
        whole = whole_file.read()
    fd = os.open(demo_mount.path / pid / "maps", os.O_RDONLY)
    try:
        head = os.read(fd, HEAD)
        demo_mount.ctl(None, f"kill {pid}")
        rest = os.read(fd, PAGE_SIZE)
        assert rest and head + rest == rendered_for(HEAD, whole)
        with pytest.raises(ProcessLookupError):
            os.read(fd, PAGE_SIZE)
    finally:
        os.close(fd)
