"""Import rules the daemon relies on: one package speaks pyfuse3, and nothing it runs imports lab."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import fakeproc

PACKAGE = Path(fakeproc.__file__).resolve().parent


def imported_modules(path: Path) -> Iterator[str]:
    """Absolute names of everything ``path`` imports, relative imports resolved."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            prefix = node.module or ""
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                prefix = f"{base}.{prefix}" if prefix else base
            # ``from . import x`` and ``from .pkg import x`` may name submodules: count those too.
            yield prefix
            yield from (f"{prefix}.{alias.name}" for alias in node.names)


def importers(*, of: str, outside: tuple[str, ...]) -> list[str]:
    """Modules of fakeproc, except those under ``outside``, that import ``of`` or anything inside it."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(outside):
            continue
        if any(name == of or name.startswith(of + ".") for name in imported_modules(path)):
            found.append(relative)
    return found


def test_only_the_fuse_package_imports_pyfuse3() -> None:
    assert importers(of="pyfuse3", outside=("fuse/",)) == []


def test_nothing_but_lab_and_bench_imports_lab() -> None:
    assert importers(of="fakeproc.lab", outside=("lab/", "bench/")) == []


def test_the_rules_see_the_imports_they_forbid() -> None:
    assert "fuse/fs.py" in importers(of="pyfuse3", outside=())
    assert "lab/oracle.py" in importers(of="fakeproc.procfs", outside=())
