"""Golden format tests: the fake's lines against the real kernel's /proc/self/maps."""

from __future__ import annotations

import mmap
import re
from functools import partial

import pytest
import trio

from fakeproc.calls import PROCESS_CALLS
from fakeproc.population import demo_layout, parse_maps_line
from fakeproc.process import ProcessTable
from fakeproc.procfs.maps import format_maps_line, gate_vma

REAL_MAPS = open("/proc/self/maps").read().splitlines(keepends=True)


def test_every_real_line_round_trips() -> None:
    # One test over all lines, not one per line: the test process's own maps differ from run to run,
    # and the collected tests must not.
    mismatches = [(line, rendered) for line in REAL_MAPS if (rendered := format_maps_line(parse_maps_line(line))) != line]
    assert mismatches == []


def test_gate_line_is_the_kernels() -> None:
    assert format_maps_line(gate_vma()) == REAL_MAPS[-1]


@pytest.mark.parametrize("prot, share", [("r--", "private"), ("r-x", "private"), ("r--", "shared")])
def test_file_mapping_matches_kernel(prot: str, share: str) -> None:
    """Map the same file both ways; the lines may differ only in the address."""
    path = "/usr/bin/cat"
    with open(path, "rb") as file:
        flags = mmap.MAP_SHARED if share == "shared" else mmap.MAP_PRIVATE
        prot_bits = mmap.PROT_READ | (mmap.PROT_EXEC if "x" in prot else 0)
        real_map = mmap.mmap(file.fileno(), 8192, flags=flags, prot=prot_bits, offset=4096)
        real_lines = [line for line in open("/proc/self/maps") if line.rstrip().endswith(path) and " 00001000 " in line]
        real_map.close()
    assert real_lines, "the kernel did not show the mapping"
    real = real_lines[-1]

    async def fake() -> str:
        process = ProcessTable().spawn("p")
        run = partial(PROCESS_CALLS.run, process)
        addr = int(await run(f"mmap 0 8192 {prot} {share} {path} 4096"), 16)
        return await run(f"query {addr:#x}")

    def without_range(line: str) -> str:
        return re.sub(r"^[0-9a-f]+-[0-9a-f]+ ", "", line.rstrip("\n"))

    assert without_range(trio.run(fake)) == without_range(real)


def test_demo_layout_lines_are_kernel_shaped() -> None:
    process = ProcessTable().spawn("bash")
    demo_layout(process)
    for vma in process.mm.vmas():
        line = format_maps_line(vma)
        assert format_maps_line(parse_maps_line(line)) == line
        assert re.fullmatch(r"[0-9a-f]{8,}-[0-9a-f]{8,} [r-][w-][x-][ps] [0-9a-f]{8} [0-9a-f]{2}:[0-9a-f]{2} \d+ (\s*\S.*)?\n", line)
