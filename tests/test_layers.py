"""The layers of docs/design.md, enforced on the imports of every module (read with ast, never run).

A module may import only from its own layer or a lower one, plus the rules
in RULES.  Failures name the file, the line, the import and the rule.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mountutil import REPO

#: Lowest first.  docs/design.md has the same table (test_design_doc_mirrors_the_layer_table).
#: The package itself (fakeproc/__init__.py) is layer 0: importing any module of it runs it.
LAYERS: dict[str, int] = {
    "fakeproc.errors": 1,
    "fakeproc.sched": 1,
    "fakeproc.hostproc": 1,
    "fakeproc.mm": 2,
    "fakeproc.process": 3,
    "fakeproc.population": 3,
    "fakeproc.seqfile": 4,
    "fakeproc.pagecache": 4,
    "fakeproc.procfs": 4,
    "fakeproc.calls": 5,
    "fakeproc.ctl": 5,
    "fakeproc.workloads": 5,
    "fakeproc.fuse": 6,
    "fakeproc.cli": 6,
    "fakeproc.client": 6,
    "fakeproc.mounts": 6,
    "fakeproc.execview": 6,
    "fakeproc.lab": 7,
    "fakeproc.bench": 7,
    "fakeproc.bench.racerate": 7,
}

#: (importer, imported, why): what the layer order alone allows but the design does not.
RULES: list[tuple[str, str, str]] = [
    # The toggler asks procfs.maps where the first page ends, so the page rule stays in seq_file alone.
    ("fakeproc.workloads", "fakeproc.seqfile", "a workload is a list of calls: it never drives a reader"),
    ("fakeproc.calls", "fakeproc.ctl", "ctl parses lines into calls; the registry does not know ctl"),
    ("fakeproc.calls", "fakeproc.workloads", "workloads are built from calls; the registry does not know them"),
    ("fakeproc.lab", "fakeproc.bench", "benchmarks use the lab, not the other way round"),
]

#: Where pyfuse3 may be imported: everything else runs without a FUSE binding.
PYFUSE3_HOME = "fakeproc.fuse"
#: What ``mount.py`` / ``fakeproc mount`` loads must never pull in test or benchmark code.
DAEMON_ROOTS = ("fakeproc.cli", "fakeproc.fuse")
NEVER_IN_DAEMON = ("fakeproc.lab", "fakeproc.bench")
#: scripts/race.sh runs this module with whatever python3 is on PATH, outside the venv.
STDLIB_ONLY = ("fakeproc.lab.cbuild",)

@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.relative_to(REPO) if self.path.is_absolute() else self.path}:{self.line}"


def module_name(path: Path) -> str:
    """``fakeproc/mm/__init__.py`` -> ``fakeproc.mm``; ``fakeproc/ctl.py`` -> ``fakeproc.ctl``."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(module: str, is_package: bool, source: str, path: Path, known: set[str]) -> Iterator[Import]:
    """Every import statement of a module, anywhere in it (functions included), resolved to a module name.

    ``from X import name`` counts as importing ``X.name`` when that is a module in ``known``.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                base = ".".join(anchor[: len(anchor) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield Import(module, candidate if candidate in known else base, path, node.lineno)


def python_files() -> list[Path]:
    """The package, the tests and the scripts at the top of the checkout (not the venv)."""
    return sorted([*REPO.glob("*.py"), *(REPO / "fakeproc").rglob("*.py"), *(REPO / "tests").rglob("*.py")])


@functools.cache
def all_imports() -> list[Import]:
    files = python_files()
    known = {module_name(path) for path in files}
    found = []
    for path in files:
        found += imports_in(module_name(path), path.name == "__init__.py", path.read_text(), path, known)
    return found


def within(module: str, prefix: str | tuple[str, ...]) -> bool:
    prefixes = (prefix,) if isinstance(prefix, str) else prefix
    return any(module == each or module.startswith(each + ".") for each in prefixes)


def layer_of(module: str) -> int | None:
    """The layer of the longest LAYERS entry containing ``module``; None if none does."""
    if module == "fakeproc":
        return 0
    owners = [prefix for prefix in LAYERS if within(module, prefix)]
    return LAYERS[max(owners, key=len)] if owners else None


def violations(imports: Iterable[Import]) -> list[tuple[Import, str]]:
    """Each import that breaks a rule, with the rule in words."""
    broken = []
    for found in imports:
        # Tests of the filesystem name its errors; everything else runs without a FUSE binding.
        if within(found.imported, "pyfuse3") and not within(found.importer, (PYFUSE3_HOME, "tests")):
            broken.append((found, f"only {PYFUSE3_HOME} may import pyfuse3"))
        if not within(found.importer, "fakeproc"):
            continue
        if found.importer in STDLIB_ONLY and found.imported.split(".")[0] not in sys.stdlib_module_names:
            broken.append((found, f"{found.importer} may import only the standard library"))
        if not within(found.imported, "fakeproc"):
            continue
        importer_layer, imported_layer = layer_of(found.importer), layer_of(found.imported)
        if importer_layer is None:
            broken.append((found, f"{found.importer} has no layer: add it to LAYERS and docs/design.md"))
        elif imported_layer is None:
            broken.append((found, f"{found.imported} has no layer: add it to LAYERS and docs/design.md"))
        elif imported_layer > importer_layer:
            broken.append((found, f"layer {importer_layer} may not import layer {imported_layer}"))
        for importer, imported, why in RULES:
            if within(found.importer, importer) and within(found.imported, imported):
                broken.append((found, why))
    return broken


def daemon_closure_reaches(imports: list[Import]) -> list[str]:
    """Import chains from the daemon's modules to a module it must never load."""
    edges: dict[str, set[str]] = {}
    for found in imports:
        edges.setdefault(found.importer, set()).add(found.imported)
    chains: list[str] = []
    seen: set[str] = set()
    stack = [[module] for module in edges if any(within(module, root) for root in DAEMON_ROOTS)]
    while stack:
        chain = stack.pop()
        if chain[-1] in seen:
            continue
        seen.add(chain[-1])
        if any(within(chain[-1], forbidden) for forbidden in NEVER_IN_DAEMON):
            chains.append(" -> ".join(chain))
            continue
        # Importing a.b.c runs a/__init__ and a/b/__init__ too.
        parts = chain[-1].split(".")
        parents = [".".join(parts[:end]) for end in range(1, len(parts))]
        stack += [[*chain, imported] for imported in sorted(edges.get(chain[-1], set()) | set(parents))]
    return chains


def report(broken: list[tuple[Import, str]]) -> str:
    return "\n".join(f"{found.where()}: {found.importer} imports {found.imported}: {why}" for found, why in broken)


def test_every_module_has_a_layer() -> None:
    orphans = [name for name in map(module_name, python_files()) if within(name, "fakeproc") and layer_of(name) is None]
    assert not orphans, f"modules with no layer (add them to LAYERS and docs/design.md): {orphans}"


def test_imports_follow_the_layers() -> None:
    broken = violations(all_imports())
    assert not broken, "\n" + report(broken)


def test_the_daemon_never_loads_the_lab_or_the_benchmarks() -> None:
    chains = daemon_closure_reaches(all_imports())
    assert not chains, "\n".join(chains)


def _check(module: str, source: str) -> list[str]:
    """The rules broken by ``source`` were it the module ``module`` (a plain module, not a package)."""
    path = Path(*module.split(".")).with_suffix(".py")
    known = {"fakeproc.procfs.maps", "fakeproc.lab.oracle", "fakeproc.ctl"}
    return [why for _, why in violations(imports_in(module, False, source, path, known))]


@pytest.mark.parametrize("module, source, rule", [
    ("fakeproc.mm.tree", "from ..procfs import maps", "layer 2 may not import layer 4"),
    ("fakeproc.procfs.maps", "def lazy():\n    import fakeproc.ctl", "layer 4 may not import layer 5"),
    ("fakeproc.ctl", "import pyfuse3", "only fakeproc.fuse may import pyfuse3"),
    ("fakeproc.workloads.mapper", "from ..seqfile import SeqFile", "a workload is a list of calls: it never drives a reader"),
    ("fakeproc.lab.cbuild", "import trio", "fakeproc.lab.cbuild may import only the standard library"),
    ("fakeproc.cli", "from .lab import oracle", "layer 6 may not import layer 7"),
    ("fakeproc.newthing", "from . import errors", "fakeproc.newthing has no layer: add it to LAYERS and docs/design.md"),
])
def test_the_checker_catches(module: str, source: str, rule: str) -> None:
    assert rule in _check(module, source)


def test_the_checker_allows_downward_imports() -> None:
    assert _check("fakeproc.ctl", "from .procfs.maps import format_maps_line\nfrom .mm import syscalls\nimport os") == []
    assert _check("fakeproc.fuse.fs", "import pyfuse3\nfrom ..ctl import ControlSession") == []


def test_the_closure_follows_chains() -> None:
    path = Path("x.py")
    imports = [Import("fakeproc.cli", "fakeproc.mounts", path, 1), Import("fakeproc.mounts", "fakeproc.lab.oracle", path, 1)]
    assert daemon_closure_reaches(imports) == ["fakeproc.cli -> fakeproc.mounts -> fakeproc.lab.oracle"]


def test_design_doc_mirrors_the_layer_table() -> None:
    documented: dict[str, int] = {}
    for line in (REPO / "docs" / "design.md").read_text().splitlines():
        row = re.match(r"\|\s*(\d+)\s*\|([^|]*)\|", line)
        if row:
            for name in re.findall(r"`(fakeproc[\w.]*)`", row.group(2)):
                documented[name] = int(row.group(1))
    assert documented == LAYERS
