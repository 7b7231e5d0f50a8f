"""The evaluation as a picture: which model wins, by how much, and where.

Four panels, each on its own scale starting at 0, every bar labelled with its value:

1. ndcg@10 of every ranker with its 95% bootstrap interval;
2. ndcg@10 by segment of training history (none, 1-2, 3-10, 11+ titles);
3. catalogue coverage;
4. popularity rank of what is recommended (small = a bias to the popular).

Each ranker has its colour in every panel; the default model's bars have a thick
black edge and a bold label; the oracle (the ceiling, not a competitor) is hatched.
The figure's title gives the default model's ndcg@10 as a multiple of popularity's
and a share of the oracle's, with their intervals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recommender.evaluate import ORACLE, Evaluation
from recommender.metrics import SEGMENTS

#: One colour per ranker, the same in every panel: the family in matplotlib's "tab10"
#: colours, the baselines grey, the oracle white and hatched (the ceiling, not a competitor).
COLOURS = {
    "als": "#1f77b4",
    "bpr": "#9467bd",
    "item_knn": "#8c564b",
    "ease": "#2ca02c",
    "content": "#ff7f0e",
    "hybrid": "#d62728",
    "popularity": "#b0b0b0",
    "best_of": "#707070",
    ORACLE: "#ffffff",
}


def format_value(value: float | None) -> str:
    """A metric for a label: three significant digits, never in scientific notation."""
    if value is None:
        return "n/a"
    return np.format_float_positional(value, precision=3, fractional=False, trim="-")


def ratio_text(evaluation: Evaluation, model: str | None = None) -> str:
    """``hybrid ndcg@10 = 5.1× popularity (4.6-5.7), 61% of the oracle (57-65%)`` for
    ``model`` (default: :attr:`Evaluation.featured`); a part whose baseline is missing is
    left out."""
    model = model or evaluation.featured
    values = evaluation.models[model]
    parts = []
    popularity = values.get("vs_popularity")
    if popularity and popularity.get("value") is not None:
        ci = popularity.get("ci")
        parts.append(
            f"{popularity['value']:.1f}× popularity" + (f" ({ci[0]:.1f}-{ci[1]:.1f})" if ci else "")
        )
    oracle = values.get("vs_oracle")
    if oracle and oracle.get("value") is not None:
        ci = oracle.get("ci")
        parts.append(
            f"{oracle['value']:.0%} of the oracle" + (f" ({ci[0]:.0%}-{ci[1]:.0%})" if ci else "")
        )
    text = ", ".join(parts) if parts else format_value(values.get("ndcg@10"))
    return f"{model} ndcg@10 = {text}"


def _edges(evaluation: Evaluation, names: list[str]) -> dict[str, Any]:
    """The default model's bars get a thick black edge, the others a thin grey one."""
    default = [n == evaluation.default_model for n in names]
    return {
        "edgecolor": ["black" if d else "#444444" for d in default],
        "linewidth": [2.0 if d else 0.6 for d in default],
    }


#: The oracle's bar is cut (and marked so) when it is more than this many times the best
#: other ranker's: otherwise the ceiling sets the scale and the rankers that matter, and
#: the differences between them, shrink to slivers.
OFF_SCALE = 2.0


def _bars(ax: Any, evaluation: Evaluation, metric: str, *, interval: bool = False) -> None:
    names = [n for n in evaluation.rankers if evaluation.models[n].get(metric) is not None]
    values = [evaluation.models[n][metric] for n in names]
    others = [v for n, v in zip(names, values, strict=True) if n != ORACLE]
    highest = max(others, default=0.0)
    cut = (
        metric != "popularity_rank"
        and ORACLE in names
        and highest > 0
        and values[names.index(ORACLE)] > OFF_SCALE * highest
    )
    heights = list(values)
    if cut:
        heights[names.index(ORACLE)] = highest * 1.15
    positions = np.arange(len(names))
    bars = ax.bar(
        positions,
        heights,
        0.7,
        color=[COLOURS.get(n, "#17becf") for n in names],
        **_edges(evaluation, names),
    )
    if ORACLE in names:
        bars[names.index(ORACLE)].set_hatch("//")
    tops = list(heights)
    if interval:
        cis = [
            None if cut and n == ORACLE else evaluation.models[n].get("ndcg@10_ci") for n in names
        ]
        low = [v - ci[0] if ci else 0.0 for v, ci in zip(heights, cis, strict=True)]
        high = [ci[1] - v if ci else 0.0 for v, ci in zip(heights, cis, strict=True)]
        ax.errorbar(positions, heights, yerr=[low, high], fmt="none", ecolor="black", capsize=3)
        tops = [v + h for v, h in zip(heights, high, strict=True)]
    for position, name, value, top in zip(positions, names, values, tops, strict=True):
        label = f"{value:.0f}" if metric == "popularity_rank" else format_value(value)
        if cut and name == ORACLE:
            label += " (cut)"
        ax.annotate(
            label,
            (position, top),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            fontweight="bold" if name == evaluation.default_model else "normal",
            gid=f"value:{metric}:{name}",
        )
    ax.set_ylim(0, max(tops, default=1e-9) * 1.2 or 1e-9)
    ax.set_xticks(positions, names, fontsize=8, rotation=30, ha="right")
    ax.tick_params(axis="y", labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)


def _segments(ax: Any, evaluation: Evaluation) -> None:
    names = [n for n in evaluation.rankers if evaluation.models[n].get("ndcg@10") is not None]
    segments = [name for name, _, _ in SEGMENTS]
    width = 0.8 / max(len(names), 1)
    highest = 0.0
    for offset, name in enumerate(names):
        values = [evaluation.models[name]["segments"][s]["ndcg@10"] or 0.0 for s in segments]
        highest = max(highest, *values)
        positions = np.arange(len(segments)) - 0.4 + (offset + 0.5) * width
        bars = ax.bar(
            positions,
            values,
            width,
            label=name + (" (default)" if name == evaluation.default_model else ""),
            color=COLOURS.get(name, "#17becf"),
            edgecolor="black" if name == evaluation.default_model else "#444444",
            linewidth=1.5 if name == evaluation.default_model else 0.4,
        )
        if name == ORACLE:
            for bar in bars:
                bar.set_hatch("//")
    users = evaluation.models[names[0]]["segments"] if names else {}
    ax.set_xticks(
        np.arange(len(segments)),
        [f"{s}\n({users.get(s, {}).get('users', 0):,} users)" for s in segments],
        fontsize=8,
    )
    ax.set_ylim(0, max(highest, 1e-9) * 1.15)
    ax.tick_params(axis="y", labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, ncols=2, frameon=False)


def chart_figure(evaluation: Evaluation) -> Any:
    """The evaluation as a matplotlib Figure (the module docstring says what it shows).
    Close it with ``matplotlib.pyplot.close(figure)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        1, 4, figsize=(18, 5.2), gridspec_kw={"width_ratios": [1.2, 1.6, 1, 1]}
    )
    _bars(axes[0], evaluation, "ndcg@10", interval=True)
    axes[0].set_title("ndcg@10 (95% interval)", fontsize=10)
    _segments(axes[1], evaluation)
    axes[1].set_title("ndcg@10 by titles watched in training", fontsize=10)
    _bars(axes[2], evaluation, "coverage")
    axes[2].set_title("catalogue coverage", fontsize=10)
    _bars(axes[3], evaluation, "popularity_rank")
    axes[3].set_title("mean popularity rank recommended\n(small = popular)", fontsize=10)
    held = evaluation.holdout
    figure.suptitle(
        f"{ratio_text(evaluation)}\n"
        f"recdb evaluate: {held['test_users_evaluated']:,} test users "
        f"({held.get('cold_start_test_users', 0):,} without history), hold-out after "
        f"{held['cutoff']}; each panel has its own scale",
        fontsize=10,
    )
    figure.tight_layout()
    return figure


def chart(evaluation: Evaluation, path: Path) -> None:
    """Save :func:`chart_figure` as a PNG at ``path``."""
    figure = chart_figure(evaluation)  # chooses the Agg backend before pyplot loads
    import matplotlib.pyplot as plt

    try:
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
