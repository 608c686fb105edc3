"""The report's figures: matplotlib charts rendered to inline PNG (``data:`` URIs).

Each function takes frames the report has already read and returns an ``<img>`` element
(or an empty string when there is nothing to draw). Matplotlib runs headless (Agg);
nothing is written to disk and nothing is fetched.
"""

from __future__ import annotations

import base64
import io

import pandas as pd

from eventkit.apps.html_parts import esc

WIDTH_IN = 10.5
DPI = 110
COLORS = ("#2f6fd6", "#e07b24", "#3a9d5d", "#c62828", "#8a6fd0", "#8c564b", "#d94f9b", "#6b7384")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 11,
            "axes.titlesize": 13,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "svg.hashsalt": "eventkit",
        }
    )
    return plt


def _img(fig, alt: str) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="plot" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def latency_by_model(turns: pd.DataFrame) -> str:
    """Box plots of completed turns' latency (seconds, log scale), one row per provider/model."""
    done = turns.dropna(subset=["duration_ms"])
    done = done[done["duration_ms"] > 0]
    if not len(done):
        return ""
    labels = done["provider"].astype(str) + " / " + done["model"].astype(str)
    groups = sorted(labels.unique())
    data = [done.loc[labels == g, "duration_ms"].astype(float) / 1000 for g in groups]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.2 + 0.45 * len(groups)))
    ax.boxplot(
        data,
        orientation="horizontal",
        tick_labels=[f"{g}  (n={len(d)})" for g, d in zip(groups, data, strict=True)],
        widths=0.6,
        showfliers=True,
        flierprops={"markersize": 3, "alpha": 0.5},
    )
    ax.set_xscale("log")
    ax.set_xlabel("turn latency (seconds, log scale)")
    ax.set_title("Turn latency by provider / model")
    ax.invert_yaxis()
    return _img(fig, "Turn latency by provider and model")


def cost_over_time(daily: pd.DataFrame) -> str:
    """Stacked bars of cost by provider per active day (per active week when there are
    more than 45 active days); days or weeks without spending are left out."""
    daily = daily.dropna(subset=["day"])
    if not len(daily) or not daily["cost_usd"].fillna(0).sum():
        return ""
    frame = daily.assign(day=pd.to_datetime(daily["day"].astype(str)))
    weekly = frame["day"].nunique() > 45
    key = frame["day"].dt.to_period("W-SUN").dt.start_time if weekly else frame["day"]
    table = (
        frame.assign(when=key, cost=frame["cost_usd"].astype(float).fillna(0))
        .pivot_table(index="when", columns="provider", values="cost", aggfunc="sum", fill_value=0)
        .sort_index()
    )
    table = table[table.sum(axis=1) > 0]
    labels = [f"{when:%Y-%m-%d}" for when in table.index]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.4))
    bottom = None
    positions = range(len(labels))
    for i, provider in enumerate(table.columns):
        values = table[provider].to_numpy()
        ax.bar(
            positions,
            values,
            width=0.75,
            bottom=bottom,
            label=str(provider),
            color=COLORS[i % len(COLORS)],
        )
        bottom = values if bottom is None else bottom + values
    step = max(1, len(labels) // 24)
    ax.set_xticks(list(positions)[::step], labels[::step], rotation=45, ha="right", fontsize=9)
    ax.set_ylabel("cost (USD)")
    unit = "week (weeks starting Monday)" if weekly else "day"
    ax.set_title(f"Cost per active {unit}, by provider (UTC)")
    ax.legend(fontsize="small", ncols=min(len(table.columns), 5))
    ax.grid(axis="x", visible=False)
    return _img(fig, "Cost over time by provider")


def tool_errors(by_category: pd.DataFrame) -> str:
    """Horizontal bars: the share of each tool category's calls that failed or were denied."""
    if not len(by_category):
        return ""
    share = (by_category["errors"] + by_category["denied"]) / by_category["calls"]
    frame = by_category.assign(share=share).sort_values(["share", "tool_category"])
    plt = _pyplot()
    from matplotlib.ticker import PercentFormatter

    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.2 + 0.4 * len(frame)))
    names = frame["tool_category"].astype(str)
    error = frame["errors"] / frame["calls"]
    denied = frame["denied"] / frame["calls"]
    ax.barh(names, error, color=COLORS[3], label="error")
    ax.barh(names, denied, left=error, color=COLORS[1], label="denied")
    for y, (e, d, n) in enumerate(zip(error, denied, frame["calls"], strict=True)):
        ax.text(e + d, y, f"  {e + d:.1%} of {n:,}", va="center", fontsize=9)
    ax.set_xlabel("share of the category's calls")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title("Tool calls that failed or were denied, by category")
    ax.legend(fontsize="small", loc="lower right")
    ax.set_xlim(0, max(0.05, float((error + denied).max()) * 1.35))
    return _img(fig, "Tool error rate by category")


def approval_waits(tools: pd.DataFrame) -> str:
    """Histogram of approval waits (seconds, log bins) by decision."""
    waits = tools.dropna(subset=["approval_wait_ms"])
    waits = waits[waits["approval_wait_ms"] > 0]
    if not len(waits):
        return ""
    import numpy as np

    seconds = waits["approval_wait_ms"].astype(float) / 1000
    bins = np.logspace(np.log10(seconds.min()), np.log10(seconds.max() * 1.01), 30)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.8))
    decisions = sorted(waits["approval_decision"].astype(str).unique())
    ax.hist(
        [seconds[waits["approval_decision"].astype(str) == d] for d in decisions],
        bins=bins,
        stacked=True,
        label=decisions,
        color=list(COLORS[: len(decisions)]),
    )
    ax.set_xscale("log")
    ax.set_xlabel("wait for approval (seconds, log scale)")
    ax.set_ylabel("tool calls")
    ax.set_title("How long approvals took, by decision")
    ax.legend(fontsize="small")
    return _img(fig, "Approval wait times")


__all__ = ["approval_waits", "cost_over_time", "latency_by_model", "tool_errors"]
