"""The report: headline figures, HTML tables, inline plots, linked session pages, offline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pages import CHROMIUM_MISSING, console_errors, offline_problems, render, visible_text

import eventkit as ek
from eventkit import cli
from eventkit.apps.report import sessions_dir
from eventkit.apps.session_page import safe_file_name


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The report of a copy of the sample log (generated sessions and real fixtures)."""
    import sqlite3
    from contextlib import closing

    from build_sample import SAMPLE_LOG

    folder = tmp_path_factory.mktemp("report")
    log = folder / "sample.db"
    with closing(sqlite3.connect(SAMPLE_LOG)) as src, closing(sqlite3.connect(log)) as dst:
        src.backup(dst)
    out = ek.report(log, folder / "out" / "report.html", progress=False)
    return log, out, out.read_text(encoding="utf-8")


def _links(page: str) -> list[str]:
    return re.findall(r'<a href="([^"#][^"]*)"', page)


def test_headline_figures_come_first_and_match_the_metrics(written):
    log, out, page = written
    overview = ek.summary(log)["overview"].iloc[0]
    head = page[: page.index('id="models"')]
    assert f'<div class="k">sessions</div><div class="v">{int(overview["sessions"]):,}<' in head
    assert f"{int(overview['total_tokens']):,}" in head
    assert f"${float(overview['cost_usd']):,.2f}" in head
    turns = ek.turns_df(log)
    assert f'<div class="k">turns</div><div class="v">{len(turns):,}<' in head
    tools = ek.tool_calls_df(log)
    rate = (tools["status"] == "error").mean()
    assert f"{rate * 100:.1f}%" in head
    for label in ("latency p50", "latency p95", "turn error rate", "tool error rate"):
        assert f'<div class="k">{label}</div>' in head


def test_tables_are_html_and_plots_inline(written):
    _, _, page = written
    assert page.count("<table>") >= 8
    assert "<pre" not in page  # no printed tables
    assert page.count('src="data:image/png;base64,') == 4
    breakdown = ek.model_breakdown(written[0])
    for model in breakdown["model"].astype(str):
        assert f'<td class="short">{model}</td>' in page


def test_cost_by_week_is_summarised_with_the_top_days(written):
    log, _, page = written
    daily = ek.usage_totals(log, by="day").dropna(subset=["day"])
    top = daily.sort_values("cost_usd", ascending=False).iloc[0]
    section = page[page.index('id="cost"') : page.index('id="tools"')]
    assert f"{top['day']:%Y-%m-%d}" in section
    weeks = {
        str(d)
        for d in __import__("pandas")
        .to_datetime(daily["day"].astype(str))
        .dt.to_period("W-SUN")
        .dt.start_time.dt.date
    }
    assert section.count("<tr>") == 1 + 5 + 1 + len(weeks)  # headers and rows of both tables


def test_the_listed_sessions_link_to_their_pages(written):
    log, out, page = written
    links = _links(page)
    assert links and all(link.startswith("report-sessions/") for link in links)
    for link in links:
        target = out.parent / link
        assert target.is_file(), link
    costliest = ek.thread_summary(log).sort_values("cost_usd", ascending=False).iloc[0]
    section = page[page.index("<h3>Costliest</h3>") :]
    first = _links(section)[0]
    assert first == f"report-sessions/{safe_file_name(costliest['thread_id'])}"
    assert sorted(p.name for p in sessions_dir(out).iterdir()) == sorted(
        {Path(link).name for link in links}
    )
    cut = ek.turns_df(log).query("status == 'running'")["thread_id"].unique()
    for thread_id in cut:
        assert f"report-sessions/{safe_file_name(thread_id)}" in links


def test_the_report_and_its_pages_load_nothing(written):
    _, out, page = written
    assert offline_problems(page) == []
    for session_page in sessions_dir(out).iterdir():
        text = session_page.read_text(encoding="utf-8")
        assert offline_problems(text) == [] and "<script" not in text.lower()


def test_an_empty_log_reports_no_sessions(tmp_path):
    log = tmp_path / "empty.db"
    ek.open_or_create_db(log).close()
    out = ek.report(log, tmp_path / "empty.html", progress=False)
    page = out.read_text()
    assert '<div class="k">sessions</div><div class="v">0<' in page
    assert "No turns yet." in page and "No tool calls yet." in page
    assert "data:image" not in page and offline_problems(page) == []
    assert not sessions_dir(out).exists()


def test_a_log_with_a_running_session_only(tmp_path):
    log = tmp_path / "cut.db"
    with ek.EventStore.open(log) as store:
        store.append_all(
            [
                {
                    "type": "ProjectCreated",
                    "id": "p",
                    "name": "p",
                    "path": "/p",
                    "at": "2025-01-06T09:00:00Z",
                },
                {
                    "type": "ThreadCreated",
                    "id": "t",
                    "project_id": "p",
                    "title": "<i>cut</i>",
                    "provider": "codex",
                    "model": "gpt-5",
                    "at": "2025-01-06T09:00:01Z",
                },
                {"type": "TurnStarted", "id": "u", "thread_id": "t", "at": "2025-01-06T09:00:02Z"},
            ]
        )
    out = ek.report(log, tmp_path / "cut.html", progress=False)
    page = out.read_text()
    assert "1 never completed" in page and "&lt;i&gt;cut&lt;/i&gt;" in page
    assert (sessions_dir(out) / "t.html").is_file()


def test_report_cli_prints_where_it_wrote(written, tmp_path, capsys):
    log = written[0]
    out = tmp_path / "r.html"
    assert cli.main(["report", str(log), "--out", str(out)]) == 0
    assert capsys.readouterr().out == (
        f"report written to {out}\nsession pages it links to: {tmp_path / 'r-sessions'}/\n"
    )
    assert cli.main(["report", str(tmp_path / "none.db"), "--out", str(tmp_path / "x.html")]) == 2
    assert "no eventkit log" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


@pytest.mark.skipif(CHROMIUM_MISSING is not None, reason=CHROMIUM_MISSING or "")
def test_the_report_renders_in_chromium(written, tmp_path):
    _, out, _ = written
    shown = render(out, tmp_path / "report.png", height=3000)
    assert console_errors(shown.console) == []
    assert "eventkit report: sample.db" in visible_text(shown.dom)
    assert shown.screenshot.stat().st_size > 50_000
    linked = out.parent / _links(out.read_text())[0]
    page = render(linked, tmp_path / "session.png")
    assert console_errors(page.console) == []
    assert "outcome" in visible_text(page.dom)
