"""``search``: full-text hits in a log's messages, tool calls and thread titles, ranked.

A query is words and ``"quoted phrases"``; a hit holds every one of them (AND), each as
written, case-insensitively, anywhere in the text: ``Nav.tsx`` finds
``src/ui/Nav.tsx``, ``ERR_42:`` and ``foo-bar`` are searched as they are (no character
of a query is an operator), ``"failing test"`` finds those two words together, spaces
included, and a Chinese word finds itself. Terms of three characters or more are looked
up in the FTS5 trigram index (:mod:`eventkit.read.search_index`); shorter ones are
checked on the texts the index holds (``LIKE``: case-insensitive for ASCII only),
which takes a scan when no longer term narrows the search first.

Hits are ranked by bm25 (``score``, higher is better; 0 for a query of short terms
only), then by sequence.
"""

from __future__ import annotations

import numbers
import re
import unicodedata
from collections.abc import Sequence

import pandas as pd

from eventkit.errors import SearchQueryError
from eventkit.read.search_index import DELTA, INDEXED_TYPES, MESSAGE, open_index

COLUMNS = (
    "thread_id",
    "turn_id",
    "sequence",
    "event_type",
    "field",
    "snippet",
    "occurred_at",
    "score",
)
"""The columns of :func:`search`'s frame, in order."""

SEARCHABLE_TYPES = (*INDEXED_TYPES, DELTA)
"""What ``types=`` takes; ``MessageDelta`` names messages (a delta's text is in its message's)."""

MIN_INDEXED = 3
"""The trigram index finds terms of at least this many characters."""

MARK = ("«", "»")
SNIPPET_BEFORE = 40
SNIPPET_AFTER = 90
DEFAULT_LIMIT = 50


def parse_query(query: str) -> list[str]:
    """The terms of a query: ``"quoted phrases"`` and words, each searched as written.

    A ``"`` opens a phrase only at the start of a term and when a closing one follows;
    any other ``"`` is a character of its word.
    """
    if not isinstance(query, str):
        raise SearchQueryError(f"a search query is text, not {type(query).__name__}")
    terms: list[str] = []
    i, n = 0, len(query)
    while i < n:
        if query[i].isspace():
            i += 1
            continue
        if query[i] == '"':
            end = query.find('"', i + 1)
            if end > i:
                phrase = query[i + 1 : end].strip()
                if phrase:
                    terms.append(phrase)
                i = end + 1
                continue
        j = i
        while j < n and not query[j].isspace():
            j += 1
        terms.append(query[i:j])
        i = j
    if not terms:
        raise SearchQueryError(
            f'nothing to search for in {query!r}: give a word or a "quoted phrase"'
        )
    return terms


def _fts_string(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _types(types: str | Sequence[str] | None) -> list[str] | None:
    if types is None:
        return None
    wanted = [types] if isinstance(types, str) else list(types)
    if not wanted:
        raise SearchQueryError(
            f"no event types to search: give one of {', '.join(SEARCHABLE_TYPES)}"
        )
    unknown = [t for t in wanted if t not in SEARCHABLE_TYPES]
    if unknown:
        raise SearchQueryError(
            f"cannot search event type(s) {', '.join(map(repr, unknown))}: "
            f"searchable are {', '.join(SEARCHABLE_TYPES)}"
        )
    return sorted({MESSAGE if t == DELTA else t for t in wanted})


def _width(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def snippet(text: str, terms: Sequence[str]) -> str:
    """The text around the first match, every match marked ``«…»``, on one line.

    About :data:`SNIPPET_BEFORE` columns before the match and :data:`SNIPPET_AFTER` from
    its start (wide characters, such as CJK, count two).
    """
    pattern = re.compile(
        "|".join(re.escape(t) for t in sorted(set(terms), key=len, reverse=True)), re.IGNORECASE
    )
    first = pattern.search(text)
    start = end = first.start() if first else 0
    width = 0
    while start > 0 and width < SNIPPET_BEFORE:
        start -= 1
        width += _width(text[start])
    width = 0
    while end < len(text) and (width < SNIPPET_AFTER or (first and end < first.end())):
        width += _width(text[end])
        end += 1
    marked = pattern.sub(lambda m: f"{MARK[0]}{m.group(0)}{MARK[1]}", text[start:end])
    marked = " ".join(marked.split())
    return ("…" if start > 0 else "") + marked + ("…" if end < len(text) else "")


def search(
    src: object,
    query: str,
    *,
    types: str | Sequence[str] | None = None,
    limit: int | None = DEFAULT_LIMIT,
) -> pd.DataFrame:
    """Full-text hits for ``query`` in the log ``src`` names, best first.

    Searched: message texts (deltas joined on), tool inputs and outputs, thread
    titles (see the module docstring for what a query matches). ``types``: event
    types to search (``MessageAdded``, ``ToolCallStarted``, ``ToolCallCompleted``,
    ``ThreadCreated``, ``ThreadRenamed``). ``limit``: at most this many hits (None: all).

    Returns a frame with :data:`COLUMNS`: the hit's thread and turn, the ``sequence``
    and ``event_type`` of the event that holds the text (a message's ``MessageAdded``),
    ``field``: the text it matched in (``user message``, ``assistant message``, ``tool input``,
    ``tool output``, ``tool error``, ``tool denied``, ``thread title``), a ``snippet``
    with the matches marked ``«…»``, ``occurred_at`` (UTC) and the bm25 ``score``.
    """
    terms = parse_query(query)
    wanted = _types(types)
    if limit is not None and (
        not isinstance(limit, numbers.Integral) or isinstance(limit, bool) or limit < 1
    ):
        raise SearchQueryError(f"limit must be a whole number of at least 1, not {limit!r}")
    indexed = [t for t in terms if len(t) >= MIN_INDEXED]
    short = [t for t in terms if len(t) < MIN_INDEXED]
    where, params = [], []
    if indexed:
        where.append("texts MATCH ?")
        params.append(" AND ".join(_fts_string(t) for t in indexed))
    for term in short:
        where.append("body LIKE ? ESCAPE '\\'")
        params.append(_like_pattern(term))
    if wanted is not None:
        where.append(f"event_type IN ({', '.join('?' for _ in wanted)})")
        params += wanted
    score = "-bm25(texts)" if indexed else "0.0"
    hits = (
        f"SELECT rowid AS sequence, {score} AS score FROM texts "
        f"WHERE {' AND '.join(where)} ORDER BY score DESC, rowid"
    )
    if limit is not None:
        hits += " LIMIT ?"
        params.append(int(limit))
    # Ranked first, then joined: only the hits' texts are read.
    sql = (
        f"WITH hits AS ({hits}) SELECT docs.thread_id, docs.turn_id, docs.sequence, "
        "docs.event_type, docs.field, texts.body, docs.occurred_at, hits.score FROM hits "
        "JOIN docs ON docs.sequence = hits.sequence JOIN texts ON texts.rowid = hits.sequence "
        "ORDER BY hits.score DESC, hits.sequence"
    )
    with open_index(src) as index:
        rows = index.conn.execute(sql, params).fetchall()
    return _frame([(*r[:5], snippet(r[5], terms), r[6], r[7]) for r in rows])


def _frame(rows: list[tuple]) -> pd.DataFrame:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(COLUMNS)
    data = dict(zip(COLUMNS, columns, strict=True))
    times = pd.to_datetime(pd.Series(data["occurred_at"], dtype=object), utc=True, format="ISO8601")
    frame = {
        **{c: pd.array(data[c], dtype="string") for c in ("thread_id", "turn_id", "event_type")},
        "sequence": pd.array(data["sequence"], dtype="Int64"),
        "field": pd.array(data["field"], dtype="string"),
        "snippet": pd.array(data["snippet"], dtype="string"),
        "occurred_at": times.astype("datetime64[us, UTC]").array,
        "score": pd.array(data["score"], dtype="float64"),
    }
    return pd.DataFrame({c: frame[c] for c in COLUMNS})


__all__ = ["COLUMNS", "DEFAULT_LIMIT", "SEARCHABLE_TYPES", "parse_query", "search", "snippet"]
