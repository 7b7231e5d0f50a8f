"""``recdb evaluate``: a time-based hold-out, four rankers, four metrics, a JSON and a chart.

The sessions are split at one moment: the latest ``evaluation.holdout_share``
of them (by start time) are the test period, the rest the training period.
Every ranker learns only from the training sessions and ranks, for each test
user, the titles that user had not watched in training:

* ``als``: the recommender itself (the same config, fitted on the training sessions);
* ``popularity``: titles by how many users watched them in training;
* ``best_of``: the cold-start list: all-time best, then year best, then the
  rest, each by training popularity;
* ``oracle``: the simulation's hidden utility (``simulation.TasteOracle``,
  handed in by the command line, from ``sim.user_tastes``): the best any
  ranker can do, the ceiling.

A test user watched something in training and something new in the test
period; their relevant titles are the ones first watched in the test period.
Metrics, averaged over test users (a seeded sample of at most
``evaluation.max_users``), for the top 10:

* ``precision@10`` = hits / 10;
* ``map@10`` = sum over ranks i of precision@i * hit_i, / min(relevant, 10);
* ``ndcg@10`` = sum of hit_i / log2(i + 1), / the same for a perfect list;
* ``coverage``: distinct titles recommended to the test users / catalogue size.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy import sparse

import python_api
from recommender.config import RecommenderConfig, as_config
from recommender.data import Dataset, Sessions, read_dataset
from recommender.errors import EmptyMartsError, RecommenderError
from recommender.model import cold_start_list, top_k
from recommender.pipeline import train

logger = logging.getLogger(__name__)

K = 10
MODELS = ("als", "popularity", "best_of", "oracle")
METRICS = ("precision@10", "map@10", "ndcg@10", "coverage")


@dataclass(frozen=True)
class Evaluation:
    """Metrics by model, and what the hold-out was made of."""

    models: dict[str, dict[str, float | None]]
    holdout: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"models": {...}, "holdout": {...}, "ratios": {...}, "seconds": {...}}``."""
        return {
            "models": self.models,
            "ratios": self.ratios(),
            "holdout": self.holdout,
            "seconds": {name: round(value, 3) for name, value in self.seconds.items()},
        }

    def ratios(self) -> dict[str, float | None]:
        """ALS's ndcg@10 over popularity's and over the oracle's."""
        als = self.models["als"]["ndcg@10"]

        def over(model: str) -> float | None:
            other = self.models[model]["ndcg@10"]
            return None if als is None or not other else round(als / other, 4)

        return {"als_ndcg_vs_popularity": over("popularity"), "als_ndcg_vs_oracle": over("oracle")}

    def table(self) -> str:
        """The metrics as a text table."""
        lines = [f"{'model':<12}" + "".join(f"{m:>14}" for m in METRICS)]
        for model in MODELS:
            values = self.models[model]
            cells = "".join(
                f"{'n/a':>14}" if values[m] is None else f"{values[m]:>14.4f}" for m in METRICS
            )
            lines.append(f"{model:<12}{cells}")
        ratios = self.ratios()
        notes = []
        if ratios["als_ndcg_vs_popularity"] is not None:
            notes.append(f"ALS ndcg@10 = {ratios['als_ndcg_vs_popularity']:.2f} x popularity")
        if ratios["als_ndcg_vs_oracle"] is not None:
            notes.append(f"{ratios['als_ndcg_vs_oracle']:.0%} of the oracle")
        if notes:
            lines.append(", ".join(notes))
        held = self.holdout
        lines.append(
            f"{held['test_users_evaluated']:,} test users; trained on "
            f"{held['train_sessions']:,} sessions before {held['cutoff']}, "
            f"tested on {held['test_sessions']:,} after"
        )
        return "\n".join(lines)


def ranking_metrics(
    top: np.ndarray, relevant: list[np.ndarray] | Any, title_count: int
) -> dict[str, float]:
    """precision@k, map@k, ndcg@k and coverage of ranked lists (rows of title indices).

    ``top`` is users x k (-1: no title); ``relevant[i]`` the relevant titles
    of row ``i`` (at least one each). Pure; the module docstring defines them.
    """
    users, k = top.shape
    counts = np.array([len(r) for r in relevant], dtype=np.int64)
    owners = np.repeat(np.arange(users, dtype=np.int64), counts)
    wanted = np.concatenate([np.asarray(r, dtype=np.int64) for r in relevant]) if users else []
    keys = np.sort(owners * (title_count + 1) + wanted)
    got = np.arange(users, dtype=np.int64)[:, None] * (title_count + 1) + top
    hits = np.isin(got, keys) & (top >= 0)
    ranks = np.arange(1, k + 1)
    discount = 1.0 / np.log2(ranks + 1)
    ideal_count = np.minimum(counts, k)
    precision = hits.sum(axis=1) / k
    average_precision = ((np.cumsum(hits, axis=1) / ranks) * hits).sum(axis=1) / ideal_count
    ideal = np.cumsum(discount)[ideal_count - 1]
    ndcg = (hits * discount).sum(axis=1) / ideal
    shown = np.unique(top[top >= 0])
    return {
        "precision@10" if k == K else f"precision@{k}": float(precision.mean()),
        "map@10" if k == K else f"map@{k}": float(average_precision.mean()),
        "ndcg@10" if k == K else f"ndcg@{k}": float(ndcg.mean()),
        "coverage": len(shown) / title_count,
    }


def split_sessions(sessions: Sessions, holdout_share: float) -> tuple[np.ndarray, Any]:
    """(mask of training sessions, the cutoff): the latest ``holdout_share`` are held out."""
    if sessions.started_at is None:
        raise RecommenderError("splitting by time needs the sessions' start times")
    times = sessions.started_at.astype("datetime64[us]").astype(np.int64)
    if not len(times):
        raise EmptyMartsError()
    cutoff = np.sort(times)[int(np.floor(len(times) * (1 - holdout_share)))]
    return times < cutoff, np.datetime64(int(cutoff), "us")


def _fixed_ranking(scores: np.ndarray, seen: sparse.csr_matrix, threads: int) -> np.ndarray:
    """Top K unseen titles when every user shares the title scores ``scores``."""
    users = np.ones((seen.shape[0], 1), dtype=np.float32)
    items = np.asarray(scores, dtype=np.float32)[:, None]
    ids, _ = top_k(users, items, seen, K, threads)
    return ids


def evaluate_dataset(
    dataset: Dataset,
    config: RecommenderConfig,
    *,
    oracle: Callable[[np.ndarray, sparse.csr_matrix], np.ndarray | None] | None = None,
) -> Evaluation:
    """The hold-out evaluation of a dataset (sessions with start times). Pure.

    ``oracle(user_ids, seen)`` returns the oracle's top K title indices for
    those users (their training titles excluded), or None when there is no
    ground truth.
    """
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    train_mask, cutoff = split_sessions(dataset.sessions, config.evaluation.holdout_share)
    train_sessions = dataset.sessions.subset(train_mask)
    test_sessions = dataset.sessions.subset(~train_mask)
    if train_sessions.size == 0 or test_sessions.size == 0:
        raise EmptyMartsError("too few sessions to hold some out")
    training = Dataset(dataset.titles, dataset.user_ids, train_sessions)
    model = train(training, config, k=K)
    seconds["fit"] = time.perf_counter() - started

    started = time.perf_counter()
    title_count = dataset.titles.size
    rows = pd.Index(model.user_ids).get_indexer(test_sessions.user_id)
    known = rows >= 0
    pair = np.unique(rows[known].astype(np.int64) * title_count + test_sessions.title[known])
    pair_rows, pair_titles = pair // title_count, pair % title_count
    watched_before = np.asarray(model.seen[pair_rows, pair_titles]).ravel() > 0
    pair_rows, pair_titles = pair_rows[~watched_before], pair_titles[~watched_before]
    test_rows = np.unique(pair_rows)
    eligible = len(test_rows)
    if eligible == 0:
        raise EmptyMartsError("no user watched a new title after the cutoff")
    if eligible > config.evaluation.max_users:
        rng = np.random.default_rng(config.evaluation.seed)
        test_rows = np.sort(rng.choice(test_rows, config.evaluation.max_users, replace=False))
    starts = np.searchsorted(pair_rows, test_rows)
    ends = np.searchsorted(pair_rows, test_rows, side="right")
    relevant = [pair_titles[a:b] for a, b in zip(starts, ends, strict=True)]
    seen = model.seen[test_rows]
    threads = config.als.threads

    models: dict[str, dict[str, float | None]] = {}
    als_top, _ = model.recommend_rows(test_rows, K)
    models["als"] = ranking_metrics(als_top, relevant, title_count)
    models["popularity"] = ranking_metrics(
        _fixed_ranking(model.viewers.astype(np.float64), seen, threads), relevant, title_count
    )
    best_of = cold_start_list(
        model.viewers,
        dataset.titles.is_all_time_best,
        dataset.titles.is_year_best,
        title_count,
    )
    best_of_scores = np.empty(title_count)
    best_of_scores[best_of.titles] = best_of.scores
    models["best_of"] = ranking_metrics(
        _fixed_ranking(best_of_scores, seen, threads), relevant, title_count
    )
    seconds["baselines"] = time.perf_counter() - started
    started = time.perf_counter()
    oracle_top = oracle(model.user_ids[test_rows], seen) if oracle is not None else None
    models["oracle"] = (
        ranking_metrics(oracle_top, relevant, title_count)
        if oracle_top is not None
        else dict.fromkeys(METRICS)
    )
    seconds["oracle"] = time.perf_counter() - started
    holdout = {
        "cutoff": str(np.datetime_as_string(cutoff, unit="s")) + "Z",
        "holdout_share": config.evaluation.holdout_share,
        "train_sessions": int(train_sessions.size),
        "test_sessions": int(test_sessions.size),
        "train_users": int(len(model.user_ids)),
        "test_users": int(eligible),
        "test_users_evaluated": int(len(test_rows)),
        "relevant_per_user": round(float(np.mean([len(r) for r in relevant])), 3),
        "titles": int(title_count),
        "oracle": oracle_top is not None,
    }
    return Evaluation(models=models, holdout=holdout, seconds=seconds)


class Oracle(Protocol):
    """Ranks titles by the ground truth: ``simulation.TasteOracle`` is one."""

    def __call__(
        self,
        warehouse: python_api.Warehouse,
        user_ids: np.ndarray,
        title_ids: np.ndarray,
        seen: sparse.csr_matrix,
        k: int,
    ) -> np.ndarray | None:
        """The top ``k`` unseen titles of each user (indices into ``title_ids``), or None
        when there is no ground truth for them."""


def evaluate(
    out_dir: Path | str | None = None,
    config: RecommenderConfig | Path | str | None = None,
    *,
    oracle: Oracle | None = None,
    warehouse: python_api.Warehouse | None = None,
) -> Evaluation:
    """Evaluate ALS and the baselines on the marts; write ``out_dir``/evaluation.json and .png.

    ``oracle``: the ground truth's ranking (``simulation.TasteOracle(config)``
    for simulated users). Without one, or when it has no ground truth for the
    test users, the oracle's metrics are null.
    """
    config = as_config(config)
    own_connection = warehouse is None
    if own_connection:
        warehouse = python_api.connect(role="scientist")
    try:
        started = time.perf_counter()
        dataset = read_dataset(warehouse, with_times=True)
        read_seconds = time.perf_counter() - started

        def rank_by_oracle(user_ids: np.ndarray, seen: sparse.csr_matrix) -> np.ndarray | None:
            return oracle(warehouse, user_ids, dataset.titles.title_ids, seen, K)

        evaluation = evaluate_dataset(
            dataset, config, oracle=rank_by_oracle if oracle is not None else None
        )
    finally:
        if own_connection:
            warehouse.close()
    evaluation.seconds["read"] = read_seconds
    if out_dir is not None:
        write_outputs(evaluation, Path(out_dir))
    return evaluation


def write_outputs(evaluation: Evaluation, out_dir: Path) -> tuple[Path, Path]:
    """``evaluation.json`` and ``evaluation.png`` (:func:`chart_figure`) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "evaluation.json"
    json_path.write_text(json.dumps(evaluation.to_json(), indent=2) + "\n", encoding="utf-8")
    png_path = out_dir / "evaluation.png"
    chart(evaluation, png_path)
    return json_path, png_path


COLOURS = {"als": "#1f77b4", "popularity": "#ff7f0e", "best_of": "#2ca02c", "oracle": "#7f7f7f"}

#: The oracle's bar is cut (and marked so) when it is more than this many times the best
#: other model's: otherwise the ceiling sets the scale and the rankers that matter, and
#: the differences between them, shrink to slivers.
OFF_SCALE = 2.0


def format_value(value: float | None) -> str:
    """A metric for a label: three significant digits, never in scientific notation."""
    if value is None:
        return "n/a"
    return np.format_float_positional(value, precision=3, fractional=False, trim="-")


def _ratio_parts(values: dict[str, float | None], oracle_name: str) -> list[str]:
    """``3.5× popularity`` and ``74% of <oracle_name>``, each only where its baseline is
    known and not zero."""
    als, popularity, oracle = values["als"], values["popularity"], values["oracle"]
    parts = []
    if als is not None and popularity:
        parts.append(f"{als / popularity:.1f}× popularity")
    if als is not None and oracle:
        parts.append(f"{als / oracle:.0%} of {oracle_name}")
    return parts


def ratio_text(evaluation: Evaluation, metric: str = "ndcg@10") -> str:
    """ALS's ``metric`` as a multiple of popularity's and a share of the oracle's, like
    ``ALS ndcg@10 = 3.5× popularity, 74% of the oracle``; a part whose baseline is missing
    or zero is left out (``ALS ndcg@10 = 0.0186`` when both are)."""
    values = {model: evaluation.models[model][metric] for model in MODELS}
    parts = _ratio_parts(values, "the oracle")
    return f"ALS {metric} = " + (", ".join(parts) if parts else format_value(values["als"]))


def chart_figure(evaluation: Evaluation) -> Any:
    """The evaluation as a matplotlib Figure: one panel per metric, each with its own
    y scale starting at 0, every bar labelled with its value, ALS's multiple of
    popularity and share of the oracle in each panel's title and (for ndcg@10) the
    figure's. An oracle far above the rest is cut at the top of its panel, marked
    with a break and labelled with its true value. Close it with
    ``matplotlib.pyplot.close(figure)``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(METRICS), figsize=(13, 4.6), sharey=False)
    for ax, metric in zip(axes, METRICS, strict=True):
        _metric_panel(ax, evaluation, metric)
    held = evaluation.holdout
    figure.suptitle(
        f"{ratio_text(evaluation)}\n"
        f"recdb evaluate: {held['test_users_evaluated']:,} test users, "
        f"hold-out after {held['cutoff']}; each panel has its own scale",
        fontsize=10,
    )
    figure.tight_layout()
    return figure


def _metric_panel(ax: Any, evaluation: Evaluation, metric: str) -> None:
    """One metric's bars on a scale of its own."""
    values = {model: evaluation.models[model][metric] for model in MODELS}
    others = [v for m, v in values.items() if m != "oracle" and v is not None]
    highest_other = max(others, default=0.0)
    oracle = values["oracle"]
    cut = oracle is not None and highest_other > 0 and oracle > OFF_SCALE * highest_other
    shown = [v for m, v in values.items() if v is not None and not (cut and m == "oracle")]
    top = max(max(shown, default=0.0), 1e-9) * 1.25
    positions = np.arange(len(MODELS))
    cut_height = top * 0.92  # a cut bar stops below the top, its label above it
    heights = [
        (cut_height if cut and m == "oracle" else v) if v is not None else 0.0
        for m, v in values.items()
    ]
    bars = ax.bar(positions, heights, 0.7, color=[COLOURS[m] for m in MODELS], edgecolor="white")
    bars[MODELS.index("oracle")].set_hatch("//")  # the ceiling, not a competitor
    for position, (model, value) in zip(positions, values.items(), strict=True):
        off_scale = cut and model == "oracle"
        height = cut_height if off_scale else (value or 0.0)
        label = format_value(value) + (" (cut)" if off_scale else "")
        ax.annotate(
            label,
            (position, height),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold" if model == "als" else "normal",
            gid=f"value:{model}",
        )
        if off_scale:
            ax.plot(
                [position - 0.4, position + 0.4],
                [top * 0.76, top * 0.80],
                color="white",
                linewidth=3,
                clip_on=False,
            )
    ax.set_ylim(0, top * 1.1)
    ax.set_xticks(positions, MODELS, fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    parts = _ratio_parts(values, "oracle")
    ax.set_title(f"{metric}\n" + ("ALS " + ", ".join(parts) if parts else " "), fontsize=10)


def chart(evaluation: Evaluation, path: Path) -> None:
    """Save :func:`chart_figure` as a PNG at ``path``."""
    figure = chart_figure(evaluation)  # chooses the Agg backend before pyplot loads
    import matplotlib.pyplot as plt

    try:
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
