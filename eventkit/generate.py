"""A deterministic generator of realistic agent sessions, for demos, samples and benchmarks.

The same seed always yields the same events and the same event ids (derived from the
seed and a counter), so a generated log can be rebuilt bit-for-bit in its payloads.
Shapes follow what real logs show: a few projects, threads from several providers and
models, turns whose latency is log-normal by model, streamed assistant text, tool calls
by category with some errors and denials, approvals with human wait times, git
checkpoints, occasional reverts, renames, archives, deletions, subagent threads and
setting changes.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ._progress import progress_bar
from .events import (
    ApprovalResolved,
    CheckpointCreated,
    CheckpointRestored,
    Event,
    MessageAdded,
    MessageDelta,
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
from .store import EventStore, NewEvent

DEFAULT_START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class ModelProfile:
    provider: str
    model: str
    median_turn_s: float
    usd_per_mtok_in: float
    usd_per_mtok_out: float
    usd_per_mtok_cache_read: float
    tools: tuple[tuple[str, str], ...]  # (tool name, kind of input)


_CLAUDE_TOOLS = (
    ("Read", "read"),
    ("Edit", "edit"),
    ("Bash", "shell"),
    ("Grep", "search"),
    ("Glob", "search"),
    ("Write", "edit"),
    ("WebFetch", "web"),
    ("Task", "task"),
)
_CODEX_TOOLS = (
    ("exec_command", "shell"),
    ("shell", "shell"),
    ("apply_patch", "edit"),
    ("web_search", "web"),
    ("update_plan", "task"),
)

PROFILES: tuple[ModelProfile, ...] = (
    ModelProfile("claude-code", "claude-sonnet-4-5", 38.0, 3.0, 15.0, 0.3, _CLAUDE_TOOLS),
    ModelProfile("claude-code", "claude-opus-4-6", 61.0, 5.0, 25.0, 0.5, _CLAUDE_TOOLS),
    ModelProfile("codex", "gpt-5-codex", 52.0, 1.25, 10.0, 0.125, _CODEX_TOOLS),
    ModelProfile("codex", "gpt-5.5", 44.0, 1.5, 12.0, 0.15, _CODEX_TOOLS),
    ModelProfile("t3code", "gpt-5-codex", 47.0, 1.25, 10.0, 0.125, _CODEX_TOOLS),
)
_PROFILE_WEIGHTS = (30, 12, 25, 18, 15)

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


class _Ids:
    """Deterministic ids: UUIDv7 layout from the event time and (seed, counter)."""

    def __init__(self, seed: int):
        self.seed = seed
        self.counter = 0

    def __call__(self, at: datetime, kind: str) -> str:
        self.counter += 1
        return derived_id(at, "generate", self.seed, kind, self.counter)


def generate_events(
    events: int = 10_000, *, seed: int = 0, start: datetime = DEFAULT_START
) -> Iterator[NewEvent]:
    """Yield about ``events`` realistic events (whole threads; never fewer than asked)."""
    rng = random.Random(seed)
    ids = _Ids(seed)
    produced = 0
    clock = start
    projects: list[str] = []

    def emit(event: Event, kind: str = "event") -> NewEvent:
        nonlocal produced
        produced += 1
        return NewEvent(event, event_id=ids(event.at, kind), metadata={"generator_seed": seed})

    n_projects = min(len(_PROJECTS), max(1, events // 400))
    for name in _PROJECTS[:n_projects]:
        project_id = ids(clock, "project")
        projects.append(project_id)
        yield emit(ProjectCreated(id=project_id, name=name, path=f"/home/dev/{name}", at=clock))
        clock += timedelta(seconds=rng.randint(5, 90))
    scratch_id = ids(clock, "project")
    yield emit(ProjectCreated(id=scratch_id, name="scratch", path="/tmp/scratch", at=clock))
    key, values = _SETTINGS[0]
    yield emit(SettingChanged(key=key, value=values[0], at=clock))

    thread_no = 0
    while produced < events:
        thread_no += 1
        # Sessions start during working hours, a few hours apart, UTC.
        clock += timedelta(minutes=rng.expovariate(1 / 55))
        if not 8 <= clock.hour < 19:
            clock = (clock + timedelta(days=1)).replace(hour=8, minute=rng.randint(0, 59))
        profile = rng.choices(PROFILES, weights=_PROFILE_WEIGHTS)[0]
        for item in _thread(rng, ids, emit, profile, rng.choice(projects), clock, thread_no):
            yield item
            clock = max(clock, item.event.at)
        if rng.random() < 0.08:
            key, values = rng.choice(_SETTINGS)
            clock += timedelta(seconds=rng.randint(1, 30))
            yield emit(SettingChanged(key=key, value=rng.choice(values), at=clock))
        if thread_no % 97 == 0:
            project_id = rng.choice(projects)
            yield emit(ProjectRenamed(id=project_id, name=f"{_PROJECTS[0]}-v{thread_no}", at=clock))
    yield emit(ProjectDeleted(id=scratch_id, at=clock + timedelta(minutes=5)))


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0, sigma))


def _thread(rng, ids, emit, profile: ModelProfile, project_id, at, thread_no, parent=None):
    thread_id = ids(at, "thread")
    first_prompt = _prompt(rng)
    yield emit(
        ThreadCreated(
            id=thread_id,
            project_id=project_id,
            title=first_prompt[:60],
            provider=profile.provider,
            model=profile.model,
            parent_thread_id=parent,
            at=at,
        )
    )
    n_turns = 1 + min(int(rng.expovariate(1 / 4)), 24) if parent is None else rng.randint(1, 3)
    checkpoints: list[str] = []
    for turn_no in range(n_turns):
        at += timedelta(seconds=rng.uniform(2, 240) if turn_no else rng.uniform(0.5, 3))
        prompt = first_prompt if turn_no == 0 else _prompt(rng)
        turn_events = list(_turn(rng, ids, emit, profile, thread_id, at, prompt, checkpoints))
        yield from turn_events
        at = max(e.event.at for e in turn_events)
        if parent is None and rng.random() < 0.04:
            sub_at = at + timedelta(milliseconds=rng.randint(50, 900))
            sub = rng.choice([p for p in PROFILES if p.provider == profile.provider])
            yield from _thread(rng, ids, emit, sub, project_id, sub_at, thread_no, thread_id)
    if checkpoints and rng.random() < 0.12:  # the user reverts the agent's work
        at += timedelta(seconds=rng.uniform(5, 600))
        yield emit(CheckpointRestored(id=rng.choice(checkpoints), thread_id=thread_id, at=at))
    if rng.random() < 0.15:
        at += timedelta(seconds=rng.uniform(1, 60))
        yield emit(ThreadRenamed(id=thread_id, title=f"{first_prompt[:40]} (done)", at=at))
    roll = rng.random()
    if roll < 0.10:
        at += timedelta(hours=rng.uniform(1, 48))
        yield emit(ThreadArchived(id=thread_id, at=at))
    elif roll < 0.13:
        at += timedelta(hours=rng.uniform(1, 48))
        yield emit(ThreadDeleted(id=thread_id, at=at))


def _prompt(rng: random.Random) -> str:
    return rng.choice(_PROMPTS).format(file=rng.choice(_FILES), thing=rng.choice(_THINGS))


def _turn(rng, ids, emit, profile: ModelProfile, thread_id, at, prompt, checkpoints):
    turn_id = ids(at, "turn")
    yield emit(TurnStarted(id=turn_id, thread_id=thread_id, model=profile.model, at=at))
    yield emit(
        MessageAdded(
            id=ids(at, "msg"), thread_id=thread_id, turn_id=turn_id, role="user", text=prompt, at=at
        )
    )
    duration = _lognormal(rng, profile.median_turn_s, 0.7)
    end = at + timedelta(seconds=duration)
    n_tools = min(int(rng.expovariate(1 / 3.5)), 30)
    t = at + timedelta(seconds=rng.uniform(0.8, 4))
    edited = False
    for _ in range(n_tools):
        tool, kind = rng.choice(profile.tools)
        call_id = ids(t, "call")
        yield emit(
            ToolCallStarted(
                id=call_id,
                thread_id=thread_id,
                turn_id=turn_id,
                tool=tool,
                input=_tool_input(rng, kind),
                at=t,
            )
        )
        if kind == "shell" and rng.random() < 0.25:  # asks the user first
            wait = timedelta(seconds=_lognormal(rng, 6, 1.1))
            decision = rng.choices(("accepted", "declined", "cancelled"), (88, 9, 3))[0]
            yield emit(
                ApprovalResolved(
                    id=ids(t, "approval"),
                    thread_id=thread_id,
                    turn_id=turn_id,
                    tool_call_id=call_id,
                    decision=decision,
                    requested_at=t,
                    at=t + wait,
                )
            )
            t += wait
            if decision != "accepted":
                yield emit(
                    ToolCallCompleted(
                        id=call_id,
                        thread_id=thread_id,
                        turn_id=turn_id,
                        status="denied",
                        output="user declined",
                        at=t,
                    )
                )
                continue
        t += timedelta(seconds=_lognormal(rng, 1.6 if kind != "shell" else 4.5, 0.9))
        failed = rng.random() < (0.14 if kind == "shell" else 0.05)
        output = "exit status 1: 2 tests failed" if failed else f"ok ({rng.randint(1, 400)} lines)"
        yield emit(
            ToolCallCompleted(
                id=call_id,
                thread_id=thread_id,
                turn_id=turn_id,
                status="error" if failed else "ok",
                output=output,
                at=t,
            )
        )
        edited = edited or kind == "edit"
        t += timedelta(seconds=rng.uniform(0.3, 3))
    end = max(end, t + timedelta(seconds=rng.uniform(1, 5)))
    # The answer streams: a first chunk, then deltas.
    message_id = ids(end, "msg")
    answer = _ANSWER.format(file=rng.choice(_FILES))
    chunks = rng.randint(1, 4)
    step = max(1, len(answer) // chunks)
    parts = [answer[i : i + step] for i in range(0, len(answer), step)]
    msg_at = end - timedelta(seconds=0.2 * len(parts))
    yield emit(
        MessageAdded(
            id=message_id,
            thread_id=thread_id,
            turn_id=turn_id,
            role="assistant",
            text=parts[0],
            at=msg_at,
        )
    )
    for part in parts[1:]:
        msg_at += timedelta(seconds=0.2)
        yield emit(
            MessageDelta(id=message_id, thread_id=thread_id, turn_id=turn_id, delta=part, at=msg_at)
        )
    if edited and rng.random() < 0.7:
        checkpoint_id = ids(end, "checkpoint")
        checkpoints.append(checkpoint_id)
        files = rng.randint(1, 6)
        yield emit(
            CheckpointCreated(
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
        )
    roll = rng.random()
    outcome = "success" if roll > 0.05 else ("interrupted" if roll > 0.02 else "error")
    usage = _usage(rng, profile, n_tools)
    cost = (
        usage.input_tokens * profile.usd_per_mtok_in
        + usage.cache_write_tokens * profile.usd_per_mtok_in * 1.25
        + usage.cache_read_tokens * profile.usd_per_mtok_cache_read
        + usage.output_tokens * profile.usd_per_mtok_out
    ) / 1e6
    yield emit(
        TurnCompleted(
            id=turn_id,
            thread_id=thread_id,
            outcome=outcome,
            error="model overloaded (529)" if outcome == "error" else None,
            usage=usage,
            cost_usd=round(cost, 6),
            cost_source="estimated",
            at=end + timedelta(milliseconds=rng.randint(5, 400)),
        )
    )


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


def _usage(rng: random.Random, profile: ModelProfile, n_tools: int) -> TokenUsage:
    calls = n_tools + 1
    cache_read = int(sum(rng.uniform(8_000, 60_000) for _ in range(calls)))
    output = int(_lognormal(rng, 350, 0.8) * calls)
    reasoning = int(output * rng.uniform(0.2, 0.6)) if profile.provider != "claude-code" else 0
    return TokenUsage(
        input_tokens=int(_lognormal(rng, 900, 0.9)) * calls,
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=int(_lognormal(rng, 2_500, 1.0)),
        reasoning_tokens=reasoning,
    )


def generate_log(
    path: str | os.PathLike[str] | EventStore,
    *,
    events: int = 10_000,
    seed: int = 0,
    batch_size: int = 1_000,
    projections: bool = True,
    progress: bool | None = None,
) -> int:
    """Append about ``events`` generated events to the log at ``path``; returns how many.

    Re-running with the same seed writes nothing new (ids are deterministic).
    """
    if isinstance(path, EventStore):
        store, owned = path, False
    else:
        store, owned = EventStore.open(path, projections=projections), True
    try:
        written = 0
        batch: list[NewEvent] = []
        with progress_bar(total=events, desc="generate", unit="ev", enabled=progress) as bar:
            for item in generate_events(events, seed=seed):
                batch.append(item)
                if len(batch) >= batch_size:
                    store.append_all(batch)
                    written += len(batch)
                    bar.update(len(batch))
                    batch = []
            if batch:
                store.append_all(batch)
                written += len(batch)
                bar.update(len(batch))
        return written
    finally:
        if owned:
            store.close()
