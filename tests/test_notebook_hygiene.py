"""Notebook hygiene: stored outputs, ordered execution, exact nbval markers, no leaks."""

from __future__ import annotations

import getpass
import json
import re
from pathlib import Path

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
REGRESSION = [p for p in NOTEBOOKS if "regression" in p.parts]
MARKERS = (
    "# NBVAL_IGNORE_OUTPUT",
    "# NBVAL_CHECK_OUTPUT",
    "# NBVAL_SKIP",
    "# NBVAL_RAISES_EXCEPTION",
)


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _code(path: Path) -> list[dict]:
    return [c for c in _cells(path) if c["cell_type"] == "code"]


def _text_outputs(cell: dict) -> list[str]:
    texts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            texts.append("".join(output["text"]))
        for mime, data in output.get("data", {}).items():
            if mime.startswith("text/"):
                texts.append("".join(data))
    return texts


def test_the_expected_notebooks_exist():
    names = {p.relative_to(ROOT / "notebooks").as_posix() for p in NOTEBOOKS}
    assert {"01_quickstart.ipynb", "02_session_analytics.ipynb"} <= names
    assert any(n.startswith("audits/") for n in names)
    assert any(n.startswith("regression/") for n in names)


@pytest.mark.parametrize("path", REGRESSION, ids=lambda p: p.name)
def test_regression_notebooks_store_outputs_in_order(path):
    code = _code(path)
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: execution counts {counts}"
    printed = [c for c in code if "print(" in "".join(c["source"])]
    assert printed and all(c["outputs"] for c in printed), f"{path.name}: missing stored outputs"
    tags = [c.get("metadata", {}).get("tags", []) for c in code]
    assert ["parameters"] in tags, f"{path.name}: no papermill 'parameters' cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nbval_markers_are_spelled_exactly(path):
    for cell in _code(path):
        for line in "".join(cell["source"]).splitlines():
            if re.match(r"\s*#\s*nb_?val", line, flags=re.I):
                assert line.strip() in MARKERS, f"{path.name}: marker {line.strip()!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_have_no_absolute_paths_user_names_or_errors(path):
    user = getpass.getuser()
    home = str(Path.home())
    for cell in _code(path):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{path.name}: a stored error"
            assert output.get("name") != "stderr", f"{path.name}: stderr stored"
        for text in _text_outputs(cell):
            assert str(ROOT) not in text, f"{path.name}: repository path in output"
            assert home not in text, f"{path.name}: home directory in output"
            assert not re.search(r"(?<![\w.])/(home|Users|root|tmp|work)/", text), (
                f"{path.name}: absolute path in output: {text[:120]!r}"
            )
            if user not in ("root", ""):
                assert user not in text, f"{path.name}: user name in output"
