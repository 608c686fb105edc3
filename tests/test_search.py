"""ek.search and ``eventkit search``: full-text hits from an FTS5 index beside the cache."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
from conftest import FIXTURES, at

import eventkit as ek
from eventkit import cli
from eventkit.read.search import COLUMNS, parse_query, snippet
from eventkit.read.search_index import index_path, open_index

# ------------------------------------------------------------------ helpers


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    """Every test gets its own cache root (the index lives there)."""
    path = tmp_path / "cache"
    monkeypatch.setenv("EVENTKIT_CACHE_DIR", str(path))
    monkeypatch.delenv("EVENTKIT_CACHE", raising=False)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def log_id(log: Path) -> str:
    with closing(sqlite3.connect(f"file:{log}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT value FROM log_info WHERE key = 'log_id'").fetchone()[0]


def index_meta(log: Path) -> dict[str, str]:
    path = index_path(log_id(log))
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return dict(conn.execute("SELECT key, value FROM meta"))


def index_docs(log: Path) -> int:
    path = index_path(log_id(log))
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT count(*) FROM docs").fetchone()[0]


def thread(thread_id: str = "t1", title: str = "a session", seconds: float = 0) -> list:
    return [
        ek.ProjectCreated(id=f"p-{thread_id}", name="demo", path="/src/demo", at=at(seconds)),
        ek.ThreadCreated(
            id=thread_id,
            project_id=f"p-{thread_id}",
            title=title,
            provider="codex",
            model="gpt-5",
            at=at(seconds + 1),
        ),
        ek.TurnStarted(id=f"{thread_id}-u1", thread_id=thread_id, at=at(seconds + 2)),
    ]


def message(thread_id: str, message_id: str, text: str, seconds: float, role="user"):
    return ek.MessageAdded(
        id=message_id,
        thread_id=thread_id,
        turn_id=f"{thread_id}-u1",
        role=role,
        text=text,
        at=at(seconds),
    )


def delta(thread_id: str, message_id: str, text: str, seconds: float):
    return ek.MessageDelta(
        id=message_id, thread_id=thread_id, turn_id=f"{thread_id}-u1", delta=text, at=at(seconds)
    )


def tool(
    thread_id: str, call_id: str, name: str, input: dict, output: str, seconds: float, status="ok"
):
    turn = f"{thread_id}-u1"
    return [
        ek.ToolCallStarted(
            id=call_id, thread_id=thread_id, turn_id=turn, tool=name, input=input, at=at(seconds)
        ),
        ek.ToolCallCompleted(
            id=call_id, thread_id=thread_id, turn_id=turn, status=status, output=output,
            at=at(seconds + 1),
        ),
    ]  # fmt: skip


@pytest.fixture
def texts_log(tmp_path) -> Path:
    """A small log holding words, phrases, paths, error codes, ids, digits and CJK."""
    log = tmp_path / "logs" / "texts.db"
    log.parent.mkdir()
    with ek.EventStore.open(log) as store:
        store.append_all(
            [
                *thread("t1", "Fix ERR_42: in src/a.py"),
                message("t1", "m1", "we found the cause at last", 10),
                message("t1", "m2", "the cause was never found", 11, role="assistant"),
                *tool("t1", "c1", "Bash", {"command": "pytest -q tests/foo-bar.py"}, "ok", 12),
                *tool(
                    "t1", "c2", "Read", {"file_path": "/src/a.py"},
                    "Traceback: ERR_42: id c0ffee-1234 at line 1234", 14, status="error",
                ),
                *thread("t2", "修复登录页面", 100),
                message("t2", "m3", "请检查登录页面的错误", 110),
                message("t2", "m4", "", 111, role="assistant"),
                delta("t2", "m4", "I looked at the fail", 112),
                delta("t2", "m4", "ing test and fixed", 113),
                delta("t2", "m4", " it", 114),
                ek.ThreadRenamed(id="t2", title="login page 42", at=at(120)),
            ]
        )  # fmt: skip
    return log


def hits(src, query: str, **kwargs) -> pd.DataFrame:
    return ek.search(src, query, limit=None, **kwargs)


def expected_sequences(log: Path, term: str) -> set[int]:
    """The hits of a one-term query, found without the index: a replay's texts, scanned.

    Messages come from ``messages_df`` (the replay joins the deltas), keyed by their
    MessageAdded's sequence; tool inputs are the tool's name and the input's JSON text
    (the same characters for the terms used here); outputs and titles as stored.
    """
    events = ek.events_df(log)
    term = term.lower()
    found = set()
    added = events[events.event_type == "MessageAdded"]
    first_added = {}
    for row in added.itertuples():
        payload = json.loads(row.payload)
        first_added.setdefault((payload["thread_id"], payload["id"]), int(row.sequence))
    for row in ek.messages_df(log).itertuples():
        if term in (row.text or "").lower():
            found.add(first_added[(row.thread_id, row.message_id)])
    for row in events.itertuples():
        payload = json.loads(row.payload)
        if row.event_type == "ToolCallStarted":
            text = payload["tool"] + "\n" + json.dumps(payload["input"], ensure_ascii=False)
        elif row.event_type == "ToolCallCompleted":
            text = payload["output"]
        elif row.event_type in ("ThreadCreated", "ThreadRenamed"):
            text = payload["title"]
        else:
            continue
        if term in text.lower():
            found.add(int(row.sequence))
    return found


# ------------------------------------------------------------------ what a query finds


@pytest.mark.parametrize(
    "term",
    [
        "機器人",  # Chinese, in the Gemini fixture's prompts and answers
        "GEMINI.md",  # a file name
        "src/ui/Nav.tsx",  # a path, in generated sessions
        "120000",  # digits (a tool input's timeout)
        "found the cause",  # a phrase, in answers streamed as deltas
        "exit status 1",  # an error output
    ],
)
def test_a_term_finds_exactly_the_texts_that_hold_it(sample_copy, term):
    got = hits(sample_copy, f'"{term}"')
    expected = expected_sequences(sample_copy, term)
    assert expected, f"the sample log should hold {term!r}"
    assert set(got.sequence) == expected
    assert got.sequence.is_unique
    assert all(term.lower() in s.lower().replace("«", "").replace("»", "") for s in got.snippet)


def test_a_chinese_word_from_a_real_fixture_is_found(tmp_path):
    log = tmp_path / "gemini.db"
    ek.import_gemini(FIXTURES / "gemini", log)
    word = "機器人"
    assert any(word in p.read_text() for p in (FIXTURES / "gemini").rglob("*.json*"))
    found = hits(log, word)
    assert len(found) > 0
    assert set(found.field) >= {"assistant message"}
    assert all(f"«{word}»" in s for s in found.snippet)


def test_phrases_match_words_together_and_words_match_anywhere(texts_log):
    words = hits(texts_log, "found cause")
    phrase = hits(texts_log, '"found the cause"')
    assert set(words.snippet.str.replace("[«»]", "", regex=True)) == {
        "we found the cause at last",
        "the cause was never found",
    }
    assert list(phrase.snippet) == ["we «found the cause» at last"]
    assert list(phrase.field) == ["user message"]


def test_a_phrase_spanning_deltas_is_found_in_the_joined_message(texts_log):
    found = hits(texts_log, '"the failing test"')
    assert list(found.sequence) == [14]  # the MessageAdded of m4
    assert list(found.event_type) == ["MessageAdded"]
    assert list(found.snippet) == ["I looked at «the failing test» and fixed it"]


@pytest.mark.parametrize(
    "query, where",
    [
        ("ERR_42:", {"thread title", "tool error"}),
        ("a.py", {"thread title", "tool input"}),
        ("foo-bar.py", {"tool input"}),
        ("c0ffee-1234", {"tool error"}),
        ("1234", {"tool error"}),
        ("42", {"thread title", "tool error"}),  # shorter than a trigram
        ("登录页面", {"thread title", "user message"}),
        ("Bash", {"tool input"}),  # the tool's name
    ],
)
def test_paths_codes_ids_digits_and_cjk_are_found_as_written(texts_log, query, where):
    found = hits(texts_log, query)
    assert set(found.field) == where
    assert all(f"«{query}»".lower() in s.lower() for s in found.snippet)


@pytest.mark.parametrize(
    "query",
    ["NEAR(a b)", "a* OR b", "-x", "col:val", '"unbalanced', "a AND", "(", "'", "^x", "+", '""x'],
)
def test_query_syntax_of_the_engine_is_searched_as_text(texts_log, query):
    found = ek.search(texts_log, query)  # never an FTS5 syntax error
    assert list(found.columns) == list(COLUMNS)


def test_the_query_parser():
    assert parse_query('  found "the cause" x ') == ["found", "the cause", "x"]
    assert parse_query('say "hello') == ["say", '"hello']
    assert parse_query('a"b c') == ['a"b', "c"]
    with pytest.raises(ek.SearchQueryError, match="nothing to search for"):
        parse_query('  "" ')


def test_short_terms_are_matched_by_a_scan(texts_log):
    assert set(hits(texts_log, "ok").field) == {"tool output", "assistant message"}  # looked
    # combined with an indexed term, the short one narrows the hits
    assert len(hits(texts_log, "cause we")) == 1
    assert (hits(texts_log, "ok").score == 0).all()


def test_like_wildcards_in_a_short_term_are_characters(texts_log):
    # unescaped, `_4` would also match " 42" (the renamed title) and "34"
    found = hits(texts_log, "_4")
    assert sorted(found.sequence) == [2, 9]
    assert hits(texts_log, "%").empty


def test_snippets_mark_every_match_on_one_line():
    text = "first line\n\n" + "x" * 200 + " the Cause and the cause\nend"
    got = snippet(text, ["cause"])
    assert got.startswith("…") and "\n" not in got
    assert got.count("«") == 2 and "«Cause»" in got
    assert snippet("short", ["nothing"]) == "short"


# ------------------------------------------------------------------ ranking, types, limit


def test_hits_are_ranked_by_bm25_then_sequence(sample_copy):
    found = hits(sample_copy, "Nav.tsx")
    assert len(found) > 10
    keys = list(zip(-found.score, found.sequence, strict=True))
    assert keys == sorted(keys)
    assert found.score.gt(0).all()
    # bm25 favours the shorter text of two holding the term once
    titles = found[found["field"] == "thread title"]
    answers = found[found["field"] == "assistant message"]
    assert titles.score.min() > answers.score.max()


def test_types_filter_the_hits(texts_log):
    everything = hits(texts_log, "a.py")
    only_tools = hits(texts_log, "a.py", types=["ToolCallStarted"])
    assert set(only_tools.event_type) == {"ToolCallStarted"}
    assert set(only_tools.sequence) == set(
        everything[everything.event_type == "ToolCallStarted"].sequence
    )
    assert list(hits(texts_log, "fail", types="MessageDelta").event_type) == ["MessageAdded"]
    with pytest.raises(ek.SearchQueryError, match="'TurnStarted'.*searchable are"):
        ek.search(texts_log, "x", types=["TurnStarted"])
    with pytest.raises(ek.SearchQueryError, match="no event types"):
        ek.search(texts_log, "x", types=[])


def test_limit_keeps_the_best_hits(sample_copy):
    every = hits(sample_copy, "the cause")
    first = ek.search(sample_copy, "the cause", limit=3)
    assert len(every) > 3
    pd.testing.assert_frame_equal(first, every.head(3))
    assert len(ek.search(sample_copy, "the cause")) == min(50, len(every))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ek.SearchQueryError, match="limit"):
            ek.search(sample_copy, "x", limit=bad)


def test_the_frame_has_typed_columns(texts_log):
    found = hits(texts_log, "cause")
    assert list(found.columns) == list(COLUMNS)
    assert str(found.occurred_at.dtype) == "datetime64[us, UTC]"
    assert str(found.sequence.dtype) == "Int64"
    row = found[found.sequence == 4].iloc[0]
    assert row.occurred_at == at(10)
    assert (row.thread_id, row.turn_id, row.field) == ("t1", "t1-u1", "user message")
    title = hits(texts_log, "login page")
    assert title.turn_id.isna().all() and list(title.event_type) == ["ThreadRenamed"]


def test_an_empty_log_gives_an_empty_frame_with_the_columns(tmp_path):
    log = tmp_path / "empty.db"
    ek.open_or_create_db(log).close()
    found = ek.search(log, "anything")
    assert found.empty and list(found.columns) == list(COLUMNS)
    assert str(found.occurred_at.dtype) == "datetime64[us, UTC]"


def test_bad_queries_are_clear_errors(texts_log, tmp_path):
    for query in ("", "   ", '""'):
        with pytest.raises(ek.SearchQueryError, match="nothing to search for"):
            ek.search(texts_log, query)
    with pytest.raises(ek.LogNotFoundError):
        ek.search(tmp_path / "missing.db", "x")
    assert issubclass(ek.SearchQueryError, ek.EventkitError)


def test_an_in_memory_store_is_searched(texts_log):
    with ek.EventStore(ek.open_or_create_db(":memory:")) as store:
        store.append_all(thread("t9", "memory only ERR_77"))
        assert list(ek.search(store, "ERR_77").thread_id) == ["t9"]


# ------------------------------------------------------------------ the index


def test_the_log_is_left_byte_identical_and_the_index_lies_in_the_cache(texts_log, cache_dir):
    before = sha256(texts_log)
    assert len(hits(texts_log, "cause")) == 2
    assert sha256(texts_log) == before
    # beside the log at most SQLite's own -wal/-shm of a reader, as for every read
    beside = {p.name for p in texts_log.parent.iterdir()}
    assert beside <= {"texts.db", "texts.db-wal", "texts.db-shm"}
    index = index_path(log_id(texts_log))
    assert index.parent == cache_dir / log_id(texts_log) and index.is_file()


def test_a_small_log_is_indexed_whatever_the_columnar_cache_threshold(texts_log):
    ek.search(texts_log, "cause")
    assert index_docs(texts_log) == 11  # 4 messages, 2 inputs, 2 outputs, 3 titles
    assert index_meta(texts_log)["last_sequence"] == "18"


def test_an_append_is_indexed_incrementally(texts_log):
    assert hits(texts_log, "brand-new").empty
    before = index_meta(texts_log)
    docs = index_docs(texts_log)
    with ek.EventStore.open(texts_log) as store:
        store.append_all(
            [
                message("t1", "m9", "a brand-new message", 200),
                delta("t2", "m4", " and the flaky one", 201),  # onto a message indexed before
            ]
        )
        last = store.last_sequence()
    with open_index(texts_log) as index:  # reads the two new events only
        assert (index.rebuilt, index.added_from, index.last_sequence) == (False, last - 1, last)
    with open_index(texts_log) as index:  # then nothing is left to add
        assert (index.rebuilt, index.added_from, index.last_sequence) == (False, 0, last)
    after = index_meta(texts_log)
    assert int(after["last_sequence"]) == last == int(before["last_sequence"]) + 2
    assert after["generation"] == before["generation"]  # not built again from the start
    assert index_docs(texts_log) == docs + 1
    assert list(hits(texts_log, "brand-new").sequence) == [last - 1]
    assert list(hits(texts_log, '"fixed it and the flaky"').sequence) == [14]


def test_the_next_search_reads_only_the_events_after_the_index(texts_log):
    ek.search(texts_log, "cause")
    with ek.EventStore.open(texts_log) as store:
        store.append_all([message("t1", "m9", "later text", 200)])
        last = store.last_sequence()
    with open_index(texts_log) as index:
        assert (index.rebuilt, index.added_from, index.last_sequence) == (False, last, last)


def test_a_log_whose_history_differs_is_indexed_again(texts_log, tmp_path):
    copy = tmp_path / "copy.db"
    shutil.copyfile(texts_log, copy)  # the same log_id, closed cleanly
    with ek.EventStore.open(texts_log) as store:
        store.append_all([message("t1", "m9", "only in the original", 200)])
    assert len(hits(texts_log, "only in the original")) == 1
    generation = int(index_meta(texts_log)["generation"])
    with ek.EventStore.open(copy) as store:  # the same sequence, another event
        store.append_all([message("t1", "m8", "only in the copy", 300)])
    found = hits(copy, '"only in the"')
    assert list(found.snippet) == ["«only in the» copy"]
    assert int(index_meta(copy)["generation"]) == generation + 1
    # a shorter log with this log_id is indexed again too
    short = tmp_path / "short.db"
    shutil.copyfile(texts_log, short)
    with closing(sqlite3.connect(short)) as conn:
        conn.execute("DROP TRIGGER events_refuse_delete")  # the log is append-only
        conn.execute("DELETE FROM events WHERE sequence > 10")
        conn.commit()
    assert hits(short, '"only in the"').empty
    assert int(index_meta(short)["generation"]) == generation + 2
    assert index_meta(short)["last_sequence"] == "10"


def test_without_a_cache_an_index_is_built_in_memory(texts_log, cache_dir, monkeypatch):
    monkeypatch.setenv("EVENTKIT_CACHE", "0")
    assert len(hits(texts_log, "cause")) == 2
    assert not cache_dir.exists()
    with open_index(texts_log) as index:
        assert index.path is None and index.rebuilt


def test_an_unwritable_cache_falls_back_to_memory(texts_log, tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("EVENTKIT_CACHE_DIR", str(blocked))
    assert len(hits(texts_log, "cause")) == 2
    assert blocked.read_text() == "not a directory"


def test_a_broken_index_file_is_built_again(texts_log):
    ek.search(texts_log, "cause")
    path = index_path(log_id(texts_log))
    path.write_bytes(b"garbage" * 1000)
    assert len(hits(texts_log, "cause")) == 2
    assert index_meta(texts_log)["last_sequence"] == "18"


CHILD = """
import sys, time, pathlib, eventkit as ek, eventkit.read.search
barrier = pathlib.Path(sys.argv[2])
(barrier / sys.argv[3]).touch()
while len(list(barrier.iterdir())) < int(sys.argv[4]):  # all start searching at once
    time.sleep(0.01)
frame = ek.search(sys.argv[1], "the cause", limit=None)
print(len(frame), frame.sequence.sum())
"""


def test_concurrent_processes_build_one_index(tmp_path, cache_dir):
    log = tmp_path / "big.db"
    ek.generate_log(log, events=6_000, seed=5, progress=False)
    env = {**os.environ, "EVENTKIT_CACHE_DIR": str(cache_dir), "TQDM_DISABLE": "1"}
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(log), str(barrier), str(n), "3"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    outputs = [child.communicate(timeout=300) for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], outputs
    assert len({out for out, _ in outputs}) == 1
    count = int(outputs[0][0].split()[0])
    assert count == len(expected_sequences(log, "the cause")) > 0
    meta = index_meta(log)
    assert meta["generation"] == "1"  # built once: the others waited, then found it ready
    path = index_path(log_id(log))
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("INSERT INTO texts(texts) VALUES ('integrity-check')") is not None


# ------------------------------------------------------------------ the command line


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_hits_by_session_with_the_command_to_show_each(texts_log, capsys):
    code, out, err = run(capsys, "search", texts_log, "a.py")
    assert code == 0 and not err
    assert out.startswith("2 hit(s) in 1 session(s)")
    assert f"eventkit show {texts_log} t1" in out
    assert "«a.py»" in out
    code, out, _ = run(capsys, "search", texts_log, "42")
    sessions = [line for line in out.splitlines() if line.startswith("session ")]
    assert len(sessions) == 2
    assert {line.rsplit(" ", 1)[1] for line in sessions} == {"t1", "t2"}


def test_cli_json_and_csv_carry_the_frame(texts_log, capsys):
    code, out, _ = run(capsys, "search", texts_log, "cause", "--json")
    rows = json.loads(out)
    frame = ek.search(texts_log, "cause")
    assert code == 0 and [r["sequence"] for r in rows] == list(frame.sequence)
    assert list(rows[0]) == list(COLUMNS)
    code, out, _ = run(capsys, "search", texts_log, "nothing-like-it", "--csv")
    assert code == 0 and out.splitlines() == [",".join(COLUMNS)]


def test_cli_types_limit_and_no_hits(texts_log, capsys):
    code, out, _ = run(capsys, "search", texts_log, "a.py", "--type", "ToolCallStarted", "--json")
    assert {r["event_type"] for r in json.loads(out)} == {"ToolCallStarted"}
    code, out, _ = run(capsys, "search", texts_log, "cause", "--limit", "1", "--json")
    assert len(json.loads(out)) == 1
    code, out, _ = run(capsys, "search", texts_log, "nothing-like-it")
    assert code == 0 and out.strip() == "no hits for 'nothing-like-it'"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["  "], "nothing to search for"),
        (["x", "--type", "Nope"], "cannot search event type(s) 'Nope'"),
        (["x", "--limit", "0"], "limit must be"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(texts_log, capsys, argv, message):
    code, out, err = run(capsys, "search", texts_log, *argv)
    assert code == 2 and not out
    assert err.startswith("eventkit: error: ") and message in err and len(err.splitlines()) == 1


def test_cli_missing_log_exits_2(tmp_path, capsys):
    code, _, err = run(capsys, "search", tmp_path / "none.db", "x")
    assert code == 2 and "no eventkit log" in err
