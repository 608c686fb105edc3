"""Codex rollouts derived from the real recordings, for the cases they do not show.

No public recording of a Codex child rollout, a 0.3x session with several prompts, or a
counter that goes down was found; these files are built from the real 0.40.0 and
0.125.0 rollouts in ``data/fixtures/codex`` the way the format notes describe those
cases (``docs/importers.md``, Codex). Each builder returns the records; the figures a
test expects are computed from them here, never from the importer.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data" / "fixtures" / "codex"
V040 = REAL / "agentcmd__rollout-2025-09-25T15-12-14-019982b8-3422-79e0-8b3b-05abaf4f3c3e.jsonl"
V0125 = (
    REAL / "codemie-code__rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl"
)
KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


def read(path: Path) -> list[dict]:
    """Every line of a rollout that is a JSON object."""
    out = []
    for text in path.read_text().splitlines():
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def write(records: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    return path


def sub(record: dict) -> str | None:
    payload = record.get("payload")
    return payload.get("type") if isinstance(payload, dict) else None


def is_token_count(record: dict) -> bool:
    return record.get("type") == "event_msg" and sub(record) == "token_count"


def total_of(record: dict) -> dict | None:
    info = record["payload"].get("info")
    return info.get("total_token_usage") if isinstance(info, dict) else None


def final_total(records: list[dict]) -> dict:
    """The last cumulative ``total_token_usage`` of records whose counter never goes down."""
    totals = [t for r in records if is_token_count(r) and (t := total_of(r))]
    return totals[-1] if totals else dict.fromkeys(KEYS, 0)


def as_columns(total: dict) -> dict[str, int]:
    """A Codex usage block as ``model_calls_df`` columns (cached split out, reasoning in output)."""
    return {
        "input_tokens": total.get("input_tokens", 0) - total.get("cached_input_tokens", 0),
        "cache_read_tokens": total.get("cached_input_tokens", 0),
        "output_tokens": total.get("output_tokens", 0),
        "reasoning_tokens": total.get("reasoning_output_tokens", 0),
        "cache_write_tokens": 0,
    }


def plus(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in KEYS}


def minus(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) - b.get(k, 0) for k in KEYS}


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def at_of(record: dict) -> datetime:
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))


def uuid7(at: datetime, tail: int) -> str:
    """A UUIDv7 text for ``at`` (its millisecond), with ``tail`` as the random bits."""
    ms = int(at.timestamp() * 1000)
    head = f"{ms:012x}"
    rest = f"{tail:020x}"[-20:]
    return f"{head[:8]}-{head[8:]}-7{rest[:3]}-8{rest[3:6]}-{rest[6:18]}"


def token_count(at: datetime, total: dict, last: dict | None = None) -> dict:
    info = {"total_token_usage": total, "last_token_usage": last or total}
    return {
        "timestamp": stamp(at),
        "type": "event_msg",
        "payload": {"type": "token_count", "info": info},
    }


# --------------------------------------------------------------------------- 0.3x


def old_style_several_prompts() -> tuple[list[dict], list[int]]:
    """The 0.40.0 rollout as a 0.36 session (no ``source``, no task events) in which the
    user sent two more prompts; returns the records and the indices of the prompts."""
    records = copy.deepcopy(read(V040))
    meta = records[0]["payload"]
    meta["cli_version"], meta["originator"] = "0.36.0", "codex_cli_rs"
    contexts = [i for i, r in enumerate(records) if r["type"] == "turn_context"]
    out: list[dict] = []
    prompts: list[int] = []
    inserts = {contexts[8]: "Now check the services package", contexts[20]: "And the README"}
    for i, record in enumerate(records):
        if i in inserts:
            at = stamp(at_of(record))
            text = inserts[i]
            content = [{"type": "input_text", "text": text}]
            prompts.append(len(out))
            out.append(
                {
                    "timestamp": at,
                    "type": "response_item",
                    "payload": {"type": "message", "role": "user", "content": content},
                }
            )
            out.append(
                {
                    "timestamp": at,
                    "type": "event_msg",
                    "payload": {"type": "user_message", "message": text, "kind": "plain"},
                }
            )
        if record["type"] == "response_item" and sub(record) == "message":
            if record["payload"]["role"] == "user" and not record["payload"]["content"][0][
                "text"
            ].startswith("<"):
                prompts.insert(0, len(out))
        out.append(record)
    return out, sorted(prompts)


# --------------------------------------------------------------------------- counters


def counter_goes_down(kind: str) -> list[dict]:
    """The 0.40.0 rollout with its counter going down once after its 15th token_count.

    ``stale``: a copy of the 5th report (a lower total) is written again there, as
    out-of-order snapshots are. ``restart``: from there on the counter restarts from
    zero (a resumed process), so its first report equals its own ``last_token_usage``.
    Either way the tokens spent are the original file's final total.
    """
    records = copy.deepcopy(read(V040))
    counts = [i for i, r in enumerate(records) if is_token_count(r) and total_of(r)]
    pivot = counts[14]
    if kind == "stale":
        stale = copy.deepcopy(records[counts[4]])
        stale["timestamp"] = records[pivot]["timestamp"]
        return [*records[: pivot + 1], stale, *records[pivot + 1 :]]
    base = total_of(records[pivot])
    for n, i in enumerate(counts[15:]):
        info = records[i]["payload"]["info"]
        info["total_token_usage"] = minus(info["total_token_usage"], base)
        if n == 0:
            info["last_token_usage"] = dict(info["total_token_usage"])
    return records


def repeated_and_null_counts(path: Path) -> list[dict]:
    """Every ``token_count`` written twice, and an ``info: null`` report after each."""
    out = []
    for record in read(path):
        out.append(record)
        if is_token_count(record):
            out.append(copy.deepcopy(record))
            null = copy.deepcopy(record)
            null["payload"]["info"] = None
            out.append(null)
    return out


# --------------------------------------------------------------------------- children


def keep_forked(record: dict, full_history: bool) -> bool:
    """What a fork copies from its parent's rollout (the note's ``keep_forked_rollout_item``):
    system/developer/user messages, final answers, every event_msg, session_meta,
    compacted; turn contexts only for a full-history fork."""
    kind = record["type"]
    if kind in ("session_meta", "event_msg", "compacted"):
        return True
    if kind == "turn_context":
        return full_history
    payload = record["payload"]
    if payload.get("type") != "message":
        return False
    if payload.get("role") in ("system", "developer", "user"):
        return True
    return payload.get("role") == "assistant" and payload.get("phase") == "final_answer"


def child_rollout(
    kind: str, *, full_history: bool = False, restamp: bool = False, counter_from_zero: bool = False
) -> tuple[list[dict], dict, str]:
    """A child of the 0.125.0 session, and the usage it spent itself, and its id.

    ``kind``: ``spawn`` (a ``thread_spawn`` subagent with a fresh history), ``fork`` (a
    spawned subagent with ``forked_from_id``, whose file first copies the parent's
    history, token counts included) or ``review`` (a review subagent, forked). The
    child's own part replays the parent's first turn with new ids, its counter going
    on from the parent's final total (Codex seeds a fork's counter from the copied
    history), or from zero with ``counter_from_zero``. ``restamp`` gives the copied
    history the fork's time (some versions do), else it keeps the parent's.
    """
    parent = read(V0125)
    meta = parent[0]["payload"]
    parent_id = meta["id"]
    fork_at = at_of(parent[-1]) + timedelta(seconds=30)
    child_id = uuid7(fork_at, 0xC41D)
    source: object = {"subagent": "review"}
    if kind != "review":
        spawn = {"parent_thread_id": parent_id, "depth": 1, "agent_nickname": "Scout"}
        source = {"subagent": {"thread_spawn": {**spawn, "agent_role": "explorer"}}}
    child_meta = {
        **{k: meta[k] for k in ("cwd", "originator", "cli_version", "model_provider")},
        "id": child_id,
        "timestamp": stamp(fork_at),
        "source": source,
    }
    if kind != "spawn":
        child_meta["forked_from_id"] = parent_id
    records = [{"timestamp": stamp(fork_at), "type": "session_meta", "payload": child_meta}]
    if kind != "spawn":
        for record in parent:
            if keep_forked(record, full_history):
                copied = copy.deepcopy(record)
                if restamp:
                    copied["timestamp"] = stamp(fork_at)
                records.append(copied)
    inherited = final_total(parent) if kind != "spawn" and not counter_from_zero else None
    first_end = next(i for i, r in enumerate(parent) if sub(r) == "task_complete")
    own_turn = uuid7(fork_at + timedelta(seconds=1), 0x7E57)
    shift = fork_at + timedelta(seconds=2) - at_of(parent[1])
    text = json.dumps(parent[1 : first_end + 1])
    text = text.replace(parent[1]["payload"]["turn_id"], own_turn)
    text = re.sub(r'"call_(?!id")', '"call_child_', text)  # the calls' ids, not "call_id"
    for record in json.loads(text):
        record["timestamp"] = stamp(at_of(record) + shift)
        if is_token_count(record) and inherited is not None:
            info = record["payload"]["info"]
            info["total_token_usage"] = plus(info["total_token_usage"], inherited)
        records.append(record)
    own = final_total(parent[: first_end + 1])
    return records, own, child_id


def resumed_in_new_file() -> tuple[list[dict], dict]:
    """The 0.125.0 session resumed into a new file: its ``session_meta``, then its second
    turn on, the counter going on from the first turn's total (Codex seeds it from the
    history, which this file does not hold). Returns the records and the usage they
    show: the first report's own ``last_token_usage``, then the counter's moves."""
    records = read(V0125)
    second = [i for i, r in enumerate(records) if sub(r) == "task_started"][1]
    resumed = [records[0], *records[second:]]
    counts = [r for r in resumed if is_token_count(r)]
    first = counts[0]["payload"]["info"]
    spent = plus(first["last_token_usage"], minus(final_total(resumed), first["total_token_usage"]))
    return resumed, spent
