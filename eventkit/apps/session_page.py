"""One session as a readable page: its header figures, then its timeline, turn by turn.

``show(src, thread_id)`` reads the public frames (threads, projects, turns, messages,
tool calls, model calls, checkpoints) as of ``as_of`` and returns a
:class:`SessionPage`: ``_repr_html_`` renders it in Jupyter, ``save(path)`` writes a
self-contained HTML file (inline CSS, no script, nothing fetched). Every transcript
text is escaped: prompts and tool inputs and outputs are pre-wrapped plain text, the
assistant's text is markdown rendered with raw HTML escaped; long texts and tool inputs and
outputs are folded in ``<details>``. Subagent threads (``parent_thread_id``) are nested
under the tool call that started them (``parent_tool_call_id``), else at the time they
began. :class:`Sessions` reads the frames once for many pages (the report uses it).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from eventkit.apps.html_parts import (
    BASE_CSS,
    card,
    document,
    duration,
    esc,
    folded,
    markdown,
    missing,
    money,
    number,
    scoped,
    stamp,
)
from eventkit.errors import ThreadNotFoundError
from eventkit.read.frames import (
    checkpoints_df,
    messages_df,
    model_calls_df,
    projects_df,
    threads_df,
    tool_calls_df,
    turns_df,
)

TOKEN_PARTS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")
"""Total tokens = input + cache read + cache write + output (reasoning is in output)."""

MAX_DEPTH = 8
"""Subagents nest at most this deep on one page (a deeper one is named, not drawn)."""

SESSION_CSS = """
.ek-session .timeline { margin-top: 10px; }
.ek-session .outcome { margin: 4px 0 10px; }
.ek-session .cards { grid-template-columns: repeat(auto-fill, minmax(135px, 1fr)); }
.ek-session dl.facts { display: flex; flex-wrap: wrap; gap: 4px 22px; margin: 0 0 12px; }
.ek-session dl.facts dt { display: inline; color: #5b6475; font-size: 12px;
  text-transform: uppercase;
  letter-spacing: .04em; margin-right: 6px; }
.ek-session dl.facts dd { display: inline; margin: 0; font-weight: 600; word-break: break-word; }
.ek-session .turn { background: #fff; border: 1px solid #d8dce3; border-radius: 8px;
  margin: 14px 0; }
.ek-session .turn > header { display: flex; flex-wrap: wrap; gap: 4px 14px; align-items: baseline;
  padding: 8px 12px; background: #eef1f5; border-bottom: 1px solid #d8dce3;
  border-radius: 8px 8px 0 0; font-size: 14px; }
.ek-session .turn > header b { font-size: 15px; }
.ek-session .turn.running { border-color: #c79a1e; }
.ek-session .turn.running > header { background: #fbf3dc; }
.ek-session .turn.error > header, .ek-session .turn.interrupted > header { background: #fbe4e4; }
.ek-session .items { padding: 4px 12px 10px; }
.ek-session .item { margin: 8px 0; padding: 6px 10px; border-left: 4px solid #c8cdd6;
  border-radius: 3px; background: #fafbfc; }
.ek-session .item .label { font-size: 12px; color: #5b6475; margin-bottom: 3px; }
.ek-session .item .label b { color: #1d2330; font-size: 13px; }
.ek-session .prompt { border-left-color: #2f6fd6; background: #eef4ff; }
.ek-session .assistant { border-left-color: #3a9d5d; background: #f0f8f2; }
.ek-session .system { border-left-color: #8a6fd0; background: #f4f1fb; }
.ek-session .model { border-left-color: #b7bdc8; background: transparent; padding: 2px 10px;
  font-size: 13px; color: #4a5262; }
.ek-session .tool { border-left-color: #6b7384; background: #fff; border: 1px solid #e1e4ea;
  border-left-width: 4px; }
.ek-session .tool.error { border-color: #e2a4a4; border-left-color: #c62828; background: #fff6f6; }
.ek-session .tool.denied { border-color: #e8c48c; border-left-color: #d97706; background: #fff9ef; }
.ek-session .tool.running { border-left-color: #c79a1e; }
.ek-session details.call > summary { cursor: pointer; }
.ek-session details.call > summary .label { display: inline; }
.ek-session .tool .gist { display: block; margin: 2px 0 0 16px;
  font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  color: #1d2330; word-break: break-all; }
.ek-session .io { margin-top: 6px; }
.ek-session .io .k { font-size: 11px; color: #5b6475; text-transform: uppercase;
  letter-spacing: .05em; }
.ek-session .io pre { background: #f3f4f7; padding: 6px 8px; border-radius: 4px; }
.ek-session .gap { margin: 6px 0; text-align: center; color: #7a8293; font-size: 12px;
  border-top: 1px dashed #cfd4dc; padding-top: 2px; }
.ek-session .checkpoint { border-left-color: #0f8a8a; background: #eefafa; font-size: 13px; }
.ek-session .restore { border-left-color: #b4570f; background: #fdf1e7; font-size: 13px; }
.ek-session .failure { margin: 8px 0; padding: 8px 10px; background: #fde8e8;
  border: 1px solid #e7a3a3; border-radius: 4px; color: #8e1c1c; }
.ek-session .badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px;
  font-weight: 600; background: #e3e6ec; color: #2c3444; margin-left: 4px; }
.ek-session .badge.ok, .ek-session .badge.success, .ek-session .badge.accepted {
  background: #dcf1e2; color: #1c6b37; }
.ek-session .badge.error, .ek-session .badge.interrupted { background: #f8d4d4; color: #9b1c1c; }
.ek-session .badge.denied, .ek-session .badge.declined, .ek-session .badge.cancelled {
  background: #fde6c4; color: #8a4b00; }
.ek-session .badge.running { background: #f6e7b4; color: #6e5200; }
.ek-session details.subagent { margin: 8px 0 4px 18px; border: 1px dashed #9aa3b5;
  border-radius: 6px; padding: 4px 10px; background: #f8f9fb; }
.ek-session details.subagent > summary { cursor: pointer; padding: 4px 0; }
.ek-session details.subagent .turn { margin: 8px 0; }
"""


def safe_file_name(thread_id: str) -> str:
    """A file name for a thread's page: characters outside ``[A-Za-z0-9._-]`` become ``_``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", thread_id).strip(".") or "thread"
    return f"{name[:150]}.html"


@dataclass(frozen=True)
class SessionPage:
    """One session's page: ``html`` is a whole document; Jupyter shows ``_repr_html_``."""

    thread_id: str
    title: str
    body: str

    @property
    def html(self) -> str:
        return document(f"{self.title} · eventkit session", BASE_CSS + SESSION_CSS, self.body)

    def _repr_html_(self) -> str:
        # In a notebook the page's rules apply inside the page only.
        return f"<style>{scoped(BASE_CSS, '.ek-session')}{SESSION_CSS}</style>{self.body}"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` (folders made as needed); returns the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.html, encoding="utf-8")
        return out


class Sessions:
    """The frames of a log (as of ``as_of``) read once, to render any of its sessions."""

    def __init__(self, src: object, *, as_of: object = None):
        self.src = src
        self.as_of = as_of
        self.threads = threads_df(src, as_of=as_of)
        self.projects = projects_df(src, as_of=as_of)
        self._by_thread: dict[str, dict[str, pd.DataFrame]] = {}
        self._empty: dict[str, pd.DataFrame] = {}
        for name, reader in (
            ("turns", turns_df),
            ("messages", messages_df),
            ("tool_calls", tool_calls_df),
            ("model_calls", model_calls_df),
            ("checkpoints", checkpoints_df),
        ):
            frame = reader(src, as_of=as_of)
            self._by_thread[name] = _group(frame)
            self._empty[name] = frame.iloc[:0]
        self._children = _group(
            self.threads[self.threads["parent_thread_id"].notna()], "parent_thread_id"
        )
        self._thread_rows = {row["thread_id"]: row for row in self.threads.to_dict("records")}

    @property
    def thread_ids(self) -> list[str]:
        return list(self._thread_rows)

    def of(self, name: str, thread_id: str) -> pd.DataFrame:
        """The rows of frame ``name`` (``turns``, ``messages``…) in ``thread_id``."""
        return self._by_thread[name].get(thread_id, self._empty[name])

    def page(self, thread_id: str) -> SessionPage:
        """The page of ``thread_id``; :class:`ThreadNotFoundError` when the log has none."""
        row = self._thread_rows.get(thread_id)
        if row is None:
            when = f" as of {self.as_of!r}" if self.as_of is not None else ""
            raise ThreadNotFoundError(f"no thread {thread_id!r} in {self.src}{when}")
        title = row["title"] if not missing(row["title"]) else thread_id
        body = (
            '<div class="ek-session page">'
            + self._header(row)
            + '<div class="timeline">'
            + self._timeline(row, depth=0, seen={thread_id})
            + "</div></div>"
        )
        return SessionPage(thread_id=thread_id, title=str(title), body=body)

    # ------------------------------------------------------------------ figures

    def totals(self, thread_id: str) -> dict[str, float | int | None]:
        """Tokens and cost of a thread by the usage rule: its model calls plus its turns
        without calls."""
        calls = self.of("model_calls", thread_id)
        turns = self.of("turns", thread_id)
        bare = turns[turns["model_calls"] == 0] if len(turns) else turns
        parts = [frame for frame in (calls, bare) if len(frame)]
        out: dict[str, float | int | None] = {}
        for column in (*TOKEN_PARTS, "reasoning_tokens"):
            out[column] = int(sum(frame[column].fillna(0).sum() for frame in parts))
        out["total_tokens"] = sum(int(out[c] or 0) for c in TOKEN_PARTS)
        costs = [frame["cost_usd"].dropna() for frame in parts]
        known = [c for c in costs if len(c)]
        out["cost_usd"] = float(sum(c.sum() for c in known)) if known else None
        return out

    def _span(self, row: dict) -> tuple[object, object]:
        tid = row["thread_id"]
        times = [row["created_at"]]
        ends: list[object] = []
        for name, columns in (
            ("turns", ("started_at", "completed_at", "last_activity_at")),
            ("messages", ("created_at", "updated_at")),
            ("tool_calls", ("started_at", "completed_at")),
            ("model_calls", ("requested_at", "completed_at")),
            ("checkpoints", ("created_at", "restored_at")),
        ):
            frame = self.of(name, tid)
            for column in columns:
                if len(frame):
                    value = frame[column].max()
                    if not missing(value):
                        ends.append(value)
        ends = ends or [row["updated_at"]]
        start = min(t for t in times if not missing(t)) if not missing(row["created_at"]) else None
        return start, max(ends) if ends else None

    def _outcome(self, turns: pd.DataFrame) -> tuple[str, str]:
        if not len(turns):
            return "no turns", "none"
        statuses = turns["status"].astype(str)
        counts = statuses.value_counts()
        running = int(counts.get("running", 0))
        last = statuses.iloc[-1]
        if running:
            text = f"cut: {running} turn(s) still running, never completed"
            return text, "running"
        mixed = ", ".join(f"{n} {s}" for s, n in counts.items())
        text = last if len(counts) == 1 else f"last turn {last} ({mixed})"
        return text, last

    def _header(self, row: dict) -> str:
        tid = row["thread_id"]
        turns = self.of("turns", tid)
        tools = self.of("tool_calls", tid)
        totals = self.totals(tid)
        start, end = self._span(row)
        span = (
            (end - start).total_seconds() * 1000 if start is not None and end is not None else None
        )
        project = self._project_name(row["project_id"])
        outcome, outcome_class = self._outcome(turns)
        errors = int((tools["status"] == "error").sum()) if len(tools) else 0
        denied = int((tools["status"] == "denied").sum()) if len(tools) else 0
        children = self._children.get(tid)
        facts = [
            ("project", project),
            ("provider", row["provider"]),
            ("model", row["model"]),
            ("started", stamp(start)),
            ("status", row["status"]),
        ]
        cards = [
            ("duration", duration(span), f"{duration(turns['duration_ms'].sum())} in turns"),
            ("turns", number(len(turns))),
            ("tokens", number(totals["total_tokens"])),
            ("cost", money(totals["cost_usd"])),
            ("tool calls", number(len(tools)), f"{errors} failed · {denied} denied"),
            ("model calls", number(len(self.of("model_calls", tid)))),
            ("subagents", number(0 if children is None else len(children))),
        ]
        title = row["title"] if not missing(row["title"]) else tid
        parent = ""
        if not missing(row["parent_thread_id"]):
            parent = f" · subagent of {esc(row['parent_thread_id'])}"
        return (
            f"<h1>{esc(title)}</h1>"
            f'<p class="sub">thread {esc(tid)}{parent}</p>'
            f'<div class="outcome"><span class="badge {esc(outcome_class)}">outcome</span> '
            f"{esc(outcome)}</div>"
            '<dl class="facts">'
            + "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
            + "</dl>"
            '<div class="cards">'
            + "".join(card(*item) for item in cards)
            + "</div>"
            + f'<p class="note">Tokens: input {number(totals["input_tokens"])} · cache read '
            f"{number(totals['cache_read_tokens'])} · cache write "
            f"{number(totals['cache_write_tokens'])} · output {number(totals['output_tokens'])} "
            f"(reasoning {number(totals['reasoning_tokens'])}). "
            f"Times are UTC{self._as_of_note()}.</p>"
        )

    def _as_of_note(self) -> str:
        return "" if self.as_of is None else f"; the log as of {esc(self.as_of)}"

    def _project_name(self, project_id: object) -> str:
        if missing(project_id):
            return "—"
        found = self.projects[self.projects["project_id"] == project_id]
        if not len(found) or missing(found["name"].iloc[0]):
            return str(project_id)
        return str(found["name"].iloc[0])

    # ------------------------------------------------------------------ timeline

    def _timeline(self, row: dict, *, depth: int, seen: set[str]) -> str:
        """The thread's turns in order, with what happened outside any turn at its time."""
        tid = row["thread_id"]
        turns = self.of("turns", tid)
        children = self._children.get(tid)
        child_rows = [] if children is None else children.to_dict("records")
        tool_ids = (
            set(self.of("tool_calls", tid)["tool_call_id"])
            if len(self.of("tool_calls", tid))
            else set()
        )
        nested: dict[str, list[dict]] = {}
        loose: list[dict] = []
        for child in child_rows:
            parent_call = child["parent_tool_call_id"]
            if not missing(parent_call) and parent_call in tool_ids:
                nested.setdefault(parent_call, []).append(child)
            else:
                loose.append(child)

        items = self._items(tid)
        by_turn: dict[object, list[tuple]] = {}
        outside: list[tuple] = []
        turn_ids = set(turns["turn_id"]) if len(turns) else set()
        for item in items:
            if not missing(item[3]) and item[3] in turn_ids and item[2] != "restore":
                by_turn.setdefault(item[3], []).append(item)
            else:
                outside.append(item)
        for child in loose:
            outside.append((child["created_at"], 9, "subagent", None, child))

        blocks: list[tuple] = []
        for number_, turn in enumerate(turns.to_dict("records"), start=1):
            blocks.append((turn["started_at"], 0, "turn", number_, turn))
        blocks += [(t, rank, kind, None, obj) for t, rank, kind, _, obj in outside]
        blocks.sort(key=_order)
        parts = []
        for _, _, kind, number_, obj in blocks:
            if kind == "turn":
                parts.append(
                    self._turn(obj, number_, by_turn.get(obj["turn_id"], []), nested, depth, seen)
                )
            else:
                parts.append(self._item(kind, obj, nested, depth, seen))
        if not parts:
            parts.append('<p class="note">Nothing happened in this thread yet.</p>')
        return "".join(parts)

    def _items(self, tid: str) -> list[tuple]:
        """(time, rank, kind, turn_id, row) for everything in the thread but its turns."""
        items: list[tuple] = []
        for message in self.of("messages", tid).to_dict("records"):
            rank = 1 if message["role"] == "user" else 5
            items.append((message["created_at"], rank, "message", message["turn_id"], message))
        for call in self.of("model_calls", tid).to_dict("records"):
            when = (
                call["completed_at"] if not missing(call["completed_at"]) else call["requested_at"]
            )
            items.append((when, 2, "model", call["turn_id"], call))
        for call in self.of("tool_calls", tid).to_dict("records"):
            items.append((call["started_at"], 3, "tool", call["turn_id"], call))
        for point in self.of("checkpoints", tid).to_dict("records"):
            items.append((point["created_at"], 6, "checkpoint", point["turn_id"], point))
            if not missing(point["restored_at"]):
                items.append((point["restored_at"], 7, "restore", None, point))
        return items

    def _turn(self, turn: dict, n: int, items: list[tuple], nested, depth: int, seen) -> str:
        status = str(turn["status"])
        tokens = sum(0 if missing(turn[c]) else int(turn[c]) for c in TOKEN_PARTS)
        errors = int(turn["tool_errors"])
        tools = int(turn["tool_calls"])
        latency = duration(turn["duration_ms"]) if status != "running" else "still running"
        head = (
            f'<header><b>Turn {n}</b><span class="badge {esc(status)}">{esc(status)}</span>'
            f"<span>{esc(stamp(turn['started_at']))}</span>"
            f"<span>latency {esc(latency)}</span>"
            f"<span>{number(tokens)} tokens</span>"
            f"<span>{esc(money(turn['cost_usd']))}</span>"
            f"<span>{int(turn['model_calls'])} model call(s)</span>"
            f"<span>{tools} tool call(s){f', {errors} failed' if errors else ''}</span>"
            + (f"<span>model {esc(turn['model'])}</span>" if self._own_model(turn) else "")
            + "</header>"
        )
        parts, last = [], turn["started_at"]
        for when, _, kind, _, obj in sorted(items, key=_order):
            parts.append(_gap(last, when) + self._item(kind, obj, nested, depth, seen))
            if kind == "tool" and not missing(obj["completed_at"]):
                when = obj["completed_at"]
            if not missing(when) and (missing(last) or when > last):
                last = when
        body = "".join(parts)
        if not missing(turn["error"]):
            body += f'<div class="failure"><b>turn error</b><pre>{esc(turn["error"])}</pre></div>'
        if status == "running":
            body += (
                '<div class="failure">This turn never completed: the log holds no end for it '
                f"(last activity {esc(stamp(turn['last_activity_at']))}).</div>"
            )
        if not body:
            body = '<p class="note">No messages or calls recorded in this turn.</p>'
        return (
            f'<section class="turn {esc(status)}">{head}<div class="items">{body}</div></section>'
        )

    def _own_model(self, turn: dict) -> bool:
        """Whether a turn names a model other than its thread's."""
        thread = self._thread_rows.get(turn["thread_id"], {})
        return not missing(turn["model"]) and str(turn["model"]) != str(thread.get("model"))

    def _item(self, kind: str, obj: dict, nested, depth: int, seen) -> str:
        if kind == "message":
            role = str(obj["role"])
            css = {"user": "prompt", "assistant": "assistant"}.get(role, "system")
            label = {"user": "prompt", "assistant": "assistant"}.get(role, role)
            # The agent writes markdown; a person's prompt is shown as they typed it.
            body = markdown(obj["text"]) if role == "assistant" else folded(obj["text"])
            return (
                f'<div class="item {css}"><div class="label"><b>{esc(label)}</b> · '
                f"{esc(stamp(obj['created_at'], with_date=False))}</div>{body}</div>"
            )
        if kind == "model":
            return _model_call(obj)
        if kind == "tool":
            return self._tool_call(obj, nested.get(obj["tool_call_id"], []), depth, seen)
        if kind == "checkpoint":
            return (
                f'<div class="item checkpoint"><b>checkpoint</b> {esc(obj["message"])} · '
                f"{number(obj['files_changed'])} file(s), +{number(obj['additions'])} "
                f"−{number(obj['deletions'])} · <code>{esc(obj['git_ref'])}</code> · "
                f"{esc(stamp(obj['created_at'], with_date=False))}</div>"
            )
        if kind == "restore":
            return (
                f'<div class="item restore"><b>restored</b> checkpoint {esc(obj["message"])} '
                f"(<code>{esc(obj['git_ref'])}</code>) · {esc(stamp(obj['restored_at']))}</div>"
            )
        if kind == "subagent":
            return self._subagent(obj, depth, seen)
        raise ValueError(f"unknown timeline item {kind!r}")

    def _tool_call(self, call: dict, children: list[dict], depth: int, seen) -> str:
        status = str(call["status"])
        approval = ""
        if not missing(call["approval_decision"]):
            decision = str(call["approval_decision"])
            approval = (
                f' <span class="badge {esc(decision)}">approval {esc(decision)}</span> '
                f"after {esc(duration(call['approval_wait_ms']))}"
            )
        category = "" if missing(call["tool_category"]) else f" ({esc(call['tool_category'])})"
        finished = "" if status == "running" else f" · {esc(duration(call['duration_ms']))}"
        gist = _gist(call["input"])
        label = (
            f'<span class="label"><b>{esc(call["tool"])}</b>{category}'
            f'<span class="badge {esc(status)}">{esc(status)}</span>{finished}{approval} · '
            f"{esc(stamp(call['started_at'], with_date=False))}</span>"
            + (f'<span class="gist">{esc(gist)}</span>' if gist else "")
        )
        io = f'<div class="io"><div class="k">input</div>{folded(_pretty(call["input"]))}</div>'
        if missing(call["output"]):
            io += (
                '<div class="io"><div class="k">output</div>'
                '<p class="note">no result recorded</p></div>'
            )
        else:
            io += f'<div class="io"><div class="k">output</div>{folded(call["output"])}</div>'
        subs = "".join(self._subagent(child, depth, seen) for child in children)
        # A failed or refused call is open; the others fold to their one-line summary.
        opened = " open" if status in ("error", "denied") else ""
        return (
            f'<div class="item tool {esc(status)}"><details class="call"{opened}>'
            f"<summary>{label}</summary>{io}</details>{subs}</div>"
        )

    def _subagent(self, child: dict, depth: int, seen: set[str]) -> str:
        cid = child["thread_id"]
        totals = self.totals(cid)
        turns = self.of("turns", cid)
        outcome, _ = self._outcome(turns)
        title = child["title"] if not missing(child["title"]) else cid
        tools = self.of("tool_calls", cid)
        failed = int(tools["status"].isin(["error", "denied"]).sum()) if len(tools) else 0
        summary = (
            f"<b>subagent</b> {esc(title)} · {esc(child['provider'])} / {esc(child['model'])} · "
            f"{len(turns)} turn(s) · {len(tools)} tool call(s)"
            + (f' <span class="badge error">{failed} failed</span>' if failed else "")
            + f" · {number(totals['total_tokens'])} tokens · "
            f"{esc(money(totals['cost_usd']))} · {esc(outcome)}"
        )
        if cid in seen or depth + 1 >= MAX_DEPTH:
            inner = f'<p class="note">thread {esc(cid)} (shown on its own page)</p>'
        else:
            inner = f'<p class="note">thread {esc(cid)}</p>' + self._timeline(
                child, depth=depth + 1, seen=seen | {cid}
            )
        return f'<details class="subagent"><summary>{summary}</summary>{inner}</details>'


GAP_MS = 60_000
"""A pause this long or longer between two things in a turn is shown."""


def _gap(before: object, after: object) -> str:
    """A marker for a long pause in a turn (where its latency went), else nothing."""
    if missing(before) or missing(after):
        return ""
    ms = (after - before).total_seconds() * 1000
    if ms < GAP_MS:
        return ""
    return f'<div class="gap">⋯ {esc(duration(ms))} without activity ⋯</div>'


def _model_call(call: dict) -> str:
    parts = [
        f"<b>model call</b> {esc(call['model'])}"
        if not missing(call["model"])
        else "<b>model call</b>"
    ]
    if not missing(call["duration_ms"]):
        parts.append(esc(duration(call["duration_ms"])))
    parts.append(f"in {number(call['input_tokens'])}")
    if call["cache_read_tokens"]:
        parts.append(f"cache read {number(call['cache_read_tokens'])}")
    if call["cache_write_tokens"]:
        parts.append(f"cache write {number(call['cache_write_tokens'])}")
    out = f"out {number(call['output_tokens'])}"
    if call["reasoning_tokens"]:
        out += f" (reasoning {number(call['reasoning_tokens'])})"
    parts.append(out)
    parts.append(esc(money(call["cost_usd"])))
    if not missing(call["stop_reason"]):
        parts.append(f"stop {esc(call['stop_reason'])}")
    return f'<div class="item model">{" · ".join(parts)}</div>'


def _pretty(raw: object) -> str:
    """Tool input JSON indented for reading; text that is not JSON as it is."""
    if missing(raw):
        return ""
    try:
        return json.dumps(json.loads(str(raw)), indent=2, ensure_ascii=False)
    except ValueError:
        return str(raw)


GIST_KEYS = ("command", "cmd", "file_path", "path", "pattern", "query", "url", "description")


def _gist(raw: object) -> str:
    """One line saying what a tool call did: its command, path or query, when it has one."""
    if missing(raw):
        return ""
    try:
        value = json.loads(str(raw))
    except ValueError:
        return ""
    if not isinstance(value, dict):
        return ""
    for key in GIST_KEYS:
        found = value.get(key)
        if isinstance(found, list):
            found = " ".join(str(part) for part in found)
        if isinstance(found, str) and found.strip():
            line = found.strip().split("\n")[0]
            return line if len(line) <= 160 else line[:157] + "…"
    return ""


def _order(item: tuple) -> tuple:
    moment = item[0]
    missing_time = missing(moment)
    return (missing_time, pd.Timestamp(0, tz="UTC") if missing_time else moment, item[1])


def _group(frame: pd.DataFrame, key: str = "thread_id") -> dict[str, pd.DataFrame]:
    if not len(frame):
        return {}
    return {str(k): g for k, g in frame.groupby(frame[key].astype(str), sort=False)}


def show(src: object, thread_id: str, *, as_of: object = None) -> SessionPage:
    """The page of one session (thread) of ``src``, as of ``as_of`` (as in the frames).

    Raises :class:`~eventkit.errors.ThreadNotFoundError` naming the thread when the log
    has no such thread (at ``as_of``).
    """
    return Sessions(src, as_of=as_of).page(thread_id)


def save_page(
    src: object,
    thread_id: str,
    out: str | os.PathLike[str] | None = None,
    *,
    as_of: object = None,
) -> Path:
    """Write the page of ``thread_id`` to ``out`` (default: :func:`safe_file_name` in the
    current folder); returns the path written."""
    page = show(src, thread_id, as_of=as_of)
    return page.save(out if out is not None else safe_file_name(thread_id))


__all__ = ["SessionPage", "Sessions", "safe_file_name", "save_page", "show"]
