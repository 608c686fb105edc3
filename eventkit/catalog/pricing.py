"""Estimated cost of agent turns, from a dated price table shipped with eventkit.

Logs rarely record what a turn cost. When one does not, the importers estimate it
from ``eventkit/catalog/prices.json``: standard-tier public list prices in USD per
million tokens for input, output, cache reads and cache writes, per model, with the
date they were read (:data:`PRICES_AS_OF`) and a source note per provider. Such a
cost is stored with ``cost_source="estimated"``; a model the table does not know
gets no cost, and the import report names it.

Model ids resolve to a table entry by exact id, then by alias, then with a date
suffix removed (``claude-sonnet-4-5-20250929`` → ``claude-sonnet-4-5``,
``gpt-5-mini-2025-08-07`` → ``gpt-5-mini``). Provider prefixes (``anthropic/``,
Bedrock's ``us.anthropic.`` and ``-v1:0``, Vertex's ``@20250929``) and Claude Code's
context-window tag (``[1m]``) are ignored. Nothing else is guessed: a family name
alone (``sonnet``) or a newer model (``gpt-5.5-mini``) is unknown, not priced as a
relative.

Arithmetic: ``(input × input + output × output + cache_read × cache_read +
cache_write × cache_write) / 1e6``, where output tokens include reasoning tokens.
Anthropic bills 1-hour cache writes at a higher rate than 5-minute ones; callers that
know how many of a turn's cache writes were 1-hour ones pass ``cache_write_1h_tokens``.
Results are rounded to 1e-9 USD so that every import computes the same value.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from eventkit.catalog.events import TokenUsage
from eventkit.errors import EventkitError

RATE_FIELDS = ("input", "output", "cache_read", "cache_write")
"""The four rates every model has, USD per million tokens."""

_DIGITS = 9
_DATE_SUFFIX = re.compile(r"(?:-\d{8}|-\d{4}-\d{2}-\d{2}|@\d{8})$")
_BEDROCK_PREFIX = re.compile(r"^(?:[a-z]{2,6}\.)?anthropic\.")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_CONTEXT_TAG = re.compile(r"\[[^\]]*\]$")


@dataclass(frozen=True)
class Price:
    """One model's list prices, USD per million tokens."""

    model: str
    """The table's id for the model (what an alias or dated id resolved to)."""
    provider: str
    input: float
    output: float
    cache_read: float
    cache_write: float
    """5-minute cache writes (Anthropic); the input price where writes cost nothing extra."""
    cache_write_1h: float | None = None
    """1-hour cache writes (Anthropic); None where the provider has no such tier."""

    def cost(self, usage: TokenUsage, *, cache_write_1h_tokens: int = 0) -> float:
        """The list-price cost of ``usage`` in USD, rounded to 1e-9.

        ``cache_write_1h_tokens`` is the part of ``usage.cache_write_tokens`` written
        to the 1-hour cache (priced at :attr:`cache_write_1h` when the model has it).
        """
        one_hour = min(max(cache_write_1h_tokens, 0), usage.cache_write_tokens)
        rate_1h = self.cache_write if self.cache_write_1h is None else self.cache_write_1h
        micro = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_tokens * self.cache_read
            + (usage.cache_write_tokens - one_hour) * self.cache_write
            + one_hour * rate_1h
        )
        return round(micro / 1_000_000, _DIGITS)


class PriceTable:
    """A dated price table: models, aliases, the date and the providers' source notes."""

    def __init__(self, data: dict[str, Any], origin: str = "price table"):
        self.origin = origin
        try:
            self.as_of: str = str(data["as_of"])
            self.providers: dict[str, dict[str, str]] = dict(data.get("providers") or {})
            self.prices: dict[str, Price] = {
                model.lower(): _price(model.lower(), entry)
                for model, entry in dict(data["models"]).items()
            }
            aliases = {
                str(k).lower(): str(v).lower() for k, v in (data.get("aliases") or {}).items()
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise EventkitError(f"{origin}: not a valid price table ({exc})") from exc
        missing = sorted(alias for alias, target in aliases.items() if target not in self.prices)
        if missing:
            raise EventkitError(f"{origin}: aliases to models it does not price: {missing}")
        self.aliases = aliases

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PriceTable:
        """A table from a JSON file of the same shape as ``eventkit/catalog/prices.json``."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EventkitError(f"cannot read price table {path}: {exc}") from exc
        return cls(data, str(path))

    def resolve(self, model: str | None) -> str | None:
        """The table id that ``model`` is priced as, or None if the table does not know it."""
        if not isinstance(model, str):
            return None
        name = model.strip().lower()
        name = _CONTEXT_TAG.sub("", name)
        name = name.rsplit("/", 1)[-1]  # anthropic/…, openai/…
        if _BEDROCK_PREFIX.match(name):
            name = _BEDROCK_VERSION.sub("", _BEDROCK_PREFIX.sub("", name))
        for candidate in (name, _DATE_SUFFIX.sub("", name)):
            if candidate in self.prices:
                return candidate
            if candidate in self.aliases:
                return self.aliases[candidate]
        return None

    def price_for(self, model: str | None) -> Price | None:
        """The prices of ``model`` (aliases and dated ids resolved), or None if unknown."""
        key = self.resolve(model)
        return self.prices[key] if key is not None else None

    def estimate_cost(
        self, model: str | None, usage: TokenUsage, *, cache_write_1h_tokens: int = 0
    ) -> float | None:
        """The list-price cost of ``usage`` on ``model`` in USD, or None for an unknown model."""
        price = self.price_for(model)
        if price is None:
            return None
        return price.cost(usage, cache_write_1h_tokens=cache_write_1h_tokens)


def _price(model: str, entry: dict[str, Any]) -> Price:
    rates = {}
    for name in (*RATE_FIELDS, "cache_write_1h"):
        value = entry.get(name)
        if value is None and name == "cache_write_1h":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{model}: {name} must be a non-negative number, not {value!r}")
        rates[name] = float(value)
    return Price(model=model, provider=str(entry.get("provider") or "unknown"), **rates)


def _default_table() -> PriceTable:
    source = resources.files("eventkit.catalog").joinpath("prices.json")
    return PriceTable(
        json.loads(source.read_text(encoding="utf-8")), "eventkit/catalog/prices.json"
    )


PRICES = _default_table()
"""The price table shipped with eventkit."""

PRICES_AS_OF: str = PRICES.as_of
"""The date (ISO) the shipped table's prices were read."""


def price_for(model: str | None) -> Price | None:
    """The shipped table's prices for ``model``, or None if it does not know the model."""
    return PRICES.price_for(model)


def estimate_cost(
    model: str | None, usage: TokenUsage, *, cache_write_1h_tokens: int = 0
) -> float | None:
    """Estimated USD cost of ``usage`` on ``model`` at list prices; None for unknown models."""
    return PRICES.estimate_cost(model, usage, cache_write_1h_tokens=cache_write_1h_tokens)


def known_models() -> list[str]:
    """The model ids the shipped table prices (aliases not included)."""
    return sorted(PRICES.prices)


__all__ = [
    "PRICES",
    "PRICES_AS_OF",
    "Price",
    "PriceTable",
    "estimate_cost",
    "known_models",
    "price_for",
]
