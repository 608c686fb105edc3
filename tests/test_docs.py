"""The docs never lie: their Python and CLI examples run, and the layout table is complete.

The convention for code in ``README.md`` and ``docs/*.md``: every fenced ```` ```python ````
block runs. A document's blocks run in order in one fresh interpreter, sharing their
names as one script would, in an empty temporary folder holding ``data/``: copies of
``data/sample.db``, ``data/fixtures/`` and ``data/example-events.jsonl``. A block that
cannot run here (a cluster job) is fenced ```` ```python no-run ````: visible in the
markdown, counted and listed by ``test_blocks_that_do_not_run_are_the_known_ones``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT

from eventkit import cli

README_PATH = ROOT / "README.md"
README = README_PATH.read_text()
DOCS = sorted((ROOT / "docs").glob("*.md"))
NO_RUN = "no-run"

# A fence may be indented (inside a list item); it closes at the same indentation.
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    flags=re.M | re.S,
)


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    language: str
    flags: tuple[str, ...]
    code: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(doc: Path, language: str) -> list[Block]:
    text = doc.read_text()
    found = []
    for match in FENCE.finditer(text):
        words = match["info"].split()
        if not words or words[0] != language:
            continue
        indent = match["indent"]
        body = "".join(line.removeprefix(indent) for line in match["body"].splitlines(True))
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(doc, line, language, tuple(words[1:]), textwrap.dedent(body)))
    return found


def _blocks(language: str) -> list[str]:
    return [b.code for b in blocks(README_PATH, language)]


def _workdir(tmp_path: Path) -> Path:
    """An empty folder holding copies of what the examples read from ``data/``."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy2(ROOT / "data" / "sample.db", data / "sample.db")
    shutil.copy2(ROOT / "data" / "example-events.jsonl", data / "example-events.jsonl")
    shutil.copytree(ROOT / "data" / "fixtures", data / "fixtures")
    return tmp_path


# Runs [{"where": ..., "code": ...}, ...] (JSON on stdin) in one namespace; names a failure.
_RUNNER = """
import json, sys, traceback
namespace = {"__name__": "__main__"}
for block in json.load(sys.stdin):
    try:
        exec(compile(block["code"], block["where"], "exec"), namespace)
    except BaseException:
        print(f"the block at {block['where']} failed:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""


def run_blocks(doc_blocks: list[Block], workdir: Path) -> subprocess.CompletedProcess[str]:
    script = [{"where": b.where, "code": b.code} for b in doc_blocks]
    env = {**os.environ, "TQDM_DISABLE": "1", "EVENTKIT_CACHE_DIR": str(workdir / "cache")}
    return subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps(script),
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _spark_missing() -> str | None:
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed"
    if shutil.which("java") is None:
        return "Spark needs Java; none on PATH"
    return None


REQUIRES = {"spark.md": _spark_missing}
"""What a document's blocks need beyond eventkit: a check returning why it is missing."""

# ------------------------------------------------------------------ README


def test_readme_opens_with_the_two_commands():
    first_block = _blocks("sh")[0]
    assert first_block.splitlines()[0].startswith("make demo")
    assert first_block.splitlines()[1].startswith("make test")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_python_runs(tmp_path):
    workdir = _workdir(tmp_path)
    readme_blocks = blocks(README_PATH, "python")
    assert readme_blocks and not any(NO_RUN in b.flags for b in readme_blocks)
    result = run_blocks(readme_blocks, workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / "example-logs" / "events.db").is_file()


def test_readme_cli_examples_run_in_order(tmp_path):
    workdir = _workdir(tmp_path)
    commands = [
        line.removeprefix("$ ")
        for block in _blocks("console")
        for line in block.splitlines()
        if line.startswith("$ eventkit ")
    ]
    assert commands
    eventkit = Path(sys.executable).parent / "eventkit"
    env = {**os.environ, "TQDM_DISABLE": "1"}
    for command in commands:
        argv = shlex.split(command)
        result = subprocess.run(
            [str(eventkit), *argv[1:]], cwd=workdir, capture_output=True, text=True, env=env
        )
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        assert result.stdout.strip(), f"{command} printed nothing"


def test_every_cli_command_has_a_readme_example():
    shown = set(re.findall(r"^\$ eventkit ([a-z-]+)", README, flags=re.M))
    assert set(cli.COMMANDS) <= shown, f"missing from README: {set(cli.COMMANDS) - shown}"


# ------------------------------------------------------------------ docs/*.md


def runnable(doc: Path) -> list[Block]:
    return [b for b in blocks(doc, "python") if NO_RUN not in b.flags]


DOCS_WITH_CODE = [doc for doc in DOCS if runnable(doc)]


def test_the_docs_have_code_to_run():
    assert {d.name for d in DOCS_WITH_CODE} >= {"importers.md", "spark.md"}


@pytest.mark.parametrize("doc", DOCS_WITH_CODE, ids=[d.name for d in DOCS_WITH_CODE])
def test_doc_python_runs(doc, tmp_path):
    missing = REQUIRES.get(doc.name, lambda: None)()
    if missing:
        pytest.skip(f"{doc.name} needs what is missing here: {missing}")
    result = run_blocks(runnable(doc), _workdir(tmp_path))
    assert result.returncode == 0, result.stderr[-6000:]


KNOWN_NO_RUN = {"docs/spark.md": 1}
"""Blocks shown but not run, per document: a new one must be added here on purpose."""


def test_blocks_that_do_not_run_are_the_known_ones():
    shown = [b for doc in [README_PATH, *DOCS] for b in blocks(doc, "python") if b.flags]
    unknown = [f"{b.where}: {' '.join(b.flags)}" for b in shown if b.flags != (NO_RUN,)]
    assert not unknown, f"unknown fence markers (only `python {NO_RUN}`): {unknown}"
    counts: dict[str, int] = {}
    for block in shown:
        name = block.doc.relative_to(ROOT).as_posix()
        counts[name] = counts.get(name, 0) + 1
    listing = "\n".join(f"  {b.where}: {b.code.strip().splitlines()[0]}" for b in shown)
    print(f"{len(shown)} Python block(s) not run:\n{listing}")
    assert counts == KNOWN_NO_RUN, f"Python blocks marked {NO_RUN}:\n{listing}"


def test_every_python_block_is_found():
    """Fences the parser misses would go untested: count them independently."""
    for doc in [README_PATH, *DOCS]:
        fences = re.findall(r"^[ \t]*```python\b", doc.read_text(), flags=re.M)
        assert len(fences) == len(blocks(doc, "python")), doc.name


def test_the_docs_name_only_files_that_exist():
    """Paths of the repository in backticks (``eventkit/…``, ``docs/…``) name real files."""
    pattern = re.compile(r"`((?:eventkit|docs|migrations|notebooks|benchmarks|tests)/[^`\s]*)`")
    stale = []
    for doc in [README_PATH, *DOCS]:
        for path in pattern.findall(doc.read_text()):
            if not _exists(path):
                stale.append(f"{doc.name}: {path}")
    assert not stale, f"the docs name files that do not exist: {stale}"


def _exists(path: str) -> bool:
    """A file or folder, or the module or package a folder/module row names."""
    target = ROOT / path.rstrip("/")
    return target.exists() or target.with_suffix(".py").is_file()


# ------------------------------------------------------------------ the layout table


def layout_table() -> dict[str, str]:
    """The README's Layout table: each row's first path -> the row's whole text."""
    section = README.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            for path in re.findall(r"`([^`]+)`", first_cell):
                rows[path] = line
    return rows


def layout_rows() -> list[str]:
    """The paths the README's Layout table names (its first column)."""
    return list(layout_table())


def _dotted(path: str) -> str:
    """``eventkit/read/frames.py`` and ``eventkit/read/`` as module names."""
    return path.rstrip("/").removesuffix(".py").replace("/", ".")


def test_the_layout_table_names_every_module():
    """Each module has its own row, or its folder's row names it (`frames` or `frames.py`)."""
    table = {_dotted(p): text for p, text in layout_table().items() if p.startswith("eventkit/")}
    assert table, "no Layout table in the README"
    unnamed = []
    for path in sorted((ROOT / "eventkit").rglob("*.py")):
        if path.name == "__init__.py":
            continue
        module = _dotted(path.relative_to(ROOT).as_posix())
        folder, _, stem = module.rpartition(".")
        row = table.get(folder, "")
        if module not in table and f"`{stem}`" not in row and f"`{stem}.py`" not in row:
            unnamed.append(module)
    assert not unnamed, f"modules the README's Layout table does not name: {unnamed}"


def test_the_layout_table_names_every_top_level_folder():
    rows = layout_rows()
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout: the tracked folders are unknown")
    folders = {p.split("/")[0] for p in tracked if "/" in p and not p.startswith(".")}
    named = {p.split("/")[0] for p in rows}
    assert folders <= named, f"folders missing from the Layout table: {folders - named}"
    assert all(_exists(p) for p in rows), [p for p in rows if not _exists(p)]
