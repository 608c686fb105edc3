"""Synthetic agent sessions: a deterministic, realistic event stream for demos and benchmarks.

``generate(seed, threads=N)`` yields a stream of all 18 event types, one thread at a
time (memory stays flat at any size: 10M events stream through). The same seed gives
the same events and the same event ids (derived from the seed and a counter).

Distributions are calibrated from the real recordings in ``data/fixtures/`` (two
Claude Code sessions, two Codex CLI rollouts; figures per turn) and kept as data in
:data:`PROFILES` and :data:`TOOL_KINDS`:

- turn latency: log-normal; the recordings' turns took 13 s to 12 min (median about
  70 s), so medians run from 40 s (Sonnet) to 150 s (gpt-5-codex), sigma 0.9;
- tool calls per turn: log-normal, median 8 (recordings: 1 to 103, median 11);
- tool mix: Claude Code reads, edits and searches as much as it runs shell commands;
  Codex runs nearly everything through the shell (`exec_command`, `shell`), with a
  few `apply_patch`, `web_search` and `update_plan` calls;
- tool duration: edit/read/search ~0.15 s, shell ~1.2 s, web ~5 s, task ~20 s
  (recordings' medians), log-normal sigma 1.0; failures 5% for shell and 10% for
  reads (recordings: 7 of 141 shell calls, 2 of 15 reads), 2% otherwise;
- tokens: Claude Code turns are almost all cache (uncached input ~30 tokens, cache
  reads ~30k per model response, cache writes ~5k per turn); Codex turns carry uncached
  input (~2-10k per response) and record reasoning tokens; output ~100-250 per response;
- model calls: a turn's usage (one response per tool call, plus the answer) is
  recorded as 1-3 ``ModelCallCompleted`` events between its tool calls, each carrying
  its share of the tokens and its estimated cost, and the ``TurnCompleted`` has zero
  usage and no cost, as writers that record model calls write it. About one call in
  eight is first seen cut short (part of its output) and restated with a higher
  revision; a few sessions end with a call outside any turn (a summary of the session).
  t3code records turn totals only: its turns have no model calls and their
  completions carry the usage;
- deltas per message: Claude Code and Codex write whole messages (no deltas in the
  recordings); t3code streams assistant text in chunks (here 2-12 deltas);
- approvals: a quarter of Codex/t3code shell calls ask first; people answer in a
  log-normal ~6 s (88% accept); plus git checkpoints after edits, occasional
  restores (reverted sessions), renames, archives, deletions, subagent threads (each
  naming the tool call that started it) and setting changes.

Costs are estimated with :mod:`eventkit.catalog.pricing` (``cost_source = "estimated"``).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventkit.catalog.events import (
    ApprovalResolved,
    CheckpointCreated,
    CheckpointRestored,
    Event,
    MessageAdded,
    MessageDelta,
    ModelCallCompleted,
    ProjectCreated,
    ProjectDeleted,
    ProjectRenamed,
    SettingChanged,
    ThreadArchived,
    ThreadCreated,
    ThreadDeleted,
    ThreadRenamed,
    TokenUsage,
    ToolCallCompleted,
    ToolCallStarted,
    TurnCompleted,
    TurnStarted,
    derived_id,
)
from eventkit.catalog.pricing import estimate_cost
from eventkit.log.files import resolve_log_path
from eventkit.log.store import EventStore, NewEvent
from eventkit.progress import progress_bar

DEFAULT_START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class ToolKind:
    """How one kind of tool call behaves: its median duration and failure rate."""

    median_s: float
    failure_rate: float


TOOL_KINDS: dict[str, ToolKind] = {
    "read": ToolKind(0.15, 0.10),
    "edit": ToolKind(0.15, 0.02),
    "search": ToolKind(0.15, 0.02),
    "shell": ToolKind(1.2, 0.05),
    "web": ToolKind(5.0, 0.02),
    "task": ToolKind(20.0, 0.02),
}


@dataclass(frozen=True)
class Profile:
    """One provider/model pair: latency, token shape, tool mix and streaming."""

    provider: str
    model: str
    weight: int
    median_turn_s: float
    input_per_call: float  # uncached input tokens per model call (median)
    cache_read_per_call: float
    cache_write_per_turn: float
    output_per_call: float
    reasoning_share: float  # part of output spent reasoning (0 when not recorded)
    tools: tuple[tuple[str, str, int], ...]  # (tool name, kind, weight)
    streams: bool  # assistant text arrives as deltas
    asks_approval: bool

    @property
    def records_calls(self) -> bool:
        """Whether its writer records model calls (t3code knows turn totals only)."""
        return self.provider != "t3code"


_CLAUDE_TOOLS = (
    ("Read", "read", 30),
    ("Edit", "edit", 20),
    ("Write", "edit", 5),
    ("Bash", "shell", 20),
    ("Grep", "search", 8),
    ("Glob", "search", 7),
    ("WebFetch", "web", 3),
    ("WebSearch", "web", 3),
    ("Task", "task", 4),
)
_CODEX_TOOLS = (
    ("exec_command", "shell", 55),
    ("shell", "shell", 25),
    ("apply_patch", "edit", 10),
    ("web_search", "web", 5),
    ("update_plan", "task", 5),
)

PROFILES: tuple[Profile, ...] = (
    Profile("claude-code", "claude-sonnet-4-5", 30, 40, 30, 30_000, 5_000, 120, 0.0,
            _CLAUDE_TOOLS, False, False),
    Profile("claude-code", "claude-opus-4-6", 12, 120, 40, 35_000, 6_000, 150, 0.0,
            _CLAUDE_TOOLS, False, False),
    Profile("codex", "gpt-5-codex", 25, 150, 2_000, 14_000, 0, 190, 0.4,
            _CODEX_TOOLS, False, True),
    Profile("codex", "gpt-5.5", 18, 90, 10_000, 45_000, 0, 100, 0.2,
            _CODEX_TOOLS, False, True),
    Profile("t3code", "gpt-5-codex", 15, 120, 2_000, 14_000, 0, 190, 0.4,
            _CODEX_TOOLS, True, True),
)  # fmt: skip

_PROJECTS = ("billing-api", "web-console", "infra-terraform", "mobile-app", "data-pipeline")
_PROMPTS = (
    "Fix the failing test in {file}",
    "Add pagination to the {thing} endpoint",
    "Why is {thing} slow? Profile it and propose a fix",
    "Refactor {file} to remove the duplicated validation",
    "Write a migration that adds an index on {thing}",
    "Explain how {thing} is wired together",
    "Bump the dependency and fix what breaks in {file}",
    "Add logging around the retry loop in {file}",
)
_FILES = ("src/orders.py", "app/routes.ts", "lib/cache.go", "main.tf", "src/ui/Nav.tsx")
_THINGS = ("invoices", "sessions", "the job queue", "user search", "webhooks", "the cache")
_ANSWER = (
    "I looked at {file} and found the cause: the handler re-reads the configuration on "
    "every request. I moved it to start-up, added a test, and the suite passes. "
)
_SHELL = ("pytest -q", "npm test", "go test ./...", "git status", "make lint", "ls -la src")
_SETTINGS = (
    ("approval_policy", ("on-request", "never", "untrusted")),
    ("sandbox", ("workspace-write", "read-only")),
    ("model_reasoning_effort", ("low", "medium", "high")),
    ("auto_compact_threshold", (0.8, 0.9)),
)


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0, sigma))


class _Session:
    """The state of one generated stream: its random source, ids and clock."""

    def __init__(self, seed: int, start: datetime):
        self.seed = seed
        self.rng = random.Random(seed)
        self.counter = 0
        self.clock = start
        self.events = 0

    def emit(self, event: Event, kind: str) -> NewEvent:
        self.counter += 1
        self.events += 1
        event_id = derived_id(event.at, "synth", self.seed, kind, self.counter)
        return NewEvent(event, event_id=event_id, metadata={"synth_seed": self.seed})


def generate(
    seed: int = 0,
    threads: int | None = None,
    *,
    events: int | None = None,
    start: datetime = DEFAULT_START,
) -> Iterator[NewEvent]:
    """Yield the events of ``threads`` sessions, or about ``events`` events.

    With neither, 100 sessions; with both, whichever limit comes first. Subagent
    threads come on top of ``threads``. The stream starts at ``start`` and never holds
    more than one thread in memory.
    """
    if threads is None and events is None:
        threads = 100
    s = _Session(seed, start)
    rng = s.rng
    projects = []
    for name in _PROJECTS:
        project_id = derived_id(s.clock, "synth", seed, "project", name)
        projects.append(project_id)
        event = ProjectCreated(id=project_id, name=name, path=f"/home/dev/{name}", at=s.clock)
        yield s.emit(event, "project")
        s.clock += timedelta(seconds=rng.randint(5, 90))
    scratch = derived_id(s.clock, "synth", seed, "project", "scratch")
    yield s.emit(ProjectCreated(id=scratch, name="scratch", path="/tmp/scratch", at=s.clock), "p")
    key, values = _SETTINGS[0]
    yield s.emit(SettingChanged(key=key, value=values[0], at=s.clock), "setting")

    weights = [p.weight for p in PROFILES]
    thread_no = 0
    while (threads is None or thread_no < threads) and (events is None or s.events < events):
        thread_no += 1
        # Sessions start during working hours (UTC), about an hour apart.
        s.clock += timedelta(minutes=rng.expovariate(1 / 55))
        if not 8 <= s.clock.hour < 19:
            s.clock = (s.clock + timedelta(days=1)).replace(hour=8, minute=rng.randint(0, 59))
        profile = rng.choices(PROFILES, weights=weights)[0]
        for item in _thread(s, profile, rng.choice(projects), s.clock):
            yield item
            s.clock = max(s.clock, item.event.at)
        if rng.random() < 0.08:
            key, values = rng.choice(_SETTINGS)
            s.clock += timedelta(seconds=rng.randint(1, 30))
            yield s.emit(SettingChanged(key=key, value=rng.choice(values), at=s.clock), "setting")
        if thread_no % 25 == 0:
            renamed = ProjectRenamed(
                id=rng.choice(projects), name=f"{_PROJECTS[0]}-v{thread_no}", at=s.clock
            )
            yield s.emit(renamed, "rename")
    yield s.emit(ProjectDeleted(id=scratch, at=s.clock + timedelta(minutes=5)), "delete")


def _thread(
    s: _Session, profile: Profile, project_id: str, at: datetime, parent=None, parent_call=None
):
    rng = s.rng
    thread_id = derived_id(at, "synth", s.seed, "thread", s.counter)
    first_prompt = _prompt(rng)
    yield s.emit(
        ThreadCreated(
            id=thread_id,
            project_id=project_id,
            title=first_prompt[:60],
            provider=profile.provider,
            model=profile.model,
            parent_thread_id=parent,
            parent_tool_call_id=parent_call,
            at=at,
        ),
        "thread",
    )
    n_turns = 1 + min(int(rng.expovariate(1 / 3)), 24) if parent is None else rng.randint(1, 3)
    checkpoints: list[str] = []
    for turn_no in range(n_turns):
        at += timedelta(seconds=rng.uniform(5, 240) if turn_no else rng.uniform(0.5, 3))
        prompt = first_prompt if turn_no == 0 else _prompt(rng)
        turn_events = list(_turn(s, profile, thread_id, at, prompt, checkpoints))
        yield from turn_events
        at = max(e.event.at for e in turn_events)
        spawner = _spawning_call(turn_events)
        if parent is None and rng.random() < 0.04 and spawner:  # a subagent, started by a call
            sub_at = at + timedelta(milliseconds=rng.randint(50, 900))
            yield from _thread(s, profile, project_id, sub_at, thread_id, spawner)
    if profile.records_calls and rng.random() < 0.08:  # a summary of the session: no turn
        at += timedelta(seconds=rng.uniform(1, 20))
        usage = _usage(rng, profile, 1)
        yield s.emit(_model_call(s, profile, thread_id, None, usage, at, None), "model-call")
    if checkpoints and rng.random() < 0.12:  # the user reverts the agent's work
        at += timedelta(seconds=rng.uniform(5, 600))
        restored = CheckpointRestored(id=rng.choice(checkpoints), thread_id=thread_id, at=at)
        yield s.emit(restored, "restore")
    if rng.random() < 0.15:
        at += timedelta(seconds=rng.uniform(1, 60))
        title = f"{first_prompt[:40]} (done)"
        yield s.emit(ThreadRenamed(id=thread_id, title=title, at=at), "rename")
    roll = rng.random()
    if roll < 0.10:
        at += timedelta(hours=rng.uniform(1, 48))
        yield s.emit(ThreadArchived(id=thread_id, at=at), "archive")
    elif roll < 0.13:
        at += timedelta(hours=rng.uniform(1, 48))
        yield s.emit(ThreadDeleted(id=thread_id, at=at), "delete")


def _spawning_call(turn_events: list[NewEvent]) -> str | None:
    """The tool call of a turn that starts a subagent: its last ``task`` call, else its last."""
    started = [e.event for e in turn_events if isinstance(e.event, ToolCallStarted)]
    tasks = [e for e in started if e.tool in ("Task", "update_plan")]
    chosen = (tasks or started or [None])[-1]
    return chosen.id if chosen is not None else None


def _model_call(
    s: _Session,
    profile: Profile,
    thread_id: str,
    turn_id: str | None,
    usage: TokenUsage,
    at: datetime,
    stop_reason: str | None,
    revision: int = 1,
) -> ModelCallCompleted:
    """One model response: its tokens, its estimated cost, when it was asked and answered."""
    rng = s.rng
    cost = estimate_cost(profile.model, usage)
    latency = timedelta(seconds=_lognormal(rng, 4 + usage.output_tokens / 60, 0.6))
    return ModelCallCompleted(
        id=derived_id(at, "synth", s.seed, "model-call", s.counter),
        thread_id=thread_id,
        turn_id=turn_id,
        model=profile.model,
        usage=usage,
        cost_usd=None if cost is None else round(cost, 6),
        cost_source=None if cost is None else "estimated",
        requested_at=at - latency,
        stop_reason=stop_reason,
        revision=revision,
        at=at,
    )


def _shares(rng: random.Random, usage: TokenUsage, parts: int) -> list[TokenUsage]:
    """``usage`` split into ``parts`` that add up to it (cache writes in the first part)."""
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    total = sum(weights)
    cut = [w / total for w in weights]
    shares = []
    for i in range(parts):
        fields = {}
        for name in ("input_tokens", "output_tokens", "cache_read_tokens"):
            value = getattr(usage, name)
            fields[name] = (
                int(value * cut[i])
                if i < parts - 1
                else value - sum(getattr(share, name) for share in shares)
            )
        fields["cache_write_tokens"] = usage.cache_write_tokens if i == 0 else 0
        reasoning = min(fields["output_tokens"], int(usage.reasoning_tokens * cut[i]))
        fields["reasoning_tokens"] = reasoning
        shares.append(TokenUsage(**fields))
    return shares


def _prompt(rng: random.Random) -> str:
    return rng.choice(_PROMPTS).format(file=rng.choice(_FILES), thing=rng.choice(_THINGS))


def _turn(s: _Session, profile: Profile, thread_id, at, prompt, checkpoints):
    rng = s.rng
    turn_id = derived_id(at, "synth", s.seed, "turn", s.counter)
    yield s.emit(TurnStarted(id=turn_id, thread_id=thread_id, model=profile.model, at=at), "t")
    user = MessageAdded(
        id=derived_id(at, "synth", s.seed, "msg", s.counter),
        thread_id=thread_id,
        turn_id=turn_id,
        role="user",
        text=prompt,
        at=at,
    )
    yield s.emit(user, "msg")
    end = at + timedelta(seconds=_lognormal(rng, profile.median_turn_s, 0.9))
    n_tools = min(int(_lognormal(rng, 8, 1.0)), 120)
    usage = _usage(rng, profile, n_tools + 1)  # one response per tool call, plus the answer
    # The responses are recorded as 1-3 model calls: the last just before the answer, the
    # others after the tool calls at `breaks`.
    n_calls = 1 + min(n_tools, rng.randint(0, 2)) if profile.records_calls else 0
    shares = _shares(rng, usage, n_calls) if n_calls else []
    breaks = sorted(rng.sample(range(1, n_tools + 1), n_calls - 1)) if n_calls > 1 else []
    tool_weights = [w for _, _, w in profile.tools]
    t = at + timedelta(seconds=rng.uniform(0.8, 4))
    edited = False
    for tool_no in range(n_tools):
        if breaks and tool_no == breaks[0]:
            breaks.pop(0)
            yield from _record_call(s, profile, thread_id, turn_id, shares.pop(0), t, "tool_use")
            t += timedelta(seconds=rng.uniform(0.05, 0.5))
        tool, kind_name, _w = rng.choices(profile.tools, weights=tool_weights)[0]
        kind = TOOL_KINDS[kind_name]
        call_id = derived_id(t, "synth", s.seed, "call", s.counter)
        started = ToolCallStarted(
            id=call_id,
            thread_id=thread_id,
            turn_id=turn_id,
            tool=tool,
            input=_tool_input(rng, kind_name),
            at=t,
        )
        yield s.emit(started, "call")
        if profile.asks_approval and kind_name == "shell" and rng.random() < 0.25:
            wait = timedelta(seconds=_lognormal(rng, 6, 1.1))
            decision = rng.choices(("accepted", "declined", "cancelled"), (88, 9, 3))[0]
            approval = ApprovalResolved(
                id=derived_id(t, "synth", s.seed, "approval", s.counter),
                thread_id=thread_id,
                turn_id=turn_id,
                tool_call_id=call_id,
                decision=decision,
                requested_at=t,
                at=t + wait,
            )
            yield s.emit(approval, "approval")
            t += wait
            if decision != "accepted":
                denied = ToolCallCompleted(
                    id=call_id,
                    thread_id=thread_id,
                    turn_id=turn_id,
                    status="denied",
                    output="user declined",
                    at=t,
                )
                yield s.emit(denied, "done")
                continue
        t += timedelta(seconds=_lognormal(rng, kind.median_s, 1.0))
        failed = rng.random() < kind.failure_rate
        output = "exit status 1: 2 tests failed" if failed else f"ok ({rng.randint(1, 400)} lines)"
        done = ToolCallCompleted(
            id=call_id,
            thread_id=thread_id,
            turn_id=turn_id,
            status="error" if failed else "ok",
            output=output,
            at=t,
        )
        yield s.emit(done, "done")
        edited = edited or kind_name == "edit"
        t += timedelta(seconds=rng.uniform(0.3, 3))
    end = max(end, t + timedelta(seconds=rng.uniform(1, 5)))
    for i, share in enumerate(shares):  # the answer's call is the last
        answered = end - timedelta(seconds=0.4 * (len(shares) - i))
        stop = "end_turn" if i == len(shares) - 1 else "tool_use"
        yield from _record_call(s, profile, thread_id, turn_id, share, answered, stop)
    yield from _answer(s, profile, thread_id, turn_id, end)
    if edited and rng.random() < 0.7:
        checkpoint_id = derived_id(end, "synth", s.seed, "checkpoint", s.counter)
        checkpoints.append(checkpoint_id)
        files = rng.randint(1, 6)
        checkpoint = CheckpointCreated(
            id=checkpoint_id,
            thread_id=thread_id,
            turn_id=turn_id,
            git_ref=f"refs/eventkit/checkpoints/{checkpoint_id[:8]}",
            message=f"turn {len(checkpoints)}",
            files_changed=files,
            additions=rng.randint(files, 40 * files),
            deletions=rng.randint(0, 20 * files),
            at=end,
        )
        yield s.emit(checkpoint, "checkpoint")
    roll = rng.random()
    outcome = "success" if roll > 0.05 else ("interrupted" if roll > 0.02 else "error")
    # A writer that records model calls leaves the completion's usage at zero, cost null.
    cost = None if profile.records_calls else estimate_cost(profile.model, usage)
    yield s.emit(
        TurnCompleted(
            id=turn_id,
            thread_id=thread_id,
            outcome=outcome,
            error="model overloaded (529)" if outcome == "error" else None,
            usage=TokenUsage() if profile.records_calls else usage,
            cost_usd=None if cost is None else round(cost, 6),
            cost_source=None if cost is None else "estimated",
            at=end + timedelta(milliseconds=rng.randint(5, 400)),
        ),
        "turn-done",
    )


def _record_call(s: _Session, profile: Profile, thread_id, turn_id, usage, at, stop_reason):
    """A model call; one in eight is first seen cut short, then restated with a higher revision."""
    rng = s.rng
    if rng.random() < 0.125:
        partial = usage.model_copy(
            update={"output_tokens": usage.output_tokens // 3, "reasoning_tokens": 0}
        )
        first = _model_call(s, profile, thread_id, turn_id, partial, at, None)
        yield s.emit(first, "model-call")
        later = at + timedelta(seconds=rng.uniform(0.05, 2))
        whole = _model_call(s, profile, thread_id, turn_id, usage, later, stop_reason, 2)
        # The same call: its id and request time are the first statement's.
        whole = whole.model_copy(update={"id": first.id, "requested_at": first.requested_at})
        yield s.emit(whole, "model-call")
        return
    yield s.emit(_model_call(s, profile, thread_id, turn_id, usage, at, stop_reason), "model-call")


def _answer(s: _Session, profile: Profile, thread_id, turn_id, end: datetime):
    rng = s.rng
    message_id = derived_id(end, "synth", s.seed, "msg", s.counter)
    answer = _ANSWER.format(file=rng.choice(_FILES))
    chunks = rng.randint(3, 13) if profile.streams else 1
    step = max(1, -(-len(answer) // chunks))
    parts = [answer[i : i + step] for i in range(0, len(answer), step)]
    at = end - timedelta(seconds=0.2 * len(parts))
    first = MessageAdded(
        id=message_id, thread_id=thread_id, turn_id=turn_id, role="assistant", text=parts[0], at=at
    )
    yield s.emit(first, "msg")
    for part in parts[1:]:
        at += timedelta(seconds=0.2)
        delta = MessageDelta(id=message_id, thread_id=thread_id, turn_id=turn_id, delta=part, at=at)
        yield s.emit(delta, "delta")


def _tool_input(rng: random.Random, kind: str) -> dict:
    if kind == "shell":
        return {"command": rng.choice(_SHELL), "timeout_ms": 120_000}
    if kind == "edit":
        return {
            "file_path": rng.choice(_FILES),
            "old_string": "retries = 3",
            "new_string": "retries = 5",
        }
    if kind == "read":
        return {"file_path": rng.choice(_FILES), "limit": rng.choice((200, 2000))}
    if kind == "search":
        return {"pattern": rng.choice(("TODO", "def handle", "retry")), "path": "src"}
    if kind == "web":
        return {"url": "https://docs.example.com/guide", "prompt": "summarize the options"}
    return {"description": "explore the codebase", "subagent_type": "general-purpose"}


def _usage(rng: random.Random, profile: Profile, calls: int) -> TokenUsage:
    output = int(sum(_lognormal(rng, profile.output_per_call, 0.8) for _ in range(calls)))
    return TokenUsage(
        input_tokens=int(sum(_lognormal(rng, profile.input_per_call, 1.0) for _ in range(calls))),
        output_tokens=output,
        cache_read_tokens=int(
            sum(_lognormal(rng, profile.cache_read_per_call, 0.5) for _ in range(calls))
        ),
        cache_write_tokens=int(_lognormal(rng, profile.cache_write_per_turn, 1.0))
        if profile.cache_write_per_turn
        else 0,
        reasoning_tokens=int(output * profile.reasoning_share * rng.uniform(0.5, 1.5)),
    )


def generate_log(
    path: str | os.PathLike[str] | EventStore,
    *,
    seed: int = 0,
    threads: int | None = None,
    events: int | None = None,
    batch_size: int = 1_000,
    projections: bool = True,
    overwrite: bool = False,
    progress: bool | None = None,
) -> int:
    """Append generated sessions to the log at ``path``; returns how many events.

    Give ``threads`` (sessions) or ``events`` (about how many events; default 10,000).
    Re-running with the same arguments writes nothing new (ids are deterministic).
    ``overwrite=True`` first removes the log at ``path`` (with its ``-wal`` and ``-shm``),
    so the log holds exactly the generated sessions.
    """
    if threads is None and events is None:
        events = 10_000
    if isinstance(path, EventStore):
        if overwrite:
            raise ValueError("overwrite=True needs a path, not an open EventStore")
        store, owned = path, False
    else:
        if overwrite:
            _remove_log(path)
        store, owned = EventStore.open(path, projections=projections), True
    try:
        count = 0
        batch: list[NewEvent] = []
        with progress_bar(total=events, desc="generate", unit="ev", enabled=progress) as bar:
            for item in generate(seed, threads, events=events):
                batch.append(item)
                if len(batch) >= batch_size:
                    store.append_all(batch)
                    count += len(batch)
                    bar.update(len(batch))
                    batch = []
            if batch:
                store.append_all(batch)
                count += len(batch)
                bar.update(len(batch))
        return count
    finally:
        if owned:
            store.close()


def _remove_log(path: str | os.PathLike[str]) -> None:
    """Delete the log file ``path`` names and its SQLite side files, if they exist."""
    target = resolve_log_path(path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
