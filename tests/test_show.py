"""The session page: escaped, offline, nested subagents, cut sessions, as_of, the CLI, Chromium."""

from __future__ import annotations

import html
import re

import pytest
from conftest import at
from pages import CHROMIUM_MISSING, console_errors, offline_problems, render, visible_text

import eventkit as ek
from eventkit import cli
from eventkit.apps.session_page import Sessions, safe_file_name

SCRIPT = "<script>alert('owned')</script>"
IMG = '<img src="https://example.com/x.png" onerror="alert(1)">'


def _session(log) -> None:
    """A session with everything a page shows: a hostile transcript, a subagent, a cut turn."""
    usage = ek.TokenUsage(input_tokens=1_000, output_tokens=200, cache_read_tokens=5_000)
    events = [
        ek.ProjectCreated(id="p1", name="shop <b>api</b>", path="/src/shop", at=at(0)),
        ek.ThreadCreated(
            id="t1",
            project_id="p1",
            title=f"Fix {SCRIPT} in the cart",
            provider="claude-code",
            model="claude-sonnet-4-5",
            at=at(1),
        ),
        ek.TurnStarted(id="u1", thread_id="t1", at=at(2)),
        ek.MessageAdded(id="m1", thread_id="t1", turn_id="u1", role="user", text=SCRIPT, at=at(2)),
        ek.ModelCallCompleted(
            id="c1",
            thread_id="t1",
            turn_id="u1",
            model="claude-sonnet-4-5",
            usage=usage,
            cost_usd=0.25,
            requested_at=at(3),
            at=at(5),
        ),
        ek.ToolCallStarted(
            id="tc1", thread_id="t1", turn_id="u1", tool="Bash", input={"command": IMG}, at=at(6)
        ),
        ek.ApprovalResolved(
            id="ap1",
            thread_id="t1",
            turn_id="u1",
            tool_call_id="tc1",
            decision="declined",
            requested_at=at(6),
            at=at(9),
        ),
        ek.ToolCallCompleted(
            id="tc1",
            thread_id="t1",
            turn_id="u1",
            status="denied",
            output="</pre>refused",
            at=at(9),
        ),
        ek.ToolCallStarted(
            id="tc2",
            thread_id="t1",
            turn_id="u1",
            tool="Task",
            input={"description": "look around", "prompt": "x\n" * 200},
            at=at(10),
        ),
        ek.ThreadCreated(
            id="t1-sub",
            project_id="p1",
            title="Subagent: look around",
            provider="claude-code",
            model="claude-haiku-4-5",
            parent_thread_id="t1",
            parent_tool_call_id="tc2",
            at=at(11),
        ),
        ek.TurnStarted(id="su1", thread_id="t1-sub", at=at(11)),
        ek.MessageAdded(
            id="sm1",
            thread_id="t1-sub",
            turn_id="su1",
            role="assistant",
            text="sub found",
            at=at(12),
        ),
        ek.TurnCompleted(id="su1", thread_id="t1-sub", outcome="success", at=at(13)),
        ek.ToolCallCompleted(
            id="tc2",
            thread_id="t1",
            turn_id="u1",
            status="error",
            output="boom " * 1_000,
            at=at(14),
        ),
        ek.MessageAdded(
            id="m2",
            thread_id="t1",
            turn_id="u1",
            role="assistant",
            text=f"done & dusted\n\n**bold** {SCRIPT} ![i](https://e.com/i.png) [l](https://e.com)",
            at=at(15),
        ),
        ek.CheckpointCreated(
            id="cp1",
            thread_id="t1",
            turn_id="u1",
            git_ref="refs/x/1",
            message="turn 1",
            files_changed=2,
            additions=10,
            deletions=3,
            at=at(16),
        ),
        ek.TurnCompleted(
            id="u1", thread_id="t1", outcome="error", error="exit 1: <b>bad</b>", at=at(17)
        ),
        ek.CheckpointRestored(id="cp1", thread_id="t1", at=at(20)),
        # The second turn never completes: the session was cut.
        ek.TurnStarted(id="u2", thread_id="t1", at=at(30)),
        ek.MessageAdded(
            id="m3", thread_id="t1", turn_id="u2", role="user", text="again", at=at(30)
        ),
    ]
    with ek.EventStore.open(log) as store:
        store.append_all(events)


@pytest.fixture
def session_log(tmp_path):
    log = tmp_path / "events.db"
    _session(log)
    return log


@pytest.fixture
def page_html(session_log):
    return ek.show(session_log, "t1").html


def test_transcript_text_renders_as_text(page_html):
    assert "<script" not in page_html.lower()
    assert html.escape(SCRIPT) in page_html
    assert "<img" not in page_html and html.escape("<img src=") in page_html
    assert "&lt;/pre&gt;refused" in page_html
    assert "shop &lt;b&gt;api&lt;/b&gt;" in page_html  # the project name too
    assert "exit 1: &lt;b&gt;bad&lt;/b&gt;" in page_html  # and the turn's error


def test_assistant_markdown_is_rendered_with_html_escaped(page_html):
    assert "<p>done &amp; dusted</p>" in page_html and "<strong>bold</strong>" in page_html
    assert "<a " not in page_html.replace('<a href="#', "")  # links are text
    assert "![i](https://e.com/i.png)" in page_html  # an image is text too: nothing loads


def test_page_loads_nothing(page_html):
    assert offline_problems(page_html) == []
    assert offline_problems('<img src="https://x/y.png">')  # the check itself can fail
    assert offline_problems("<style>body { background: url(x.png) }</style>")
    assert offline_problems("<p>url(</p>") == []  # text is not CSS
    assert page_html.startswith("<!DOCTYPE html>") and "<style>" in page_html


def test_header_figures_match_the_metrics(session_log, page_html):
    summary = ek.thread_summary(session_log).set_index("thread_id").loc["t1"]
    assert f"{int(summary['total_tokens']):,}" in page_html  # 6,200
    assert int(summary["total_tokens"]) == 1_000 + 200 + 5_000
    assert "$0.2500" in page_html
    assert "claude-sonnet-4-5" in page_html and "shop &lt;b&gt;api&lt;/b&gt;" in page_html


def test_the_timeline_is_in_order_with_denials_errors_and_approvals(page_html):
    order = [
        html.escape(SCRIPT),  # the prompt
        "<b>model call</b>",
        "approval declined",  # the denied Bash call with its approval and wait
        "<b>Task</b>",
        "done &amp; dusted",
        "<b>checkpoint</b> turn 1",
        "<b>turn error</b>",
        "<b>restored</b>",
        "again",  # the second turn's prompt
    ]
    positions = [page_html.index(text) for text in order]
    assert positions == sorted(positions)
    assert 'class="item tool denied"' in page_html and 'class="item tool error"' in page_html
    assert "after 3.0 s" in page_html  # the approval's wait
    # The error output (5,000 characters) is folded, its start shown.
    assert re.search(r"show the rest: \d+ more line\(s\), [\d,]+ more character", page_html)


def test_a_subagent_is_nested_under_the_call_that_started_it(page_html):
    task = page_html.index('<div class="item tool error">')
    sub = page_html.index('<details class="subagent">')
    assert task < sub < page_html.index("done &amp; dusted")
    between = page_html[task + 1 : sub]
    assert '<div class="item ' not in between  # no other item opens before it
    assert "Subagent: look around" in page_html and "sub found" in page_html


def test_a_subagent_without_a_known_call_is_placed_at_its_time(tmp_path):
    log = tmp_path / "events.db"
    _session(log)
    with ek.EventStore.open(log) as store:
        store.append(
            ek.ThreadCreated(
                id="t1-orphan",
                project_id="p1",
                title="Orphan helper",
                provider="codex",
                model="gpt-5",
                parent_thread_id="t1",
                parent_tool_call_id="no-such-call",
                at=at(40),
            )
        )
    page = ek.show(log, "t1").html
    assert page.index("again") < page.index("Orphan helper")


def test_a_cut_session_says_so(page_html):
    assert "cut: 1 turn(s) still running, never completed" in page_html
    assert "This turn never completed" in page_html
    assert '<section class="turn running">' in page_html


def test_as_of_shows_the_session_as_it_was(session_log):
    first = ek.show(session_log, "t1", as_of=at(17)).html
    assert "again" not in first and "never completed" not in first
    by_sequence = ek.show(session_log, "t1", as_of=4).html  # through the first prompt
    assert html.escape(SCRIPT) in by_sequence and "model call</b>" not in by_sequence
    with pytest.raises(ek.ThreadNotFoundError, match="'t1-sub'"):
        ek.show(session_log, "t1-sub", as_of=at(5))


def test_an_unknown_thread_is_an_error_naming_it(session_log):
    with pytest.raises(ek.ThreadNotFoundError, match="no thread 'nope' in .*events.db"):
        ek.show(session_log, "nope")
    assert issubclass(ek.ThreadNotFoundError, ek.EventkitError)


def test_repr_html_is_a_fragment_with_scoped_style(session_log):
    page = ek.show(session_log, "t1")
    fragment = page._repr_html_()
    assert "<html" not in fragment and "<!DOCTYPE" not in fragment
    assert fragment.startswith("<style>") and 'class="ek-session page"' in fragment
    style = fragment.split("</style>")[0]
    rules = [rule.split("{")[0].strip() for rule in style.removeprefix("<style>").split("}")]
    assert all(r.startswith(".ek-session") for r in rules if r)  # nothing styles the notebook


def test_save_writes_the_page(session_log, tmp_path):
    out = ek.show(session_log, "t1").save(tmp_path / "deep" / "t1.html")
    assert out.read_text(encoding="utf-8") == ek.show(session_log, "t1").html


def test_cli_show_writes_a_file_named_after_the_thread(session_log, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["show", str(session_log), "t1-sub"]) == 0
    assert capsys.readouterr().out == "session page written to t1-sub.html\n"
    assert "sub found" in (tmp_path / "t1-sub.html").read_text()
    out = tmp_path / "x" / "page.html"
    assert cli.main(["show", str(session_log), "t1", "--out", str(out), "--as-of", "4"]) == 0
    assert "again" not in out.read_text()
    assert cli.main(["show", str(session_log), "missing-thread"]) == 2
    err = capsys.readouterr().err
    assert "no thread 'missing-thread'" in err and "Traceback" not in err


def test_file_names_are_safe():
    assert safe_file_name("491e/agent-a1") == "491e_agent-a1.html"
    assert "/" not in safe_file_name("../../etc/passwd")
    assert safe_file_name("..") == "thread.html"


def test_every_session_of_the_sample_renders(sample_copy):
    """Real fixtures (five providers, subagents from progress lines) render without error."""
    sessions = Sessions(sample_copy)
    threads = ek.threads_df(sample_copy)
    nested = threads[threads["parent_tool_call_id"].notna()]
    assert len(nested)
    for thread_id in sessions.thread_ids:
        page = sessions.page(thread_id).html
        assert offline_problems(page) == []
        assert "<script" not in page.lower()
    parent = nested["parent_thread_id"].iloc[0]
    assert '<details class="subagent">' in sessions.page(parent).html


@pytest.mark.skipif(CHROMIUM_MISSING is not None, reason=CHROMIUM_MISSING or "")
def test_the_page_renders_in_chromium(session_log, tmp_path):
    page = ek.show(session_log, "t1").save(tmp_path / "t1.html")
    shown = render(page, tmp_path / "t1.png")
    assert console_errors(shown.console) == []
    text = visible_text(shown.dom)
    assert "Fix &lt;script&gt;alert('owned')&lt;/script&gt; in the cart" in text  # the title
    assert "<script" not in shown.dom.split("<body", 1)[1].lower()  # the DOM holds no script
    assert shown.screenshot.stat().st_size > 10_000
