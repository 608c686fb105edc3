"""The HTML report of a log, for reading: headline figures, tables, plots, and sessions.

``report(log, out_html)`` writes one self-contained page (inline CSS and PNG plots, no
script, nothing fetched): the headline figures (sessions, turns, tokens, cost, error
rates, latency percentiles), latency, tokens and cost by provider and model, cost by
week with its top days, tool failures, approvals, reverted sessions, and the slowest,
costliest, most failing and cut sessions, each linked to its session page
(:mod:`eventkit.apps.session_page`), written beside the report in
``<report stem>-sessions/``. Figures come from the library's metrics
(:func:`~eventkit.read.metrics.model_breakdown`, ``usage_totals``, ``thread_summary``)
and frames, so they are the numbers of the notebooks and the CLI.

The analytics notebook (``notebooks/02_session_analytics.ipynb``, shipped in the wheel)
holds the same analyses as code to explore; :func:`analytics_notebook` finds it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from eventkit.apps import report_plots
from eventkit.apps.html_parts import (
    BASE_CSS,
    card,
    document,
    duration,
    esc,
    link,
    missing,
    money,
    number,
    percent,
    stamp,
    table,
)
from eventkit.apps.session_page import Sessions, safe_file_name
from eventkit.errors import EventkitError, LogNotFoundError
from eventkit.log.files import resolve_log_path
from eventkit.progress import progress_bar
from eventkit.read.frames import threads_df, tool_calls_df, turns_df
from eventkit.read.metrics import model_breakdown, thread_summary, usage_totals
from eventkit.read.stats import stats

NOTEBOOK_NAME = "02_session_analytics.ipynb"
LISTED = 10
"""Sessions listed per ranking (slowest, costliest, most failing, cut)."""
TOP_DAYS = 5

REPORT_CSS = """
.plot { display: block; max-width: 100%; height: auto; background: #fff;
  border: 1px solid #dde1e8; border-radius: 6px; margin: 8px 0 16px; }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 0 28px; }
nav.toc { font-size: 14px; margin: 14px 0 0; }
nav.toc a { margin-right: 14px; }
td.title { max-width: 420px; word-break: break-word; }
"""


def analytics_notebook() -> Path:
    """The analytics notebook: inside the installed package, or the repository's."""
    packaged = Path(__file__).parents[1] / "notebooks" / "session_analytics.ipynb"
    if packaged.is_file():
        return packaged
    source_tree = Path(__file__).parents[2] / "notebooks" / NOTEBOOK_NAME
    if source_tree.is_file():
        return source_tree
    raise EventkitError(f"the analytics notebook is missing (looked in {packaged}, {source_tree})")


def sessions_dir(out_html: str | os.PathLike[str]) -> Path:
    """Where the report's session pages go: ``<stem>-sessions/`` beside ``out_html``."""
    out = Path(out_html)
    return out.with_name(f"{out.stem}-sessions")


def report(
    log: str | os.PathLike[str],
    out_html: str | os.PathLike[str],
    *,
    progress: bool | None = None,
) -> Path:
    """Write the report of ``log`` to ``out_html`` and the pages of the sessions it lists.

    Returns the report's path; the session pages are in :func:`sessions_dir`.
    """
    log_path = resolve_log_path(log)
    if not log_path.is_file():
        raise LogNotFoundError(f"no eventkit log at {log}")
    out = Path(out_html)
    pages = sessions_dir(out)
    data = _Data(log_path)
    listed = data.listed_threads()
    body = _render(data, log_path, f"{pages.name}/")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document(f"eventkit report: {log_path.name}", BASE_CSS + REPORT_CSS, body))
    if listed:
        sessions = Sessions(log_path)
        with progress_bar(
            total=len(listed), desc="session pages", unit="page", enabled=progress
        ) as bar:
            for thread_id in listed:
                sessions.page(thread_id).save(pages / safe_file_name(thread_id))
                bar.update(1)
    return out


class _Data:
    """What the report shows, read once."""

    def __init__(self, log: Path):
        self.stats = stats(log)
        self.threads = threads_df(log)
        turns = turns_df(log).merge(
            self.threads[["thread_id", "provider", "model"]].rename(
                columns={"model": "thread_model"}
            ),
            on="thread_id",
            how="left",
        )
        # A turn counts for its own model, else its thread's (as in model_breakdown).
        named = turns["model"].astype("string").replace("", pd.NA)
        self.turns = turns.assign(model=named.fillna(turns["thread_model"].astype("string")))
        self.tools = tool_calls_df(log)
        self.summary = thread_summary(log)
        self.by_model = model_breakdown(log)
        self.daily = usage_totals(log, by=("day", "provider"))
        self.rankings = self._rankings()

    def _rankings(self) -> dict[str, pd.DataFrame]:
        s = self.summary.assign(
            failures=self.summary["tool_errors"] + self.summary["turn_errors"],
            cost=self.summary["cost_usd"].astype("Float64").fillna(0),
        )
        running = self.turns[self.turns["status"] == "running"].groupby("thread_id").size()
        s = s.assign(running_turns=s["thread_id"].map(running).fillna(0).astype(int))
        keep = ["thread_id", "title", "created_at", "provider", "model"]
        return {
            "slowest": s.dropna(subset=["busy_ms"])
            .sort_values(["busy_ms", "thread_id"], ascending=[False, True])
            .head(LISTED)[[*keep, "busy_ms", "turns", "span_ms"]],
            "costliest": s[s["cost"] > 0]
            .sort_values(["cost", "thread_id"], ascending=[False, True])
            .head(LISTED)[[*keep, "cost_usd", "total_tokens", "turns"]],
            "failing": s[s["failures"] > 0]
            .sort_values(["failures", "thread_id"], ascending=[False, True])
            .head(LISTED)[[*keep, "tool_errors", "turn_errors", "tool_calls"]],
            "cut": s[s["running_turns"] > 0]
            .sort_values(["running_turns", "thread_id"], ascending=[False, True])
            .head(LISTED)[[*keep, "running_turns", "turns"]],
        }

    def listed_threads(self) -> list[str]:
        seen: dict[str, None] = {}
        for frame in self.rankings.values():
            seen.update(dict.fromkeys(frame["thread_id"].astype(str)))
        return list(seen)


# ---------------------------------------------------------------------------- sections


def _render(data: _Data, log: Path, pages: str) -> str:
    sections = [
        ("overview", "Overview", _overview(data)),
        ("models", "By provider and model", _models(data)),
        ("cost", "Cost over time", _cost(data)),
        ("tools", "Tools", _tools(data)),
        ("approvals", "Approvals", _approvals(data)),
        ("sessions", "Sessions to look at", _sessions(data, pages)),
    ]
    stats_ = data.stats
    span = (
        f"{esc(stamp(stats_['first_occurred_at']))} to {esc(stamp(stats_['last_occurred_at']))}"
        if stats_["events"]
        else "no events"
    )
    toc = "".join(f'<a href="#{key}">{esc(title)}</a>' for key, title, _ in sections)
    head = (
        f"<h1>eventkit report: {esc(log.name)}</h1>"
        f'<p class="sub">{number(stats_["events"])} events, {span}; '
        f"log {esc(stats_['log_id'])}. Times are UTC.</p>"
        f'<nav class="toc">{toc}</nav>'
    )
    return (
        '<div class="page">'
        + head
        + "".join(f'<h2 id="{key}">{esc(title)}</h2>{html}' for key, title, html in sections)
        + "</div>"
    )


def _overview(data: _Data) -> str:
    threads, turns, tools = data.threads, data.turns, data.tools
    subagents = int(threads["parent_thread_id"].notna().sum())
    done = turns.dropna(subset=["duration_ms"])["duration_ms"].astype(float)
    completed = turns[turns["status"] != "running"]
    turn_errors = int((completed["status"] == "error").sum())
    interrupted = int((completed["status"] == "interrupted").sum())
    tool_errors = int((tools["status"] == "error").sum())
    denied = int((tools["status"] == "denied").sum())
    running = int((turns["status"] == "running").sum())
    tokens = int(data.daily["total_tokens"].fillna(0).sum()) if len(data.daily) else 0
    costs = data.daily["cost_usd"].dropna() if len(data.daily) else pd.Series(dtype=float)
    cost = float(costs.sum()) if len(costs) else None
    cards = [
        card("sessions", number(len(threads) - subagents), f"+ {subagents:,} subagent thread(s)"),
        card("turns", number(len(turns)), f"{running:,} never completed"),
        card("tokens", number(tokens), "input + cache + output"),
        card("cost", money(cost), "recorded or estimated at list prices"),
        card(
            "turn error rate",
            percent(turn_errors / len(completed)) if len(completed) else "—",
            f"{turn_errors:,} error, {interrupted:,} interrupted",
        ),
        card(
            "tool error rate",
            percent(tool_errors / len(tools)) if len(tools) else "—",
            f"{tool_errors:,} of {len(tools):,} calls; {denied:,} denied",
        ),
        card("latency p50", duration(done.quantile(0.5)) if len(done) else "—", "completed turns"),
        card("latency p95", duration(done.quantile(0.95)) if len(done) else "—", "completed turns"),
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _models(data: _Data) -> str:
    frame = data.by_model
    if not len(frame):
        return '<p class="note">No turns yet.</p>'
    shown = pd.DataFrame(
        {
            "provider": frame["provider"].astype(str),
            "model": frame["model"].astype(str),
            "turns": frame["turns"],
            "p50 latency": frame["latency_p50_ms"],
            "p95 latency": frame["latency_p95_ms"],
            "model calls": frame["model_calls"],
            "tokens": frame["total_tokens"],
            "cost": frame["cost_usd"],
            "turn errors": frame["error_turns"],
            "tool error rate": frame["tool_error_rate"],
        }
    ).sort_values(["provider", "model"])
    formats = {
        "p50 latency": _num(duration),
        "p95 latency": _num(duration),
        "cost": _num(money),
        "tool error rate": _num(percent),
        "tokens": _num(number),
    }
    return (
        '<p class="note">Latency is a completed turn\'s duration (linear percentiles); tokens '
        "and cost sum every model call and every turn without calls.</p>"
        + table(shown, formats)
        + report_plots.latency_by_model(data.turns)
    )


def _cost(data: _Data) -> str:
    daily = data.daily.dropna(subset=["day"])
    if not len(daily):
        return '<p class="note">No tokens or cost recorded yet.</p>'
    days = (
        daily.assign(day=pd.to_datetime(daily["day"].astype(str)))
        .groupby("day", as_index=False)[["model_calls", "total_tokens", "cost_usd"]]
        .sum(min_count=1)
    )
    days["week"] = days["day"].dt.to_period("W-SUN").dt.start_time
    weeks = []
    for week, group in days.groupby("week", sort=True):
        top = group.sort_values(["cost_usd", "day"], ascending=[False, True]).iloc[0]
        weeks.append(
            {
                "week of": week.strftime("%Y-%m-%d"),
                "active days": len(group),
                "model calls": int(group["model_calls"].sum()),
                "tokens": int(group["total_tokens"].sum()),
                "cost": group["cost_usd"].sum(),
                "costliest day": f"{top['day']:%a %Y-%m-%d} ({money(top['cost_usd'])})",
            }
        )
    top_days = days.sort_values(["cost_usd", "day"], ascending=[False, True]).head(TOP_DAYS)
    top_days = pd.DataFrame(
        {
            "day": top_days["day"].dt.strftime("%a %Y-%m-%d"),
            "model calls": top_days["model_calls"],
            "tokens": top_days["total_tokens"],
            "cost": top_days["cost_usd"],
        }
    )
    money_ = {"cost": _num(money), "tokens": _num(number)}
    return (
        report_plots.cost_over_time(data.daily)
        + f"<h3>The {TOP_DAYS} costliest days</h3>"
        + table(top_days, money_)
        + "<h3>Cost by week (weeks with activity)</h3>"
        + table(pd.DataFrame(weeks), money_)
    )


def _tools(data: _Data) -> str:
    tools = data.tools
    if not len(tools):
        return '<p class="note">No tool calls yet.</p>'
    frame = tools.assign(tool_category=tools["tool_category"].astype(str).replace("nan", "—"))
    grouped = (
        frame.groupby("tool_category", observed=True)
        .agg(
            calls=("tool_call_id", "size"),
            errors=("status", lambda s: int((s == "error").sum())),
            denied=("status", lambda s: int((s == "denied").sum())),
            p50=("duration_ms", "median"),
        )
        .reset_index()
        .sort_values(["calls", "tool_category"], ascending=[False, True])
    )
    by_tool = (
        frame.groupby("tool", observed=True)
        .agg(
            category=("tool_category", "first"),
            calls=("tool_call_id", "size"),
            errors=("status", lambda s: int((s == "error").sum())),
        )
        .reset_index()
    )
    by_tool = by_tool[by_tool["errors"] > 0].assign(error_rate=lambda f: f["errors"] / f["calls"])
    by_tool = by_tool.sort_values(["errors", "tool"], ascending=[False, True]).head(LISTED)
    shown = grouped.rename(columns={"tool_category": "category", "p50": "p50 duration"})
    shown["error rate"] = shown["errors"] / shown["calls"]
    formats = {"p50 duration": _num(duration), "error rate": _num(percent)}
    return (
        report_plots.tool_errors(grouped)
        + '<div class="cols"><div><h3>By category</h3>'
        + table(
            shown[["category", "calls", "errors", "denied", "error rate", "p50 duration"]], formats
        )
        + "</div><div><h3>Tools with the most errors</h3>"
        + table(by_tool.rename(columns={"error_rate": "error rate"}), {"error rate": _num(percent)})
        + "</div></div>"
    )


def _approvals(data: _Data) -> str:
    tools = data.tools.dropna(subset=["approval_decision"])
    if not len(tools):
        return '<p class="note">No approvals recorded.</p>'
    grouped = (
        tools.groupby(tools["approval_decision"].astype(str))
        .agg(
            approvals=("tool_call_id", "size"),
            p50=("approval_wait_ms", lambda s: s.astype(float).quantile(0.5)),
            p95=("approval_wait_ms", lambda s: s.astype(float).quantile(0.95)),
        )
        .reset_index()
        .rename(columns={"approval_decision": "decision", "p50": "p50 wait", "p95": "p95 wait"})
    )
    reverted = _reverted(data)
    return (
        '<div class="cols"><div><h3>Waits by decision</h3>'
        + table(grouped, {"p50 wait": _num(duration), "p95 wait": _num(duration)})
        + "</div><div><h3>Reverted sessions (a checkpoint restored)</h3>"
        + reverted
        + "</div></div>"
        + report_plots.approval_waits(data.tools)
    )


def _reverted(data: _Data) -> str:
    # Restores are per thread; the report reads them from the thread summary's log.
    from eventkit.read.frames import checkpoints_df

    points = checkpoints_df(data.stats["log"])
    restored = set(points.loc[points["restored_at"].notna(), "thread_id"].astype(str))
    threads = data.threads.assign(reverted=data.threads["thread_id"].astype(str).isin(restored))
    grouped = (
        threads.groupby(threads["provider"].astype(str))
        .agg(sessions=("thread_id", "size"), reverted=("reverted", "sum"))
        .reset_index()
    )
    grouped["share"] = grouped["reverted"] / grouped["sessions"]
    return table(grouped, {"share": _num(percent)})


def _sessions(data: _Data, pages: str) -> str:
    def titled(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        links = [
            link(pages + safe_file_name(str(tid)), _short(title, tid))
            for tid, title in zip(frame["thread_id"], frame["title"], strict=True)
        ]
        # object dtype keeps the links' type (a string dtype would store plain str).
        out.insert(0, "session", pd.Series(links, index=frame.index, dtype=object))
        out["created_at"] = out["created_at"].map(lambda t: stamp(t)[:16])
        return out.drop(columns=["thread_id", "title"]).rename(columns={"created_at": "started"})

    parts = [
        '<p class="note">Each session links to its page: the timeline of prompts, answers, '
        "model and tool calls. The pages are written beside this report.</p>"
    ]
    specs = [
        (
            "slowest",
            "Slowest (time spent in turns)",
            {"busy_ms": "time in turns", "span_ms": "span"},
        ),
        ("costliest", "Costliest", {"cost_usd": "cost", "total_tokens": "tokens"}),
        (
            "failing",
            "Most failing (tool and turn errors)",
            {
                "tool_errors": "tool errors",
                "turn_errors": "turn errors",
                "tool_calls": "tool calls",
            },
        ),
        ("cut", "Cut: turns that never completed", {"running_turns": "running turns"}),
    ]
    formats = {
        "time in turns": _num(duration),
        "span": _num(duration),
        "cost": _num(money),
        "tokens": _num(number),
    }
    for key, title, names in specs:
        frame = data.rankings[key]
        parts.append(f"<h3>{esc(title)}</h3>")
        parts.append(table(titled(frame).rename(columns=names), formats))
    return "".join(parts)


def _short(title: object, thread_id: object) -> str:
    text = str(thread_id) if missing(title) else str(title)
    return text if len(text) <= 90 else text[:87] + "…"


def _num(fn):
    """A table format: ``fn`` of the value (``—`` when missing)."""

    def shown(value: object) -> str:
        return "—" if missing(value) else fn(value)

    return shown


__all__ = ["analytics_notebook", "report", "sessions_dir"]
