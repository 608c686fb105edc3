"""Projection tables kept in step with the log (placeholder; being built)."""

from __future__ import annotations


def apply(conn, events) -> None:  # noqa: ANN001
    return None


def catch_up(conn) -> int:  # noqa: ANN001
    return 0


def rebuild_projections(conn) -> int:  # noqa: ANN001
    return 0
