"""ResidentRanges against the set of pages it stands for."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fakeproc.mm.resident import ResidentRanges

SPAN = 64
ranges = st.tuples(st.integers(0, SPAN), st.integers(0, SPAN))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.booleans(), ranges), max_size=30), ranges, st.booleans())
def test_ranges_match_the_pages_they_stand_for(
    operations: list[tuple[bool, tuple[int, int]]], probe: tuple[int, int], small_chunks: bool
) -> None:
    resident = ResidentRanges()
    if small_chunks:
        # Keys in chunks of a few, so that lookups cross from one chunk to the next.
        resident._ends._reset(2)
    pages: set[int] = set()
    for adding, (start, end) in operations:
        if adding:
            resident.add(start, end)
            pages |= set(range(start, end))
        else:
            resident.remove(start, end)
            pages -= set(range(start, end))
    listed = list(resident)
    assert {page for low, high in listed for page in range(low, high)} == pages
    assert resident.total == len(pages)
    # Kept merged: disjoint, ordered, never touching, never empty.
    assert all(low < high for low, high in listed)
    assert all(high < next_low for (_, high), (next_low, _) in zip(listed, listed[1:]))
    start, end = probe
    assert resident.count(start, end) == len(pages & set(range(start, end)))
    clipped = resident.overlapping(start, end)
    assert {page for low, high in clipped for page in range(low, high)} == pages & set(range(start, end))
