"""VmaTree: range -> VMA map with maple-tree store semantics.

Example tests pin down each query at its edges; a hypothesis state machine
compares the tree with a page -> (vma, store) reference after every store
and erase, and checks every query at random addresses.
"""

from __future__ import annotations

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fakeproc.mm.tree import TreeCorrupt, TreeCursor, VmaTree
from fakeproc.mm.vma import PAGE_SIZE, Vma, VmFlags

P = PAGE_SIZE


def vma(start: int, end: int) -> Vma:
    return Vma(start * P, end * P, VmFlags.READ)


def build(*ranges: tuple[int, int]) -> tuple[VmaTree, list[Vma]]:
    """A settled tree holding one VMA per (start_page, end_page)."""
    tree = VmaTree()
    vmas = []
    for start, end in ranges:
        v = vma(start, end)
        tree.store(v.start, v.end, v)
        vmas.append(v)
    return tree, vmas


def pages(tree: VmaTree) -> list[tuple[int, int, Vma]]:
    """The tree's ranges in pages."""
    return [(start // P, end // P, v) for start, end, v in tree]


# --- find / find_before / lookup --------------------------------------------


def test_empty_tree_answers_nothing() -> None:
    tree = VmaTree()
    assert len(tree) == 0
    assert tree.find(0) is None
    assert tree.find_before(1 << 60) is None
    assert tree.lookup(0x1000) is None
    assert tree.overlapping(0, 1 << 60) == []
    assert list(tree.iter_from(0)) == []
    assert list(tree.iter_down_from(1 << 60)) == []
    tree.check()


def test_find_returns_containing_or_next_range() -> None:
    tree, (a, b) = build((2, 4), (6, 8))
    assert tree.find(0) == (2 * P, 4 * P, a)
    assert tree.find(2 * P) == (2 * P, 4 * P, a)
    assert tree.find(4 * P - 1) == (2 * P, 4 * P, a)
    # The end is exclusive: an address equal to vm_end finds the next range.
    assert tree.find(4 * P) == (6 * P, 8 * P, b)
    assert tree.find(5 * P) == (6 * P, 8 * P, b)
    assert tree.find(8 * P - 1) == (6 * P, 8 * P, b)
    assert tree.find(8 * P) is None


def test_cursor_steps_to_the_next_range_and_searches_after_a_change() -> None:
    tree, (a, b, _) = build((2, 4), (6, 8), (10, 12))
    cursor = TreeCursor(tree)
    assert cursor.find(0) == (2 * P, 4 * P, a)
    assert cursor.find(4 * P) == (6 * P, 8 * P, b)
    # Changed since the last answer: stepping through the old keys would give 10-12.
    tree.erase(10 * P, 12 * P)
    d = vma(8, 9)
    tree.store(d.start, d.end, d)
    assert cursor.find(8 * P) == (8 * P, 9 * P, d)
    assert cursor.find(9 * P) is None
    # Asked for an address other than the last end, it searches.
    assert cursor.find(5 * P) == (6 * P, 8 * P, b)
    assert cursor.find(0) == (2 * P, 4 * P, a)


def test_each_reader_steps_its_own_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two walks interleaved on one tree search once each, then only step (O(1) per range)."""
    tree, vmas = build(*((2 * i, 2 * i + 1) for i in range(50)))
    searches = 0
    irange = tree._by_end.irange

    def counting_irange(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal searches
        searches += 1
        return irange(*args, **kwargs)

    monkeypatch.setattr(tree._by_end, "irange", counting_irange)
    cursors = [TreeCursor(tree), TreeCursor(tree)]
    positions = [0, 0]
    walked: list[list[Vma]] = [[], []]
    while any(position is not None for position in positions):
        for reader, cursor in enumerate(cursors):
            position = positions[reader]
            if position is None:
                continue
            found = cursor.find(position)
            # Tree lookups in between must not move a reader's cursor.
            assert tree.find(0) == (0, P, vmas[0])
            positions[reader] = None if found is None else found[1]
            if found is not None:
                walked[reader].append(found[2])
    assert walked == [vmas, vmas]
    assert searches == 2


def test_find_before_returns_last_range_starting_below() -> None:
    tree, (a, b) = build((2, 4), (6, 8))
    assert tree.find_before(0) is None
    assert tree.find_before(2 * P) is None
    assert tree.find_before(2 * P + 1) == (2 * P, 4 * P, a)
    assert tree.find_before(4 * P) == (2 * P, 4 * P, a)
    assert tree.find_before(6 * P) == (2 * P, 4 * P, a)
    assert tree.find_before(6 * P + 1) == (6 * P, 8 * P, b)
    assert tree.find_before(8 * P) == (6 * P, 8 * P, b)
    assert tree.find_before(1 << 60) == (6 * P, 8 * P, b)


def test_lookup_only_answers_inside_a_range() -> None:
    tree, (a, b) = build((2, 4), (4, 5))
    assert tree.lookup(2 * P - 1) is None
    assert tree.lookup(2 * P) is a
    assert tree.lookup(4 * P - 1) is a
    assert tree.lookup(4 * P) is b
    assert tree.lookup(5 * P) is None


def test_overlapping_excludes_ranges_that_only_touch() -> None:
    tree, (a, b, c) = build((2, 4), (4, 6), (8, 9))
    assert tree.overlapping(0, 2 * P) == []
    assert tree.overlapping(4 * P, 4 * P + 1) == [(4 * P, 6 * P, b)]
    assert tree.overlapping(4 * P - 1, 4 * P + 1) == [(2 * P, 4 * P, a), (4 * P, 6 * P, b)]
    assert tree.overlapping(6 * P, 8 * P) == []
    assert tree.overlapping(0, 1 << 60) == [(2 * P, 4 * P, a), (4 * P, 6 * P, b), (8 * P, 9 * P, c)]


# --- store / erase ------------------------------------------------------------


def test_store_rejects_empty_range() -> None:
    tree = VmaTree()
    with pytest.raises(ValueError):
        tree.store(P, P, vma(1, 1))
    with pytest.raises(ValueError):
        tree.erase(2 * P, P)


def test_store_over_the_middle_splits_the_old_range_keeping_its_vma() -> None:
    tree, (old,) = build((0, 10))
    new = vma(3, 5)
    tree.store(3 * P, 5 * P, new)
    assert pages(tree) == [(0, 3, old), (3, 5, new), (5, 10, old)]
    # The old VMA's fields were not touched: the tree keeps its own ranges.
    assert (old.start, old.end) == (0, 10 * P)
    tree.check(settled=False)
    with pytest.raises(TreeCorrupt):
        tree.check(settled=True)


def test_store_trims_both_neighbours_and_replaces_covered_ranges() -> None:
    tree, (a, b, c, d) = build((0, 4), (4, 5), (5, 6), (6, 10))
    new = vma(2, 8)
    tree.store(2 * P, 8 * P, new)
    assert pages(tree) == [(0, 2, a), (2, 8, new), (8, 10, d)]
    assert len(tree) == 3


def test_store_exactly_over_a_range_replaces_it() -> None:
    tree, (a, b, c) = build((0, 2), (2, 4), (4, 6))
    new = vma(2, 4)
    tree.store(2 * P, 4 * P, new)
    assert pages(tree) == [(0, 2, a), (2, 4, new), (4, 6, c)]


def test_store_grows_a_vma_over_its_neighbour() -> None:
    """A merge: prev's range is stored again, larger, swallowing next's."""
    tree, (prev, next_) = build((0, 2), (2, 5))
    prev.set_range(0, 5 * P, prev.pgoff)
    tree.store(0, 5 * P, prev)
    assert pages(tree) == [(0, 5, prev)]
    tree.check()


def test_store_split_then_shrink_matches_kernel_split_order() -> None:
    """__split_vma: shrink the old VMA's fields, then store the new one."""
    tree, (old,) = build((0, 10))
    new = old.copy(6 * P, 10 * P)
    old.set_range(0, 6 * P, old.pgoff)
    # Between the two steps the tree still maps [6, 10) to the old VMA.
    assert tree.lookup(7 * P) is old
    with pytest.raises(TreeCorrupt):
        tree.check(settled=True)
    tree.store(new.start, new.end, new)
    assert pages(tree) == [(0, 6, old), (6, 10, new)]
    tree.check()


def test_store_none_and_erase_punch_holes() -> None:
    tree, (a, b) = build((0, 10), (10, 12))
    tree.store(2 * P, 3 * P, None)
    tree.erase(5 * P, 11 * P)
    assert pages(tree) == [(0, 2, a), (3, 5, a), (11, 12, b)]
    tree.erase(0, 1 << 60)
    assert len(tree) == 0


def test_erase_of_a_hole_changes_nothing() -> None:
    tree, (a, b) = build((0, 2), (4, 6))
    tree.erase(2 * P, 4 * P)
    assert pages(tree) == [(0, 2, a), (4, 6, b)]


# --- iteration ----------------------------------------------------------------


def test_iter_from_starts_at_the_range_ending_above() -> None:
    tree, (a, b, c) = build((0, 2), (2, 4), (6, 8))
    assert [v for _, _, v in tree.iter_from(0)] == [a, b, c]
    assert [v for _, _, v in tree.iter_from(2 * P - 1)] == [a, b, c]
    assert [v for _, _, v in tree.iter_from(2 * P)] == [b, c]
    assert [v for _, _, v in tree.iter_from(5 * P)] == [c]
    assert list(tree.iter_from(8 * P)) == []
    assert [v for _, _, v in tree] == [a, b, c]


def test_iter_down_from_yields_ranges_starting_below_in_descending_order() -> None:
    tree, (a, b, c) = build((0, 2), (2, 4), (6, 8))
    assert list(tree.iter_down_from(0)) == []
    assert [v for _, _, v in tree.iter_down_from(1)] == [a]
    assert [v for _, _, v in tree.iter_down_from(2 * P)] == [a]
    assert [v for _, _, v in tree.iter_down_from(3 * P)] == [b, a]
    assert [v for _, _, v in tree.iter_down_from(6 * P)] == [b, a]
    assert [v for _, _, v in tree.iter_down_from(7 * P)] == [c, b, a]
    assert [v for _, _, v in tree.iter_down_from(1 << 60)] == [c, b, a]


# --- check --------------------------------------------------------------------


def test_check_settled_catches_disagreement_duplicates_and_detached() -> None:
    tree, (a, b) = build((0, 2), (4, 6))
    tree.check()

    a.set_range(0, 3 * P, a.pgoff)
    with pytest.raises(TreeCorrupt, match="disagrees"):
        tree.check()
    tree.check(settled=False)
    a.set_range(0, 2 * P, a.pgoff)

    b.detached = True
    with pytest.raises(TreeCorrupt, match="detached"):
        tree.check()
    b.detached = False

    tree.store(10 * P, 12 * P, a)
    with pytest.raises(TreeCorrupt):
        tree.check()
    tree.check(settled=False)


def test_check_catches_overlap_and_empty_ranges() -> None:
    """Corrupt the storage directly: check() must notice."""
    tree, (a, b) = build((0, 4), (4, 6))
    tree._by_end[6 * P] = (3 * P, b)
    with pytest.raises(TreeCorrupt, match="overlaps"):
        tree.check(settled=False)
    tree._by_end[6 * P] = (6 * P, b)
    with pytest.raises(TreeCorrupt, match="empty"):
        tree.check(settled=False)
    tree._by_end[6 * P] = (4 * P, b)
    tree.check()
    tree.mapped_bytes += P
    with pytest.raises(TreeCorrupt, match="mapped_bytes"):
        tree.check(settled=False)


def test_mapped_bytes_follows_stores_trims_and_erases() -> None:
    tree, (a, _) = build((0, 4), (6, 8))
    assert tree.mapped_bytes == 6 * P
    tree.store(3 * P, 7 * P, a)  # trims both neighbours, fills the hole
    assert tree.mapped_bytes == 8 * P
    tree.erase(2 * P, 10 * P)
    assert tree.mapped_bytes == 2 * P
    tree.store(0, 2 * P, None)
    assert tree.mapped_bytes == 0


# --- state machine against a page -> (vma, store) reference -------------------

SPAN = 48  # pages of address space the machine works in
addresses = st.integers(min_value=0, max_value=(SPAN + 2) * P)
page_numbers = st.integers(min_value=0, max_value=SPAN)
lengths = st.integers(min_value=1, max_value=SPAN // 2)


class TreeMachine(RuleBasedStateMachine):
    """Reference: page -> (vma, store number).

    One store creates one range; trimming keeps the surviving parts of that
    range, which can only be separated by another store in the middle.  So
    the tree's ranges are exactly the maximal runs of contiguous pages with
    the same store number.
    """

    @initialize()
    def setup(self) -> None:
        self.tree = VmaTree()
        self.ref: dict[int, tuple[Vma, int]] = {}
        self.vmas: list[Vma] = []
        self.stores = 0
        self.cursor = TreeCursor(self.tree)
        self.cursor_last_end = 0

    # -- changes --

    @rule(start=page_numbers, length=lengths, reuse=st.integers(min_value=0, max_value=20))
    def store(self, start: int, length: int, reuse: int) -> None:
        end = start + length
        if reuse < len(self.vmas):
            # Storing an already-mapped VMA at a second place is how a
            # transaction looks half-way: allowed unsettled.
            target = self.vmas[reuse]
        else:
            target = vma(start, end)
            self.vmas.append(target)
        self.stores += 1
        self.tree.store(start * P, end * P, target)
        for page in range(start, end):
            self.ref[page] = (target, self.stores)

    @rule(start=page_numbers, length=lengths)
    def erase(self, start: int, length: int) -> None:
        self.tree.erase(start * P, (start + length) * P)
        for page in range(start, start + length):
            self.ref.pop(page, None)

    @rule(start=page_numbers, length=lengths)
    def store_none(self, start: int, length: int) -> None:
        self.tree.store(start * P, (start + length) * P, None)
        for page in range(start, start + length):
            self.ref.pop(page, None)

    # -- queries --

    def expected_ranges(self) -> list[tuple[int, int, Vma]]:
        runs: list[list] = []
        for page in sorted(self.ref):
            target, serial = self.ref[page]
            if runs and runs[-1][1] == page * P and runs[-1][3] == serial:
                runs[-1][1] += P
            else:
                runs.append([page * P, (page + 1) * P, target, serial])
        return [(start, end, target) for start, end, target, _ in runs]

    @rule(addr=addresses)
    def find(self, addr: int) -> None:
        above = [r for r in self.expected_ranges() if r[1] > addr]
        assert self.tree.find(addr) == (above[0] if above else None)

    @rule(addr=addresses)
    def cursor_find(self, addr: int) -> None:
        above = [r for r in self.expected_ranges() if r[1] > addr]
        found = self.cursor.find(addr)
        assert found == (above[0] if above else None)
        self.cursor_last_end = 0 if found is None else found[1]

    @rule()
    def cursor_find_next(self) -> None:
        """Ask for the range after the cursor's last answer: the stepping path, unless the tree changed."""
        last = self.cursor_last_end
        above = [r for r in self.expected_ranges() if r[1] > last]
        found = self.cursor.find(last)
        assert found == (above[0] if above else None)
        self.cursor_last_end = 0 if found is None else found[1]

    @rule(addr=addresses)
    def find_before(self, addr: int) -> None:
        below = [r for r in self.expected_ranges() if r[0] < addr]
        assert self.tree.find_before(addr) == (below[-1] if below else None)

    @rule(addr=addresses)
    def lookup(self, addr: int) -> None:
        entry = self.ref.get(addr // P)
        assert self.tree.lookup(addr) is (entry[0] if entry else None)

    @rule(addr=addresses, length=st.integers(min_value=1, max_value=(SPAN // 2) * P))
    def overlapping(self, addr: int, length: int) -> None:
        expected = [r for r in self.expected_ranges() if r[0] < addr + length and r[1] > addr]
        assert self.tree.overlapping(addr, addr + length) == expected

    @rule(addr=addresses)
    def iter_from(self, addr: int) -> None:
        expected = [r for r in self.expected_ranges() if r[1] > addr]
        assert list(self.tree.iter_from(addr)) == expected

    @rule(addr=addresses)
    def iter_down_from(self, addr: int) -> None:
        expected = [r for r in reversed(self.expected_ranges()) if r[0] < addr]
        assert list(self.tree.iter_down_from(addr)) == expected

    @precondition(lambda self: len(self.tree) > 0)
    @rule()
    def settle_and_check(self) -> None:
        """Give every range its own VMA with matching fields: then check() settled passes."""
        for start, end, _ in self.expected_ranges():
            unique = Vma(start, end, VmFlags.READ)
            self.tree.store(start, end, unique)
            self.stores += 1
            for page in range(start // P, end // P):
                self.ref[page] = (unique, self.stores)
            self.vmas.append(unique)
        self.tree.check(settled=True)

    @invariant()
    def tree_agrees_with_reference(self) -> None:
        self.tree.check(settled=False)
        assert list(self.tree) == self.expected_ranges()
        assert len(self.tree) == len(self.expected_ranges())


TreeMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestTreeMachine = pytest.mark.slow(TreeMachine.TestCase)


class SmallChunkTreeMachine(TreeMachine):
    """The same machine with the sorted range ends kept in chunks of a few keys, so lookups cross chunks."""

    @initialize()
    def setup(self) -> None:
        super().setup()
        self.tree._by_end._reset(4)


SmallChunkTreeMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestSmallChunkTreeMachine = pytest.mark.slow(SmallChunkTreeMachine.TestCase)


def test_lookups_across_chunk_boundaries_agree_with_a_linear_scan() -> None:
    # Ranges of one and two pages with one-page holes, in chunks of four keys.
    tree = VmaTree()
    tree._by_end._reset(4)
    ranges = [(3 * i, 3 * i + 1 + i % 2) for i in range(40)]
    for start, end in ranges:
        v = vma(start, end)
        tree.store(v.start, v.end, v)
        tree.check(settled=True)
    assert len(tree._by_end._list._lists) > 5
    expected = list(tree)
    assert [(start // P, end // P) for start, end, _ in expected] == ranges
    for addr in range(0, (3 * 40 + 2) * P, P // 2):
        above = [r for r in expected if r[1] > addr]
        below = [r for r in expected if r[0] < addr]
        assert tree.find(addr) == (above[0] if above else None), addr
        assert tree.find_before(addr) == (below[-1] if below else None), addr
        for length in (1, P, 5 * P):
            assert tree.overlapping(addr, addr + length) == [r for r in above if r[0] < addr + length], addr
    # A store across many chunks trims the two edge ranges and drops those between.
    wide = vma(4, 100)
    tree.store(wide.start, wide.end, wide)
    tree.check(settled=False)
    assert [(start // P, end // P) for start, end, _ in tree.overlapping(0, 102 * P)] == [(0, 1), (3, 4), (4, 100), (100, 101)]
