"""The CLI: every command has help, state is set up through the API, output is exact."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import at

import eventkit as ek
from eventkit import cli


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_command_has_help(capsys):
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert set(subparsers.choices) == set(cli._COMMANDS)
    for name, sub in subparsers.choices.items():
        assert sub.description, f"{name} has no description"
        with pytest.raises(SystemExit) as exit_info:
            cli.main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: eventkit " + name in capsys.readouterr().out


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "eventkit.cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"eventkit {ek.__version__}"


def test_init_creates_log_in_directory(tmp_path, capsys):
    code, out, _ = run(capsys, "init", str(tmp_path / "logs"))
    assert code == 0
    assert (tmp_path / "logs" / "events.db").is_file()
    assert out.startswith(f"eventkit log ready at {tmp_path / 'logs' / 'events.db'}")


def test_stats_counts_by_type(log_path, capsys):
    with ek.EventStore.open(log_path) as store:
        store.append_all(
            [
                ek.ProjectCreated(id="p1", name="demo", path="/src/demo", at=at(0)),
                ek.SettingChanged(key="k", value=1, at=at(1)),
                ek.SettingChanged(key="k", value=2, at=at(2)),
            ]
        )
    code, out, _ = run(capsys, "stats", str(log_path), "--csv")
    assert code == 0
    assert out == "event_type,events\nSettingChanged,2\nProjectCreated,1\n"
    code, out, _ = run(capsys, "stats", str(log_path), "--json")
    data = json.loads(out)
    assert data["events"] == 3
    assert (data["first_sequence"], data["last_sequence"]) == (1, 3)
    assert data["streams_by_kind"] == {"project": 1, "settings": 1}
    code, out, _ = run(capsys, "stats", str(log_path))
    assert "sequences  1..3" in out
    assert "streams    2 (1 project, 1 settings)" in out


def test_stats_of_missing_log_is_a_clear_error(tmp_path, capsys):
    code, out, err = run(capsys, "stats", str(tmp_path / "nope.db"))
    assert code == 1
    assert out == ""
    assert err.startswith(f"error: no eventkit log at {tmp_path / 'nope.db'}")
    assert not (tmp_path / "nope.db").exists()


def _line(**payload) -> str:
    return json.dumps(payload)


def test_append_jsonl_from_file_and_stdin(tmp_path, log_path, capsys, monkeypatch):
    source = tmp_path / "events.jsonl"
    source.write_text(
        _line(type="ProjectCreated", id="p1", name="demo", path="/d", at="2025-01-01T00:00:00Z")
        + "\n\n"
        + json.dumps(
            {
                "event": {
                    "type": "ProjectRenamed",
                    "id": "p1",
                    "name": "x",
                    "at": "2025-01-01T01:00:00+01:00",
                },
                "event_id": "e-rename",
                "metadata": {"actor": "cli-test"},
            }
        )
        + "\n"
    )
    code, out, _ = run(capsys, "append", str(log_path), str(source))
    assert code == 0
    assert out == "appended 2 event(s); sequences 1..2\n"
    code, out, _ = run(capsys, "append", str(log_path), str(source))
    # the line without an event_id gets a fresh id; the one with an id is idempotent
    assert out == "appended 1 event(s), 1 already present; sequences 3..3\n"
    with ek.EventStore.open(log_path) as store:
        rename = list(store.replay_all())[1]
    assert rename.event_id == "e-rename"
    assert rename.metadata == {"actor": "cli-test"}
    assert rename.occurred_at.isoformat() == "2025-01-01T00:00:00+00:00"  # +01:00 normalised

    import io

    monkeypatch.setattr(
        sys,
        "stdin",
        io.TextIOWrapper(
            io.BytesIO(
                _line(type="ProjectDeleted", id="p1", at="2025-01-02T00:00:00Z").encode() + b"\n"
            )
        ),
    )
    code, out, _ = run(capsys, "append", str(log_path), "-")
    assert out == "appended 1 event(s); sequences 4..4\n"


def test_append_bad_line_names_line_and_writes_nothing(tmp_path, log_path, capsys):
    source = tmp_path / "bad.jsonl"
    good = _line(type="ProjectCreated", id="p1", name="demo", path="/d", at="2025-01-01T00:00:00Z")
    source.write_text(good + "\n" + good.replace('"p1"', '"p2"') + "\n{not json\n")
    code, out, err = run(capsys, "append", str(log_path), str(source))
    assert code == 1
    assert out == ""
    assert f"{source}:3: invalid JSON" in err
    assert "nothing was written" in err
    naive = _line(type="ProjectCreated", id="p3", name="d", path="/d", at="2025-01-01T00:00:00")
    source.write_text(good + "\n" + naive + "\n")
    code, _, err = run(capsys, "append", str(log_path), str(source))
    assert code == 1
    assert f"{source}:2: field 'at'" in err
    assert "timezone-aware" in err
    with ek.EventStore.open(log_path) as store:
        assert store.last_sequence() == 0


def test_append_conflicting_duplicate_names_the_line(tmp_path, log_path, capsys):
    source = tmp_path / "dup.jsonl"
    first = {
        "event": {"type": "SettingChanged", "key": "a", "value": 1, "at": "2025-01-01T00:00:00Z"},
        "event_id": "e1",
    }
    second = {
        "event": {"type": "SettingChanged", "key": "a", "value": 2, "at": "2025-01-01T00:00:00Z"},
        "event_id": "e1",
    }
    source.write_text(json.dumps(first) + "\n")
    assert run(capsys, "append", str(log_path), str(source))[0] == 0
    source.write_text(json.dumps(second) + "\n")
    code, _, err = run(capsys, "append", str(log_path), str(source))
    assert code == 1
    assert f"{source}:1:" in err and "different payload" in err


def test_generate_is_deterministic(tmp_path, capsys):
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    assert run(capsys, "generate", str(first), "--events", "300", "--seed", "5")[0] == 0
    assert run(capsys, "generate", str(second), "--events", "300", "--seed", "5")[0] == 0

    def content(path):
        with ek.EventStore.open(path) as store:
            return [(s.event_id, s.event) for s in store.replay_all()]

    assert content(first) == content(second)
    assert len(content(first)) >= 300
    # re-running the same seed adds nothing
    assert run(capsys, "generate", str(first), "--events", "300", "--seed", "5")[0] == 0
    assert content(first) == content(second)
