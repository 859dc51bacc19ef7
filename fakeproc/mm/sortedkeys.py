"""Neighbouring keys of a SortedDict found by value, without its positional index.

The writer's questions are all "which key comes next to this address?".
sortedcontainers answers them through ranks (``bisect_right`` then
``peekitem``), which keeps a positional index up to date and costs several
Python calls per answer.  A SortedList keeps its keys in sorted chunks with
each chunk's largest key in ``_maxes``; bisecting ``_maxes`` and then one
chunk answers the same question with two C bisections.  The helpers only
read those two lists, which every SortedList of sortedcontainers 2.x has and
keeps consistent after each change.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from itertools import islice
from typing import Any

from sortedcontainers import SortedDict


def key_above(mapping: SortedDict[int, Any], value: int) -> int | None:
    """The smallest key greater than ``value``, None if there is none.  O(log n)."""
    keys = mapping._list
    maxes = keys._maxes
    chunk = bisect_right(maxes, value)
    if chunk == len(maxes):
        return None
    within = keys._lists[chunk]
    return within[bisect_right(within, value)]


def key_below(mapping: SortedDict[int, Any], value: int) -> int | None:
    """The largest key less than ``value``, None if there is none.  O(log n)."""
    keys = mapping._list
    lists = keys._lists
    chunk = bisect_left(keys._maxes, value)
    if chunk < len(lists):
        within = lists[chunk]
        index = bisect_left(within, value)
        if index:
            return within[index - 1]
    # Every key of the chunks before this one is below value.
    return lists[chunk - 1][-1] if chunk else None


def keys_above(mapping: SortedDict[int, Any], value: int) -> Iterator[int]:
    """The keys greater than ``value``, in increasing order.  O(log n) to start, O(1) each.

    Like any iterator over a dict, valid only while ``mapping`` does not change.
    """
    keys = mapping._list
    lists = keys._lists
    chunk = bisect_right(keys._maxes, value)
    if chunk == len(lists):
        return
    within = lists[chunk]
    # By index: islice would step through the chunk's keys below value one by one.
    for index in range(bisect_right(within, value), len(within)):
        yield within[index]
    for within in islice(lists, chunk + 1, None):
        yield from within
