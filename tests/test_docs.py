"""The README never lies: its Python and its CLI examples run, and every command is shown."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from eventkit import cli

README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _workdir(tmp_path: Path) -> Path:
    (tmp_path / "data").symlink_to(ROOT / "data")
    return tmp_path


def test_readme_opens_with_the_two_commands():
    first_block = _blocks("sh")[0]
    assert first_block.splitlines()[0].startswith("make demo")
    assert first_block.splitlines()[1].startswith("make test")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_python_runs(tmp_path):
    workdir = _workdir(tmp_path)
    for block in _blocks("python"):
        result = subprocess.run(
            [sys.executable, "-c", block], cwd=workdir, capture_output=True, text=True
        )
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
