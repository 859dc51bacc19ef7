from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mountutil import Mount, mounted


def fuse_available() -> bool:
    return os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None


requires_fuse = pytest.mark.skipif(not fuse_available(), reason="needs /dev/fuse and fusermount3")


@pytest.fixture
def demo_mount(tmp_path: Path) -> Iterator[Mount]:
    if not fuse_available():
        pytest.fail("FUSE is not available: ./scripts/setup installs fuse3")
    with mounted(tmp_path) as mount:
        yield mount


@pytest.fixture
def mount_factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``with mount_factory(*options) as mount:`` for tests that need their own options."""
    if not fuse_available():
        pytest.fail("FUSE is not available: ./scripts/setup installs fuse3")
    counter = iter(range(1000))

    def factory(*options: str):  # type: ignore[no-untyped-def]
        base = tmp_path / f"m{next(counter)}"
        base.mkdir()
        return mounted(base, *options)

    return factory
