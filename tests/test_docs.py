"""Every link and file reference in README.md and docs/*.md points at something in the repository.

A link is ``[text](target)``: a file relative to the page (which must exist),
a ``#anchor`` (a heading of the target page), or an absolute URL (not
followed).  A file reference is a word in backquotes or in a code block that
starts with one of the repository's top-level folders (``scripts/race.sh``,
``fakeproc/lab/``) or is a dotted module name (``fakeproc.lab.cbuild``), or
a bare file name in backquotes (``vma.py``).  Bare names in code blocks are
left out: there they are mostly files the commands write.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from mountutil import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TOP_FOLDERS = ("fakeproc/", "scripts/", "tests/", "docs/")
FILE_SUFFIXES = (".py", ".md", ".c", ".h", ".sh", ".json", ".png", ".toml", ".in")
#: Files the pages name as where a method comes from, not as files of this repository.
ELSEWHERE = {"run-proc-vs-map.sh"}

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_MODULE = re.compile(r"fakeproc(?:\.\w+)+")


def repository_files() -> list[str]:
    """The files git knows, and those not yet committed, relative to the repository."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=True).stdout
    return listed.splitlines()


def tracked_names() -> set[str]:
    return {Path(name).name for name in repository_files()}


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of ``page``: lower case, punctuation dropped, spaces as dashes."""
    headings = re.findall(r"^#+ (.+)$", _FENCE.sub("", page.read_text()), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def links(page: Path) -> list[str]:
    return _LINK.findall(_FENCE.sub("", page.read_text()))


def referenced_words(page: Path) -> list[tuple[str, bool]]:
    """(word, in a code span) for every word of every code span and code block, punctuation stripped."""
    text = page.read_text()
    spans = [(chunk, True) for chunk in _CODE_SPAN.findall(_FENCE.sub("", text))]
    blocks = [(chunk, False) for chunk in _FENCE.findall(text)]
    return [(word.strip("\"'(),;:[]"), in_span) for chunk, in_span in spans + blocks for word in chunk.split()]


def missing_reference(word: str, names: set[str], bare_names: bool = True) -> str | None:
    """Why ``word`` names nothing in the repository, or None if it is no reference or resolves."""
    path = word.removeprefix("./")
    if path.startswith(TOP_FOLDERS):
        return None if any(REPO.glob(path.rstrip("/"))) else f"no {path}"
    if _MODULE.fullmatch(word):
        module = REPO / word.replace(".", "/")
        return None if module.with_suffix(".py").exists() or (module / "__init__.py").exists() else f"no module {word}"
    if bare_names and path.endswith(FILE_SUFFIXES) and re.fullmatch(r"[\w.-]+", path) and path not in ELSEWHERE:
        return None if path in names else f"no file called {path}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert not broken, broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_file_reference_resolves(page: Path) -> None:
    names = tracked_names()
    broken = {word: why for word, in_span in referenced_words(page) if (why := missing_reference(word, names, in_span))}
    assert not broken, broken


def test_the_readme_starts_with_the_two_commands() -> None:
    first_block = _FENCE.search((REPO / "README.md").read_text())
    assert first_block and first_block.group(1).splitlines() == ["./scripts/run [MOUNTPOINT]", "./scripts/test"]


#: What a reader of a clone cannot follow: notes kept next to the repository, tracker numbers.
OUTSIDE = re.compile(r"\.\./shared|DESIGN\.md|\bseed 0\d\d\b|\b[Ii]ssue #?\d+")


def test_nothing_points_outside_the_repository() -> None:
    found = []
    for name in repository_files():
        try:
            text = (REPO / name).read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        found += [f"{name}: {match.group()}" for match in OUTSIDE.finditer(text)]
    assert not found


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    names = tracked_names()
    assert missing_reference("scripts/no-such-script", names) == "no scripts/no-such-script"
    assert missing_reference("fakeproc.nothing", names) == "no module fakeproc.nothing"
    assert missing_reference("nowhere.py", names) == "no file called nowhere.py"
    assert missing_reference("/tmp/fakeproc/1000/maps", names) is None
    page = tmp_path / "page.md"
    page.write_text("# A title\n\nSee [there](missing.md), [here](#a-title) and [`x`](#nope).\n")
    assert links(page) == ["missing.md", "#a-title", "#nope"] and anchors(page) == {"a-title"}
