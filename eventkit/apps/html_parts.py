"""Small pieces of the static HTML pages: escaping, figures for people, folded text, the page.

Every text that comes from a transcript goes through :func:`esc` (``html.escape``,
quotes included), or through :func:`markdown`: markdown-it-py (CommonMark) with raw
HTML disabled, so HTML in the text is escaped, and with images and links off, so the
page never fetches or points anywhere. Pages are self-contained: inline CSS, no script,
nothing loaded over the network.
"""

from __future__ import annotations

import functools
import html
import math
import numbers
from datetime import datetime

import pandas as pd

PREVIEW_LINES = 12
"""A text longer than this many lines (or :data:`PREVIEW_CHARS`) is folded after them."""
PREVIEW_CHARS = 1_500


def esc(value: object) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape("" if missing(value) else str(value), quote=True)


def missing(value: object) -> bool:
    """Whether ``value`` is None, NA or NaN (and not a container)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def number(value: object) -> str:
    """A count with thousands separators; ``—`` when missing."""
    return "—" if missing(value) else f"{int(value):,}"


def money(value: object) -> str:
    """A cost in USD: four decimals below one dollar, two from there; ``—`` when missing."""
    if missing(value):
        return "—"
    value = float(value)
    return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


def percent(value: object) -> str:
    return "—" if missing(value) else f"{float(value) * 100:.1f}%"


def duration(ms: object) -> str:
    """Milliseconds for people: ``850 ms``, ``4.2 s``, ``3 min 04 s``, ``2 h 05 min``, ``3 d 4 h``.

    ``—`` when missing."""
    if missing(ms) or (isinstance(ms, float) and math.isnan(ms)):
        return "—"
    ms = float(ms)
    if ms < 1_000:
        return f"{ms:.0f} ms"
    seconds = ms / 1_000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def stamp(value: object, *, with_date: bool = True) -> str:
    """A UTC time for people: ``2025-03-03 09:07:53 UTC`` (or ``09:07:53``)."""
    if missing(value):
        return "—"
    moment = pd.Timestamp(value)
    if moment.tzinfo is not None:
        moment = moment.tz_convert("UTC")
    text = moment.strftime("%Y-%m-%d %H:%M:%S") if with_date else moment.strftime("%H:%M:%S")
    return f"{text} UTC" if with_date else text


def folded(text: object, *, css: str = "text") -> str:
    """``text`` escaped in a pre-wrapped block; a long one shows its start and folds the rest.

    The rest sits in a ``<details>`` element (expandable without script), labelled with
    how much it holds.
    """
    text = "" if missing(text) else str(text)
    lines = text.split("\n")
    if len(lines) <= PREVIEW_LINES and len(text) <= PREVIEW_CHARS:
        return f'<pre class="{css}">{esc(text)}</pre>'
    head = "\n".join(lines[:PREVIEW_LINES])
    if len(head) > PREVIEW_CHARS:
        head = head[:PREVIEW_CHARS]
    rest = text[len(head) :]
    more_lines = rest.count("\n")
    label = f"show the rest: {more_lines:,} more line(s), {len(rest):,} more character(s)"
    return (
        f'<pre class="{css} head">{esc(head)}</pre>'
        f'<details class="more"><summary>{esc(label)}</summary>'
        f'<pre class="{css} tail">{esc(rest)}</pre></details>'
    )


@functools.cache
def _markdown_parser():
    from markdown_it import MarkdownIt

    # html=False escapes raw HTML; no images (they would load) and no links.
    return MarkdownIt("commonmark", {"html": False}).disable(["image", "link", "autolink"])


def markdown(text: object) -> str:
    """``text`` rendered from markdown, raw HTML escaped; a long one folded after its start.

    The start is shown as plain escaped text; the whole message, rendered, is in a
    ``<details>`` element.
    """
    text = "" if missing(text) else str(text)
    rendered = f'<div class="md">{_markdown_parser().render(text)}</div>'
    lines = text.split("\n")
    if len(lines) <= PREVIEW_LINES * 2 and len(text) <= PREVIEW_CHARS * 2:
        return rendered
    head = "\n".join(lines[:PREVIEW_LINES])[:PREVIEW_CHARS]
    label = f"show the whole message: {len(lines):,} line(s), {len(text):,} character(s)"
    return (
        f'<pre class="text head">{esc(head)}</pre>'
        f'<details class="more"><summary>{esc(label)}</summary>{rendered}</details>'
    )


def table(frame: pd.DataFrame, formats: dict[str, object] | None = None) -> str:
    """An escaped HTML table of ``frame``; ``formats`` maps a column to a function of a value.

    A column's values may be pre-rendered HTML when its format returns
    :class:`Markup`; everything else is escaped.
    """
    formats = formats or {}
    head = "".join(f"<th>{esc(column)}</th>" for column in frame.columns)
    rows = []
    for values in frame.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(frame.columns, values, strict=True):
            shown = value if isinstance(value, Markup) else formats.get(column, _plain)(value)
            numeric = isinstance(value, numbers.Real) and not isinstance(value, bool)
            long = len(shown) > 40  # long text may wrap; short cells stay on one line
            klass = ' class="num"' if numeric else ("" if long else ' class="short"')
            cells.append(f"<td{klass}>{shown if isinstance(shown, Markup) else esc(shown)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        rows.append(f'<tr><td colspan="{len(frame.columns)}" class="none">none</td></tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


class Markup(str):
    """HTML made here from escaped parts, placed in a table as it is."""


def link(href: str, text: object) -> Markup:
    """A relative link (``href`` is a path made here, escaped as an attribute)."""
    return Markup(f'<a href="{esc(href)}">{esc(text)}</a>')


def _plain(value: object) -> str:
    if missing(value):
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        value = float(value)
        return f"{value:,.3f}" if abs(value) < 1_000 else f"{value:,.0f}"
    if isinstance(value, datetime | pd.Timestamp):
        return stamp(value)
    return str(value)


def card(key: str, value: object, detail: str = "") -> str:
    """A headline figure: its name, its value, and a line of detail under it."""
    extra = f'<div class="d">{esc(detail)}</div>' if detail else ""
    return (
        f'<div class="card"><div class="k">{esc(key)}</div>'
        f'<div class="v">{esc(value)}</div>{extra}</div>'
    )


def document(title: str, css: str, body: str) -> str:
    """A whole HTML page: UTF-8, inline CSS, no script, nothing fetched."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{css}</style></head>"
        f"<body>{body}</body></html>\n"
    )


BASE_CSS = """
body { margin: 0; background: #f6f7f9; color: #1d2330;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
.page { max-width: 1100px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 24px; margin: 0 0 6px; line-height: 1.25; word-break: break-word; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #d8dce3; }
h3 { font-size: 16px; margin: 20px 0 8px; }
.sub { color: #5b6475; margin: 0 0 16px; word-break: break-all; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px; }
.card { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 10px 12px; }
.card .k { color: #5b6475; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 18px; font-weight: 600; margin-top: 2px; word-break: break-word; }
.card .d { color: #5b6475; font-size: 12px; margin-top: 2px; }
table { border-collapse: collapse; background: #fff; border: 1px solid #dde1e8; margin: 6px 0 14px;
  font-size: 14px; }
th, td { padding: 6px 10px; border-bottom: 1px solid #e8ebf0; text-align: left;
  vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
td.short { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.none { color: #7a8293; font-style: italic; }
a { color: #1f5fbf; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word;
  font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
details.more > summary { cursor: pointer; color: #1f5fbf; font-size: 13px; margin: 2px 0; }
.note { color: #5b6475; font-size: 13px; }
.md > :first-child { margin-top: 0; }
.md > :last-child { margin-bottom: 0; }
.md p, .md ul, .md ol, .md pre, .md blockquote { margin: 0 0 8px; }
.md h1, .md h2, .md h3, .md h4 { font-size: 15px; margin: 10px 0 6px; border: 0; padding: 0; }
.md pre { background: #eef0f3; padding: 6px 8px; border-radius: 4px; }
.md code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: #eef0f3; padding: 0 3px; border-radius: 3px; }
.md pre code { padding: 0; background: none; }
.md blockquote { border-left: 3px solid #c8cdd6; padding-left: 10px; color: #4a5262; }
.md table { font-size: 13px; }
"""


def scoped(css: str, scope: str) -> str:
    """``css`` with every selector placed inside ``scope`` (``body`` becomes ``scope``).

    For a page shown inside another (a notebook's output): its rules then style it alone.
    """
    rules = []
    for rule in css.split("}"):
        if "{" not in rule:
            continue
        selectors, body = rule.split("{", 1)
        names = []
        for selector in selectors.split(","):
            selector = selector.strip()
            names.append(scope if selector == "body" else f"{scope} {selector}")
        rules.append(f"{', '.join(names)} {{{body}}}")
    return "\n".join(rules)
