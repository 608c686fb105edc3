"""Randomized, deterministic event logs that exercise every replay rule.

``random_events(seed)`` returns catalog events (all 18 types) for a few projects and
threads whose activity is interleaved the way concurrent sessions are, plus the
irregular cases the rules in ``docs/semantics.md`` must survive:

- deltas before their MessageAdded, deltas for messages never added;
- second creations of projects, threads, turns, messages, tool calls, checkpoints
  (some in another thread);
- completions of turns and tool calls never started, or completed twice;
- a thread that is never created, and events of a thread before its creation;
- tool calls whose turn never starts, and tool calls created before their turn starts;
- events after a thread's or project's deletion; archive then delete and the reverse;
- several approvals of one call, approvals of unknown calls, negative approval waits;
- restored checkpoints (restored twice, restores of unknown checkpoints);
- settings changed several times, with values of every JSON type;
- model calls: restated with a higher revision later, a lower one later (ignored) and
  the same one (the later holds), restatements naming another thread or turn; calls
  before their turn starts, calls without a turn, calls of a turn that never starts,
  calls of an unknown thread; priced and unpriced calls in one turn (``partial``), costs
  whose sum depends on the order of addition, ids that sort differently by code point
  than by locale; turns with and without calls, completions whose usage disagrees with
  their calls; threads created with an empty model (they take their first call's);
  subagent threads naming the tool call that started them;
- non-ASCII text and ids, and floats (tiny, huge, -0.0) in tool inputs.

Timestamps come from a fixed base, never from the clock, and are not monotonic:
some events carry an ``at`` earlier than the event before them. The same seed
always gives the same list.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from eventkit import (
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
)

BASE = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
"""Every timestamp is this plus an offset drawn from the seed."""

TOOLS = (
    "Bash",
    "Read",
    "Edit",
    "Grep",
    "WebFetch",
    "TodoWrite",
    "exec_command",
    "apply_patch",
    "commandExecution",
    "mcp__github__create_issue",
    "bash",
)
TEXTS = (
    "fix the failing test",
    "Könnten Sie das prüfen?",
    "日本語のテキスト",
    "emoji 🙂🚀 and a combining e\u0301",
    'line\nbreak\tand "quotes" and \\ backslash',
    "صباح الخير",
    "separator\u2028inside",
    "",
)
DELTAS = (" and", " then", " ünïcödé", " 🙂", "\n", "", " 0.1+0.2")
CALL_KEYS = ("mc", "mC", "mé", "m🙂", "m_")
"""Model-call id parts: their code-point order is not a locale's (or a case-folded) one."""
CALL_COSTS = (None, 0.1, 0.2, 0.3, 1e-05, 1 / 3, 0.0, 2.5e-07)
"""Costs whose sums differ with the order they are added in."""
SETTING_VALUES = (
    "opus",
    42,
    1e-05,
    -0.0,
    True,
    None,
    ["a", 1.5, {"ж": None}],
    {"theme": "dark", "size": 1.25e22, "ratio": 0.30000000000000004},
)


class _Log:
    """Events in the making, with a clock that mostly runs forward."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.clock = BASE
        self.events: list[Event] = []

    def at(self) -> datetime:
        self.clock += timedelta(microseconds=self.rng.randint(1, 4_000_000))
        if self.rng.random() < 0.12:  # a clock that disagrees: earlier than the last event
            return self.clock - timedelta(microseconds=self.rng.randint(1, 9_000_000))
        return self.clock

    def usage(self, cap: int = 10**6) -> TokenUsage:
        rng = self.rng
        output_tokens = rng.randint(0, cap // 200)
        return TokenUsage(
            input_tokens=rng.randint(0, cap),
            output_tokens=output_tokens,
            cache_read_tokens=rng.randint(0, cap * 10),
            cache_write_tokens=rng.randint(0, cap // 10),
            reasoning_tokens=rng.randint(0, output_tokens),
        )

    def model_call(
        self, call_id: str, thread_id: str, turn_id: str | None, revision: int = 1
    ) -> ModelCallCompleted:
        rng = self.rng
        at = self.at()
        requested = at - timedelta(microseconds=rng.randint(-500_000, 30_000_000))
        cost = rng.choice(CALL_COSTS)
        return ModelCallCompleted(
            id=call_id,
            thread_id=thread_id,
            turn_id=turn_id,
            model=rng.choice((None, "opus", "gpt-5", "sonnet", "")),
            usage=self.usage(rng.choice((10**3, 10**5))),
            cost_usd=cost,
            cost_source=rng.choice((None, "recorded", "estimated", "estimated")),
            requested_at=rng.choice((None, requested)),
            stop_reason=rng.choice((None, "end_turn", "tool_use", "max_tokens")),
            revision=revision,
            at=at,
        )

    def tool_input(self) -> dict:
        rng = self.rng
        return {
            "command": rng.choice(("pytest -q", "ls -la /tmp/δοκιμή", "grep -rn 'naïve' .")),
            "timeout": rng.choice((120, 12.5, 0.1, 1e-05, 1.5e-07, 1e16, 1.7976931348623157e308)),
            "offset": rng.choice((-0.0, 0.0, 3, -7.25)),
            "path": rng.choice(("/src/файл.py", "C:\\Users\\zoë\\notes.md", "/tmp/🙂.txt")),
            "options": {"flags": [rng.random(), "ü", None, True], "depth": rng.randint(0, 9)},
        }


def _thread_script(
    log: _Log,
    key: str,
    project_id: str,
    parent_id: str | None,
    max_turns: int,
    anomalies: bool,
    everything: bool,
) -> Iterator[Event]:
    """One thread's events in its own order; the caller interleaves threads."""
    rng = log.rng
    tid = f"th-{key}"

    def chance(p: float) -> bool:
        return anomalies and (everything or rng.random() < p)

    too_early = chance(0.3)
    if too_early:  # before the thread exists: all ignored
        yield ThreadRenamed(id=tid, title="too early", at=log.at())
        yield TurnStarted(id=f"{tid}.early", thread_id=tid, at=log.at())
        yield MessageAdded(id=f"{tid}.early-msg", thread_id=tid, role="user", text="x", at=log.at())
        yield log.model_call(f"{tid}.early-mc", tid, None, revision=3)
    yield ThreadCreated(
        id=tid,
        project_id=project_id,
        title=rng.choice(("Refactor parser", "Débogage", "テスト")),
        provider=rng.choice(("claude-code", "codex", "t3code")),
        # An empty model: the thread takes its first model call's that names one.
        model=rng.choice(("opus", "gpt-5", "sonnet", "")) if not everything else "",
        parent_thread_id=parent_id,
        parent_tool_call_id=parent_id and f"{parent_id}.u1.c0",
        at=log.at(),
    )
    if too_early:  # a restatement once the thread exists creates the call, at revision 1
        yield log.model_call(f"{tid}.early-mc", tid, None, revision=1)
    if chance(0.3):
        yield ThreadCreated(
            id=tid, project_id="elsewhere", title="dup", provider="x", model="y", at=log.at()
        )

    deleted = False
    restate: list[ModelCallCompleted] = []  # restatements, emitted a little later
    n_turns = rng.randint(1, max_turns)
    if everything:  # room for an archive and a deletion with turns after them
        n_turns = max(n_turns, 3)
    for n in range(1, n_turns + 1):
        turn = f"{tid}.u{n}"
        early_call = f"{turn}.early-call" if chance(0.2) else None
        if early_call:  # created (maybe failed) before its turn starts: the turn counts it
            yield ToolCallStarted(
                id=early_call,
                thread_id=tid,
                turn_id=turn,
                tool=rng.choice(TOOLS),
                input=log.tool_input(),
                at=log.at(),
            )
            if rng.random() < 0.5:
                yield ToolCallCompleted(
                    id=early_call,
                    thread_id=tid,
                    turn_id=turn,
                    status=rng.choice(("error", "denied")),
                    output="failed early",
                    at=log.at(),
                )
        if chance(0.2) or (everything and n == 1):  # spent before its turn starts: counted
            yield log.model_call(f"{turn}.mc-early", tid, turn, revision=rng.randint(1, 2))
        if chance(0.15):  # completion before the start: ignored, the turn stays running
            yield TurnCompleted(id=turn, thread_id=tid, outcome="error", error="early", at=log.at())
        yield TurnStarted(
            id=turn, thread_id=tid, model=rng.choice((None, "opus", "gpt-5")), at=log.at()
        )
        if chance(0.15):
            yield TurnStarted(id=turn, thread_id=tid, model="duplicate", at=log.at())
        yield MessageAdded(
            id=f"{turn}.m0",
            thread_id=tid,
            turn_id=rng.choice((turn, None)),
            role=rng.choice(("user", "system")),
            text=rng.choice(TEXTS),
            at=log.at(),
        )
        reply = f"{turn}.m1"
        if chance(0.3):  # a delta before its MessageAdded: ignored
            yield MessageDelta(id=reply, thread_id=tid, turn_id=turn, delta="LOST", at=log.at())
        yield MessageAdded(
            id=reply,
            thread_id=tid,
            turn_id=turn,
            role="assistant",
            text=rng.choice(TEXTS),
            at=log.at(),
        )
        for _ in range(rng.randint(0, 5)):
            yield MessageDelta(
                id=reply, thread_id=tid, turn_id=turn, delta=rng.choice(DELTAS), at=log.at()
            )
        if chance(0.2):  # the same message id again, even from another thread: ignored
            yield MessageAdded(
                id=reply, thread_id=parent_id or tid, role="user", text="second", at=log.at()
            )
        if chance(0.15):
            yield MessageDelta(id=f"{turn}.never", thread_id=tid, delta="?", at=log.at())

        calls = [f"{turn}.c{c}" for c in range(rng.randint(0, 3))]
        if everything:
            calls.append(f"{turn}.c-forced")
        for call in calls:
            ghost_turn = chance(0.1)
            call_turn = f"{turn}.ghost" if ghost_turn else turn
            yield ToolCallStarted(
                id=call,
                thread_id=tid,
                turn_id=call_turn,
                tool=rng.choice(TOOLS),
                input=log.tool_input(),
                at=log.at(),
            )
            if chance(0.1):
                yield ToolCallStarted(
                    id=call, thread_id=tid, turn_id=turn, tool="Dup", input={}, at=log.at()
                )
            for _ in range(rng.choice((0, 0, 1, 1, 2, 3)) if not everything else 2):
                at = log.at()
                waited = timedelta(microseconds=rng.randint(-2_000_000, 60_000_000))
                yield ApprovalResolved(
                    id=f"{call}.a{rng.randint(0, 10**6)}",
                    thread_id=tid,
                    turn_id=call_turn,
                    tool_call_id=call,
                    decision=rng.choice(("accepted", "declined", "cancelled")),
                    requested_at=at - waited,
                    at=at,
                )
            if rng.random() < 0.85 or everything:
                status = rng.choice(("ok", "ok", "error", "denied"))
                yield ToolCallCompleted(
                    id=call,
                    thread_id=tid,
                    turn_id=call_turn,
                    status=status,
                    output=rng.choice(TEXTS),
                    at=log.at(),
                )
                if chance(0.15):  # a second completion: ignored
                    yield ToolCallCompleted(
                        id=call, thread_id=tid, turn_id=turn, status="ok", output="", at=log.at()
                    )
        # Model calls: none in some turns (their completion's usage counts), up to four
        # in others, restated later with a higher, the same or a lower revision.
        n_calls = rng.choice((0, 0, 1, 2, 3, 4)) if not everything else 4
        for k in range(n_calls):
            call_id = f"{turn}.{rng.choice(CALL_KEYS)}{k}"
            revision = rng.choice((1, 1, 1, 2, 3))
            if everything:
                revision = 2
            call_turn = turn
            if chance(0.08):
                call_turn = None  # a call outside any turn
            elif chance(0.06):
                call_turn = f"{turn}.never-started"  # a turn that never starts
            first = log.model_call(call_id, tid, call_turn, revision)
            yield first
            if rng.random() < 0.35 or everything:
                later = rng.choice((revision + 1, revision, max(1, revision - 1)))
                if everything:
                    later = (revision + 1, revision, revision - 1, revision + 2)[k]
                stated = log.model_call(call_id, tid, call_turn, later)
                if chance(0.1):  # naming another turn or thread: applied to the rest only
                    other = rng.choice(("turn", "thread"))
                    stated = stated.model_copy(
                        update={"turn_id": f"{turn}.other"}
                        if other == "turn"
                        else {"thread_id": parent_id or f"{tid}-elsewhere"}
                    )
                restate.append(stated)
        while restate and rng.random() < 0.5:
            yield restate.pop(0)
        if early_call:  # a no-op when it already completed before the turn started
            yield ToolCallCompleted(
                id=early_call,
                thread_id=tid,
                turn_id=turn,
                status="error",
                output="late error",
                at=log.at(),
            )
        if chance(0.15):
            yield ToolCallCompleted(
                id=f"{turn}.never-started",
                thread_id=tid,
                turn_id=turn,
                status="error",
                output="",
                at=log.at(),
            )
            yield ApprovalResolved(
                id=f"{turn}.orphan-approval",
                thread_id=tid,
                turn_id=turn,
                tool_call_id=f"{turn}.never-started",
                decision="accepted",
                requested_at=log.at(),
                at=log.at(),
            )

        if rng.random() < 0.8 or everything:
            outcome = rng.choice(("success", "success", "error", "interrupted"))
            # Writers that record model calls leave the completion's usage at zero; some
            # here do not (the calls' sums hold; the audit reports the difference).
            zero = n_calls and rng.random() < 0.6
            yield TurnCompleted(
                id=turn,
                thread_id=tid,
                outcome=outcome,
                error="tool failed: ✗" if outcome == "error" else None,
                usage=TokenUsage() if zero else log.usage(),
                cost_usd=None if zero else rng.choice((None, 0.0, round(rng.uniform(0, 3), 6))),
                cost_source=None if zero else rng.choice((None, "recorded", "estimated")),
                at=log.at(),
            )
            if chance(0.15):
                yield TurnCompleted(
                    id=turn, thread_id=tid, outcome="interrupted", cost_usd=9.0, at=log.at()
                )
        if chance(0.1):
            yield TurnCompleted(id=f"{turn}.never", thread_id=tid, outcome="success", at=log.at())

        if rng.random() < 0.4 or everything:
            checkpoint = f"{turn}.cp"
            yield CheckpointCreated(
                id=checkpoint,
                thread_id=tid,
                turn_id=rng.choice((turn, None)),
                git_ref=f"refs/eventkit/{rng.getrandbits(40):010x}",
                message=rng.choice(("wip", "Änderungen", "修正")),
                files_changed=rng.randint(0, 30),
                additions=rng.randint(0, 900),
                deletions=rng.randint(0, 900),
                at=log.at(),
            )
            if chance(0.1):
                yield CheckpointCreated(
                    id=checkpoint,
                    thread_id=tid,
                    git_ref="dup",
                    message="dup",
                    files_changed=0,
                    additions=0,
                    deletions=0,
                    at=log.at(),
                )
            for _ in range(rng.choice((0, 1, 2)) if not everything else 2):
                yield CheckpointRestored(id=checkpoint, thread_id=tid, at=log.at())
        if chance(0.1):
            yield CheckpointRestored(id=f"{turn}.no-cp", thread_id=tid, at=log.at())

        if rng.random() < 0.2 or everything:
            yield ThreadRenamed(id=tid, title=f"{rng.choice(TEXTS)} #{n}", at=log.at())
        if rng.random() < 0.3 or everything:  # a restatement after the turn completed
            yield from restate[:1]
            del restate[:1]
        if not deleted and n >= 2 and (rng.random() < 0.15 or (everything and n == 2)):
            # Soft states in either order; the turns that follow are still applied.
            first, second = ThreadArchived, ThreadDeleted
            if rng.random() < 0.4 and not everything:
                first, second = second, first
            yield first(id=tid, at=log.at())
            if rng.random() < 0.7 or everything:
                yield second(id=tid, at=log.at())
            if chance(0.3):
                yield ThreadArchived(id=tid, at=log.at())
            deleted = True
    yield from restate  # the last restatements, after everything else
    if not deleted and rng.random() < 0.3:
        yield ThreadArchived(id=tid, at=log.at())


def _project_script(log: _Log, pid: str, anomalies: bool) -> Iterator[Event]:
    rng = log.rng
    if anomalies:
        yield ProjectRenamed(id=pid, name="before creation", at=log.at())
    yield ProjectCreated(id=pid, name=f"project {pid}", path=f"/src/{pid}", at=log.at())
    if anomalies:
        yield ProjectCreated(id=pid, name="duplicate", path="/elsewhere", at=log.at())
    for _ in range(rng.randint(1, 3)):
        yield ProjectRenamed(id=pid, name=rng.choice(TEXTS) or "renamed", at=log.at())
    if anomalies:
        yield ProjectDeleted(id=pid, at=log.at())
        yield ProjectRenamed(id=pid, name="after deletion", at=log.at())
        yield ProjectDeleted(id=pid, at=log.at())


def _settings_script(log: _Log) -> Iterator[Event]:
    rng = log.rng
    for _ in range(rng.randint(4, 10)):
        yield SettingChanged(
            key=rng.choice(("model.default", "approval.policy", "ui.théme")),
            value=rng.choice(SETTING_VALUES),
            at=log.at(),
        )


def _ghost_thread_script(log: _Log) -> Iterator[Event]:
    """Events of a thread that never exists: every one is ignored."""
    tid = "th-ghost"
    yield TurnStarted(id="ghost.u1", thread_id=tid, at=log.at())
    yield MessageAdded(id="ghost.m1", thread_id=tid, role="user", text="boo", at=log.at())
    yield MessageDelta(id="ghost.m1", thread_id=tid, delta="!", at=log.at())
    yield ToolCallStarted(
        id="ghost.c1", thread_id=tid, turn_id="ghost.u1", tool="Bash", input={}, at=log.at()
    )
    yield ToolCallCompleted(
        id="ghost.c1", thread_id=tid, turn_id="ghost.u1", status="error", output="", at=log.at()
    )
    yield TurnCompleted(id="ghost.u1", thread_id=tid, outcome="success", at=log.at())
    yield log.model_call("ghost.mc1", tid, "ghost.u1")
    yield log.model_call("ghost.mc1", tid, "ghost.u1", revision=2)
    yield CheckpointCreated(
        id="ghost.cp",
        thread_id=tid,
        git_ref="x",
        message="x",
        files_changed=1,
        additions=1,
        deletions=1,
        at=log.at(),
    )
    yield CheckpointRestored(id="ghost.cp", thread_id=tid, at=log.at())
    yield ThreadRenamed(id=tid, title="ghost", at=log.at())
    yield ThreadArchived(id=tid, at=log.at())
    yield ThreadDeleted(id=tid, at=log.at())


def random_events(
    seed: int, n_threads: int = 6, *, max_turns: int = 5, anomalies: bool = True
) -> list[Event]:
    """A deterministic random log of catalog events; see the module docstring.

    ``anomalies=False`` leaves out the irregular cases (a well-formed log, though
    still with interleaved threads and clocks that disagree). With anomalies on,
    every one of the 18 event types occurs, whatever the seed.
    """
    rng = random.Random(seed)
    log = _Log(rng)
    projects = ["proj-α", *(f"proj-{i}" for i in range(1, rng.randint(2, 3)))]
    # Project streams first so threads mostly find their project; one thread refers
    # to a project that never exists, which the rules allow.
    scripts: list[Iterator[Event]] = [_project_script(log, pid, anomalies) for pid in projects]
    for script in scripts:
        log.events.append(next(script))
        if anomalies:
            log.events.append(next(script))
    scripts.append(_settings_script(log))
    for i in range(n_threads):
        project = "proj-missing" if anomalies and i == n_threads - 1 else rng.choice(projects)
        parent = f"th-{seed}-{rng.randrange(i)}" if i and rng.random() < 0.3 else None
        everything = anomalies and i == 0
        scripts.append(
            _thread_script(log, f"{seed}-{i}", project, parent, max_turns, anomalies, everything)
        )
    if anomalies:
        scripts.append(_ghost_thread_script(log))
    while scripts:
        script = rng.choice(scripts)
        event = next(script, None)
        if event is None:
            scripts.remove(script)
        else:
            log.events.append(event)
    return log.events


def random_batches(events: list[Event], seed: int, max_size: int = 40) -> list[list[Event]]:
    """Split ``events`` into consecutive batches of random sizes (1 to ``max_size``)."""
    rng = random.Random(seed)
    batches, start = [], 0
    while start < len(events):
        size = rng.randint(1, max_size)
        batches.append(events[start : start + size])
        start += size
    return batches


def model_call_cases() -> list[Event]:
    """A short log holding each model-call case of ``docs/semantics.md`` once, in order.

    Restatements with a higher revision later, a lower one later and the same one; a
    call before its turn starts, one without a turn, one of a turn that never starts,
    one before its thread exists (restated after it); priced, unpriced and estimated
    calls in one turn (``partial``); a turn without calls (its completion's usage
    counts) and a running turn with calls; a thread created with an empty model, and a
    subagent thread with the tool call that started it. Every prefix is a case for
    ``as_of``.
    """
    at = BASE

    def tick(seconds: float = 1.0) -> datetime:
        nonlocal at
        at += timedelta(seconds=seconds)
        return at

    def call(call_id, turn, tokens, *, revision=1, cost=None, source=None, model=None, thread="t"):
        stamp = tick()
        return ModelCallCompleted(
            id=call_id,
            thread_id=thread,
            turn_id=turn,
            model=model,
            usage=TokenUsage(
                input_tokens=tokens,
                output_tokens=tokens // 4,
                cache_read_tokens=tokens * 10,
                cache_write_tokens=tokens // 2,
                reasoning_tokens=tokens // 8,
            ),
            cost_usd=cost,
            cost_source=source,
            requested_at=stamp - timedelta(milliseconds=tokens),
            stop_reason="tool_use",
            revision=revision,
            at=stamp,
        )

    usage = TokenUsage(input_tokens=1000, output_tokens=50, cache_read_tokens=7)
    return [
        call("before-thread", None, 9, revision=2, model="opus"),
        ProjectCreated(id="p", name="demo", path="/src/demo", at=tick()),
        ThreadCreated(id="t", project_id="p", title="calls", provider="claude-code", model="",
                      at=tick()),
        call("u1.early", "u1", 40, cost=0.3, source="recorded"),
        TurnStarted(id="u1", thread_id="t", at=tick()),
        call("u1.b", "u1", 100, revision=2, cost=0.2, source="recorded", model="opus"),
        call("u1.a", "u1", 80, cost=0.1, source="estimated", model="sonnet"),
        call("u1.b", "u1", 120, revision=3, cost=0.25, source="recorded", model="opus"),
        call("u1.b", "u1", 999, revision=1, cost=9.0, source="recorded"),  # lower: ignored
        call("u1.a", "u1", 90, revision=1, cost=0.1, source="estimated"),  # same: holds
        call("loose", None, 30, cost=0.05, source="recorded", model="haiku"),
        call("u1.ghost", "never-started", 20, cost=0.01, source="recorded"),
        TurnCompleted(id="u1", thread_id="t", outcome="success", at=tick()),
        call("u1.late", "u1", 10),  # unpriced, after the completion: partial
        call("before-thread", "u1", 5, revision=1),  # the thread exists now: created
        TurnStarted(id="u2", thread_id="t", at=tick()),
        TurnCompleted(id="u2", thread_id="t", outcome="error", usage=usage, cost_usd=0.5,
                      cost_source="recorded", at=tick()),  # no calls: its usage counts
        ThreadCreated(id="sub", project_id="p", title="subagent", provider="claude-code",
                      model="haiku", parent_thread_id="t", parent_tool_call_id="toolu_task",
                      at=tick()),
        TurnStarted(id="s1", thread_id="sub", at=tick()),
        call("s1.a", "s1", 60, cost=0.02, source="estimated", thread="sub"),
        call("s1.a", "s1", 70, revision=2, cost=0.03, source="estimated", thread="sub"),
    ]  # fmt: skip
