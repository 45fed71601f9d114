"""Repository-wide checks. The tree cites only its own docs: no tracked file names the rule or
API documents that live outside the repository, and every ordering rule number cited anywhere
(``rule 4.8``, ``rule_4_8_...``) is a rule that `docs/ordering.md` states. And every program of
the Node corpus (`tests/node/`) is replayed by some test."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Spelled in pieces so that this file does not name them itself.
OUTSIDE_DOCS = ("SEMANTICS" + ".md", "API" + ".md")

# "rule 4.8", "rules 2.5 and 7", "rules 2.3, 1.2", "rules 1 to 4"; and test names "rule_4_8_x".
CITATION = re.compile(
    r"\brules?\s+(\d+(?:\.\d+)?(?:(?:,\s*|\s+and\s+|\s+to\s+)\d+(?:\.\d+)?)*)"
)
TEST_NAME = re.compile(r"\brule_(\d+)(?:_(\d+))?_")


@cache
def tracked_files() -> list[Path]:
    """Every file git tracks, read as text; binary files are left out."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    files = [ROOT / n.decode() for n in names if n]
    return [f for f in files if f.is_file() and b"\0" not in f.read_bytes()[:8192]]


def ordering_rules() -> set[str]:
    """The numbers `docs/ordering.md` states: "4" for its section "## 4.", "4.8" for item 8 of
    that section's numbered list."""
    rules: set[str] = set()
    section = None
    for line in (ROOT / "docs" / "ordering.md").read_text().splitlines():
        if m := re.match(r"## (\d+)\. ", line):
            section = m.group(1)
            rules.add(section)
        elif line.startswith("## "):
            section = None
        elif section and (m := re.match(r"(\d+)\. ", line)):
            rules.add(f"{section}.{m.group(1)}")
    return rules


def test_no_file_names_documents_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in tracked_files()
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if any(doc in line for doc in OUTSIDE_DOCS)
    ]
    assert not found, (
        "cite docs/ordering.md or the API's own docs instead:\n" + "\n".join(found)
    )


def test_every_cited_rule_is_in_ordering_md() -> None:
    rules = ordering_rules()
    # The parser reads the page at all.
    assert {"1.2", "2.5", "4.8", "7.3", "9.10"} <= rules
    missing = []
    for path in tracked_files():
        if path.suffix not in {".rs", ".py", ".pyi", ".md", ".js", ".c", ".h", ".sh"}:
            continue
        text = path.read_text(errors="replace")
        cited = [
            number
            for m in CITATION.finditer(text)
            for number in re.findall(r"\d+(?:\.\d+)?", m.group(1))
        ]
        cited += [".".join(filter(None, m.groups())) for m in TEST_NAME.finditer(text)]
        missing += [
            f"{path.relative_to(ROOT)}: rule {c}" for c in cited if c not in rules
        ]
    assert not missing, "docs/ordering.md states no such rule:\n" + "\n".join(missing)


def test_every_node_program_is_replayed_by_a_test() -> None:
    # A twin is found by the program's name: Rust `node_expected("NAME")`, a C scenario
    # `{"NAME", ...}`, a Python function or puzzle `NAME`.
    readers = [
        *ROOT.glob("core/tests/*.rs"),
        *ROOT.glob("tests/c/*.c"),
        *ROOT.glob("tests/python/*.py"),
        ROOT / "py" / "python" / "phaseloop" / "demo.py",
    ]
    text = "\n".join(path.read_text() for path in readers)
    corpus = ROOT / "tests" / "node"
    programs = [*corpus.glob("*.js"), *corpus.glob("demo/*.js")]
    assert (
        corpus / "rule_1_main_script_first.js" in programs
    )  # it looks in the right place
    orphans = [
        str(js.relative_to(ROOT))
        for js in programs
        if not re.search(rf"\b{js.stem}\b", text)
    ]
    assert orphans == [], "no test replays these Node programs"
