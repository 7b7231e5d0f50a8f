"""``recdb evaluate``: the model family and the baselines on one time-based hold-out, with
metrics by segment and bootstrap intervals; a JSON and a chart.

The sessions are split at one moment (:mod:`recommender.holdout`): the latest
``evaluation.holdout_share`` of them are the test period, the rest the training
period. Every ranker learns only from the training sessions and ranks, for each
test user, the titles that user had not watched in training, among the titles
someone could watch in the test period (the candidates: every title of
``marts.dim_titles`` but those retired at or before the cutoff and those released
after the test period's last session):

* the models of the family (:mod:`recommender.models`), each with its section
  of the config; a model that fits ALS (``als``, or a ``hybrid`` whose
  collaborative part is als) once per ALS trainer asked for (``trainers``,
  ``recdb evaluate --trainer``; default the config's ``als.trainer``), a row each:
  ``als`` for implicit's, ``als (spark)`` for Spark MLlib's;
* ``popularity``: titles by how many users watched them in training;
* ``best_of``: the cold-start list: all-time best, then year best, then the
  rest, each by training popularity;
* ``oracle``: the simulation's hidden utility (``simulation.TasteOracle``,
  handed in by the command line, from ``sim.user_tastes``): the best any
  ranker can do, the ceiling.

A test user watched a title in the test period that they had not watched in
training; those titles are the relevant ones. Users without any training
history are test users too (the cold start): each model gives them its list for
a user without history. Metrics (:mod:`recommender.metrics`) are averaged over
the test users (a seeded sample of at most ``evaluation.max_users``), overall
and by segment of training history; ndcg@10 and its ratios to popularity's and
the oracle's have 95% bootstrap intervals (``evaluation.bootstrap_samples``
resamples of the test users).

**New titles** (the item cold start): titles released at or after the cutoff
(``dim_titles.released_at``; the loaded catalogue's titles have none), of which
training holds nothing. For each test user who watched at least one of them in
the test period, the relevant titles are those new titles (no other), and the
list is the very top 10 the user gets above, ranked over all the candidates:
a new title must earn its place against the whole catalogue, as it does in the
lists users are served (ranking among new titles only would flatter a model
that ranks them all low, and give popularity, which cannot tell them apart, a
figure it never earns). ``recall@10`` and ``ndcg@10`` are averaged over those
users, ``recall@10`` with a 95% bootstrap interval and its ratio to the
oracle's; ``share_of_lists`` is the share of all test users' list places filled
by new titles. Popularity and best_of learn from training viewers, so they never
rank a new title (0); the oracle scores them by the hidden utility like any
other title.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

import python_api
from recommender import metrics, models
from recommender.config import RecommenderConfig, as_config
from recommender.data import Dataset
from recommender.errors import RecommenderError
from recommender.holdout import Holdout, holdout, read_holdout
from recommender.model import TrainedModel, best_of_scores, top_k
from recommender.pipeline import prepare

logger = logging.getLogger(__name__)

K = 10
ORACLE = "oracle"
METRICS = ("precision@10", "recall@10", "map@10", "ndcg@10", "coverage", "popularity_rank")
#: The oracle's ranking of test users: their top K title indices (their training titles
#: left out), or None when there is no ground truth.
OracleRanking = Callable[[np.ndarray, sp.csr_matrix], "np.ndarray | None"]


@dataclass(frozen=True)
class Evaluation:
    """Metrics by ranker, what the hold-out was made of, and which model is the default."""

    models: dict[str, dict[str, Any]]
    holdout: dict[str, Any]
    default_model: str
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"models": {...}, "default_model": ..., "holdout": {...}, "seconds": {...}}``."""
        return {
            "models": self.models,
            "default_model": self.default_model,
            "holdout": self.holdout,
            "seconds": {name: round(value, 3) for name, value in self.seconds.items()},
        }

    @property
    def featured(self) -> str:
        """The model the chart's title is about: the default when it was evaluated, else
        the first model evaluated."""
        return self.default_model if self.default_model in self.models else self.rankers[0]

    @property
    def rankers(self) -> list[str]:
        """The models of the family evaluated, then the baselines, then the oracle."""
        return list(self.models)

    def table(self) -> str:
        """The metrics as text: one row per ranker, then ndcg@10 by segment."""
        width = 14
        # 12 wide, wider for a row named by its trainer too (``hybrid (spark)``): its mark
        # and a space, or the segments' two-space indent, beside the longest name
        names = max([12, *(len(name) + 2 for name in self.models)])
        head = f"{'model':<{names}}" + "".join(f"{m:>{width}}" for m in METRICS)
        head += f"{'ndcg@10 95% CI':>20}{'x popularity':>20}{'of oracle':>20}"
        head += f"{'(with history)':>16}"
        lines = [head]
        for name, values in self.models.items():
            cells = "".join(_cell(values.get(m), m, width) for m in METRICS)
            cells += f"{_range(values.get('ndcg@10_ci'), '.4f'):>20}"
            cells += f"{_ratio(values.get('vs_popularity'), 'x'):>20}"
            cells += f"{_ratio(values.get('vs_oracle'), '%'):>20}"
            share = values["with_history"].get("vs_oracle")
            cells += f"{'n/a' if share is None else format(share, '.0%'):>16}"
            marker = "*" if name == self.default_model else " "
            lines.append(f"{name + marker:<{names}}{cells}")
        segments = [name for name, _, _ in metrics.SEGMENTS]
        users = next(iter(self.models.values()))["segments"]
        lines.append("")
        lines.append(
            "ndcg@10 by titles watched in training: "
            + ", ".join(f"{s} ({users[s]['users']:,} users)" for s in segments)
        )
        for name, values in self.models.items():
            cells = "".join(
                _cell(values["segments"][s]["ndcg@10"], "ndcg@10", width) for s in segments
            )
            lines.append(f"  {name:<{names - 2}}{cells}")
        lines.append("")
        lines.extend(self._new_title_lines(names, width))
        held = self.holdout
        lines.append(
            f"* the default model (recommend.model). {held['test_users_evaluated']:,} test "
            f"users; trained on {held['train_sessions']:,} sessions before {held['cutoff']}, "
            f"tested on {held['test_sessions']:,} after"
        )
        return "\n".join(lines)

    def _new_title_lines(self, names: int, width: int) -> list[str]:
        """The block of figures on new titles (released after the cutoff)."""
        held = self.holdout
        new, users = held.get("new_titles", 0), held.get("new_title_test_users", 0)
        if not new or not users:
            return [
                f"new titles (released after the cutoff): {new:,}, watched by {users:,} test "
                "users: no figures"
            ]
        lines = [
            f"new titles (released after the cutoff): {new:,}, watched in the test period by "
            f"{users:,} test users, whose lists (over every title) are scored on them alone",
            f"  {'':<{names - 2}}{'recall@10':>{width}}{'recall@10 95% CI':>20}"
            f"{'of oracle':>20}{'ndcg@10':>{width}}{'share of lists':>{width + 2}}",
        ]
        for name, values in self.models.items():
            part = values.get("new_titles") or {}
            cells = _cell(part.get("recall@10"), "recall@10", width)
            cells += f"{_range(part.get('recall@10_ci'), '.4f'):>20}"
            cells += f"{_ratio(part.get('vs_oracle'), '%'):>20}"
            cells += _cell(part.get("ndcg@10"), "ndcg@10", width)
            cells += _cell(part.get("share_of_lists"), "share_of_lists", width + 2)
            lines.append(f"  {name:<{names - 2}}{cells}")
        return lines


def _cell(value: float | None, metric: str, width: int) -> str:
    if value is None:
        return f"{'n/a':>{width}}"
    if metric == "popularity_rank":
        return f"{value:>{width}.0f}"
    return f"{value:>{width}.4f}"


def _range(bounds: list[float] | None, spec: str) -> str:
    return "n/a" if bounds is None else f"{bounds[0]:{spec}}-{bounds[1]:{spec}}"


def _ratio(ratio: dict[str, Any] | None, kind: str) -> str:
    if not ratio or ratio.get("value") is None:
        return "n/a"
    value, ci = ratio["value"], ratio.get("ci")
    if kind == "%":
        text = f"{value:.0%}"
        return text if ci is None else f"{text} ({ci[0]:.0%}-{ci[1]:.0%})"
    text = f"{value:.2f}x"
    return text if ci is None else f"{text} ({ci[0]:.2f}-{ci[1]:.2f})"


def ranking_metrics(
    top: np.ndarray, relevant: Sequence[np.ndarray], title_count: int
) -> dict[str, float]:
    """precision@k, recall@k, map@k, ndcg@k (means over users) and coverage of ranked
    lists (users x k title indices, -1: none); ``relevant[i]``: row ``i``'s relevant
    titles (at least one each). Pure; :mod:`recommender.metrics` defines them."""
    k = top.shape[1]
    per_user = metrics.per_user_metrics(top, relevant, title_count)
    out = {metrics.metric_name(m, k): float(per_user[m].mean()) for m in metrics.PER_USER}
    out["coverage"] = len(np.unique(top[top >= 0])) / title_count
    return out


def rank_users(model: TrainedModel, user_ids: np.ndarray, k: int) -> np.ndarray:
    """users x k title indices: ``model``'s list for each of ``user_ids``; a user it was not
    trained on gets its list for users without history."""
    rows, known = model.user_rows(user_ids)
    top = np.full((len(user_ids), k), -1, dtype=np.int64)
    if known.any():
        top[known], _ = model.recommend_rows(rows[known], k)
    cold = model.cold_start.titles[:k]
    top[~known, : len(cold)] = cold
    return top


def _history(model: TrainedModel, user_ids: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
    """(titles each user watched in training, their rows of who watched what)."""
    rows, known = model.user_rows(user_ids)
    with_empty_row = sp.vstack([model.seen, sp.csr_matrix((1, model.seen.shape[1]))], "csr")
    seen = with_empty_row[np.where(known, rows, model.seen.shape[0])]
    return np.diff(seen.indptr), seen


def _fixed_ranking(
    scores: np.ndarray, seen: sp.csr_matrix, threads: int, excluded: np.ndarray
) -> np.ndarray:
    """Top K unseen titles, none of ``excluded``, when every user shares the title scores
    ``scores``."""
    users = np.ones((seen.shape[0], 1), dtype=np.float32)
    items = np.asarray(scores, dtype=np.float32)[:, None]
    ids, _ = top_k(users, items, seen, K, threads, excluded=excluded)
    return ids


def _seen_and_excluded(seen: sp.csr_matrix, excluded: np.ndarray) -> sp.csr_matrix:
    """``seen`` with the ``excluded`` titles marked seen by every user (what the oracle is
    handed, so that it never ranks a title nobody could watch)."""
    columns = np.flatnonzero(excluded)
    if not columns.size:
        return seen
    users = seen.shape[0]
    marks = sp.csr_matrix(
        (
            np.ones(users * columns.size, dtype=seen.dtype),
            np.tile(columns, users),
            np.arange(0, users * columns.size + 1, columns.size),
        ),
        shape=seen.shape,
    )
    return sp.csr_matrix(seen.maximum(marks))


def uses_als(model: str, config: RecommenderConfig) -> bool:
    """Whether fitting ``model`` fits ALS (``als``, or a hybrid whose collaborative part is
    als): what ``als.trainer`` changes."""
    return model == "als" or (model == "hybrid" and config.hybrid.collaborative == "als")


def row_name(model: str, config: RecommenderConfig) -> str:
    """The evaluation's row of ``model`` with ``config``: its name, followed by the ALS
    trainer in brackets when it fits ALS with another than implicit (``als (spark)``)."""
    trainer = config.als.trainer
    return f"{model} ({trainer})" if uses_als(model, config) and trainer != "implicit" else model


def model_rows(
    names: Sequence[str], config: RecommenderConfig, trainers: Sequence[str] | None = None
) -> list[tuple[str, str, RecommenderConfig]]:
    """(row name, model, its config) for each model of ``names``: one that fits ALS once
    per trainer of ``trainers`` (default: the config's ``als.trainer``), with
    ``als.trainer`` set to it (:func:`row_name`); any other once, with ``config``.

    RecommenderError when ``trainers`` are given and no model of ``names`` fits ALS.
    """
    if trainers and not any(uses_als(name, config) for name in names):
        raise RecommenderError(
            f"ALS trainers {', '.join(trainers)} given, but none of the models evaluated "
            f"({', '.join(names)}) fits ALS: evaluate als (or a hybrid whose "
            "hybrid.collaborative is als)"
        )
    configs = [
        config.with_overrides({"als.trainer": trainer})
        for trainer in dict.fromkeys(trainers or (config.als.trainer,))
    ]
    rows = []
    for name in names:
        for each in configs if uses_als(name, config) else [config]:
            rows.append((row_name(name, each), name, each))
    return rows


def score_rankers(
    split: Holdout,
    config: RecommenderConfig,
    names: Sequence[str],
    *,
    oracle: OracleRanking | None = None,
    seconds: dict[str, float] | None = None,
    trainers: Sequence[str] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, dict[str, Any]]:
    """Fit each model of ``names`` on the split's training period and rank its test users;
    rank them by the baselines and the oracle too. ``trainers``: the ALS trainers to fit
    a model that fits ALS with, a row each (:func:`model_rows`).

    Returns (each ranker's top K, the users' training history counts, each
    title's popularity rank, each model's hyper-parameters).
    """
    seconds = seconds if seconds is not None else {}
    users = split.test_user_ids
    rows = model_rows(names, config, trainers)
    tops, params, history, seen, viewers = _rank_by_models(split, config, rows, seconds)
    threads = config.recommend.threads
    titles = split.training.titles
    excluded = split.unavailable()
    tops["popularity"] = _fixed_ranking(viewers, seen, threads, excluded)
    best_of = best_of_scores(viewers, titles.is_all_time_best, titles.is_year_best, excluded)
    tops["best_of"] = _fixed_ranking(best_of, seen, threads, excluded)
    started = time.perf_counter()
    oracle_top = oracle(users, _seen_and_excluded(seen, excluded)) if oracle is not None else None
    if oracle_top is not None:
        tops[ORACLE] = oracle_top
    seconds[ORACLE] = time.perf_counter() - started
    order = np.lexsort((np.arange(len(viewers)), -viewers))
    popularity_rank = np.empty(len(viewers), dtype=np.float64)
    popularity_rank[order] = np.arange(1, len(viewers) + 1)
    return tops, history, popularity_rank, params


def _rank_by_models(
    split: Holdout,
    config: RecommenderConfig,
    rows: Sequence[tuple[str, str, RecommenderConfig]],
    seconds: dict[str, float],
) -> tuple[dict[str, np.ndarray], dict[str, Any], np.ndarray, sp.csr_matrix, np.ndarray]:
    """Fit each model of ``rows`` (:func:`model_rows`) in turn and rank the test users by
    it.

    Returns (each model's top K, its hyper-parameters, the users' training history
    counts, their rows of who watched what, each title's training viewers). One model
    is held at a time, and none, nor the training matrices, once this returns: the
    command's peak was the oracle's ranking with the last model and the matrices still
    held (at 1 and 10 million sessions).
    """
    users = split.test_user_ids
    tops: dict[str, np.ndarray] = {}
    params: dict[str, Any] = {}
    started = time.perf_counter()
    # The rows' configs differ in als.trainer only: the same training data serves them all.
    prepared = prepare(split.training, config, k=K, model=rows[0][1], excluded=split.unavailable())
    seconds["prepare"] = time.perf_counter() - started
    history = seen = viewers = None
    for name, model_name, model_config in rows:
        started = time.perf_counter()
        model = prepared.fit(model_name, model_config)
        tops[name] = rank_users(model, users, K)
        params[name] = _params(model_config, model_name)
        if seen is None:
            history, seen = _history(model, users)
            viewers = model.viewers.astype(np.float64)
        del model
        seconds[name] = time.perf_counter() - started
        logger.info("%s: fitted and ranked in %.1f s", name, seconds[name])
    return tops, params, history, seen, viewers


def _params(config: RecommenderConfig, name: str) -> dict[str, Any]:
    values = config.to_dict()
    if name == "hybrid":
        part = config.hybrid.collaborative
        return {"hybrid": values["hybrid"], "content": values["content"], part: values[part]}
    return {name: values[name]}


def summarise(
    split: Holdout,
    tops: dict[str, np.ndarray],
    history: np.ndarray,
    popularity_rank: np.ndarray,
    *,
    samples: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Each ranker's metrics (:func:`recommender.metrics.summary`), with bootstrap 95%
    intervals on ndcg@10 and on its ratios to popularity's and the oracle's."""
    title_count = split.training.titles.size
    per_user = {
        name: metrics.per_user_metrics(top, split.relevant, title_count)
        for name, top in tops.items()
    }
    out = {
        name: metrics.summary(top, per_user[name], history, popularity_rank, title_count)
        for name, top in tops.items()
    }
    _new_title_figures(split, tops, out, samples=samples, seed=seed)
    ndcg = {name: values["ndcg"] for name, values in per_user.items()}
    resampled = metrics.bootstrap_means(ndcg, samples, seed)
    means = {name: float(values.mean()) for name, values in ndcg.items()}
    oracle_with_history = out.get(ORACLE, {}).get("with_history", {}).get("ndcg@10")
    for name, values in out.items():
        values["ndcg@10_ci"] = metrics.interval(resampled[name])
        mine = values["with_history"]["ndcg@10"]
        values["with_history"]["vs_oracle"] = (
            mine / oracle_with_history
            if name != ORACLE and oracle_with_history and mine is not None
            else None
        )
        for baseline, key in (("popularity", "vs_popularity"), (ORACLE, "vs_oracle")):
            if baseline not in means or name == baseline or not means[baseline]:
                values[key] = None
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = resampled[name] / resampled[baseline]
            values[key] = {
                "value": means[name] / means[baseline],
                "ci": metrics.interval(ratios),
            }
    return out


def _new_title_figures(
    split: Holdout,
    tops: dict[str, np.ndarray],
    out: dict[str, dict[str, Any]],
    *,
    samples: int,
    seed: int,
) -> None:
    """Each ranker's ``new_titles`` figures (the module docstring says what they are), a
    95% bootstrap interval on recall@10 and its ratio to the oracle's (resampling the
    users who watched a new title, the same resamples for every ranker)."""
    new = split.new_titles()
    title_count = split.training.titles.size
    recall: dict[str, np.ndarray] = {}
    for name, top in tops.items():
        figures, per_user = metrics.new_title_summary(top, split.relevant, new, title_count)
        out[name]["new_titles"] = figures
        recall[name] = per_user["recall"]
    resampled = (
        metrics.bootstrap_means(recall, samples, seed)
        if any(len(v) for v in recall.values())
        else {name: np.empty(0) for name in recall}
    )
    oracle_mean = out.get(ORACLE, {}).get("new_titles", {}).get("recall@10")
    for name, values in out.items():
        part = values["new_titles"]
        part["recall@10_ci"] = metrics.interval(resampled[name])
        if name == ORACLE or not oracle_mean or part["recall@10"] is None:
            part["vs_oracle"] = None
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = resampled[name] / resampled[ORACLE]
        part["vs_oracle"] = {
            "value": part["recall@10"] / oracle_mean,
            "ci": metrics.interval(ratios),
        }


def _without_figures(like: dict[str, Any]) -> dict[str, Any]:
    """A ranker's results with every figure null, its segments' user counts those of
    ``like``."""

    def nulls(part: dict[str, Any]) -> dict[str, Any]:
        return {key: (value if key == "users" else None) for key, value in part.items()}

    return dict.fromkeys(METRICS) | {
        "ndcg@10_ci": None,
        "vs_popularity": None,
        "vs_oracle": None,
        "segments": {name: nulls(part) for name, part in like["segments"].items()},
        "with_history": nulls(like["with_history"]),
        "new_titles": nulls(like["new_titles"]),
    }


def evaluate_dataset(
    dataset: Dataset,
    config: RecommenderConfig,
    *,
    oracle: OracleRanking | None = None,
    model_names: Sequence[str] | None = None,
    trainers: Sequence[str] | None = None,
) -> Evaluation:
    """The hold-out evaluation of a dataset (sessions with start times). Pure.

    ``model_names``: the models of the family to evaluate (default: all).
    ``trainers``: the ALS trainers (``implicit``, ``spark``) to fit a model that fits
    ALS with, a row each (default: the config's ``als.trainer``).
    ``oracle(user_ids, seen)`` returns the oracle's top K title indices for
    those users (their training titles excluded), or None when there is no
    ground truth.
    """
    evaluation = config.evaluation
    split = holdout(
        dataset, evaluation.holdout_share, max_users=evaluation.max_users, seed=evaluation.seed
    )
    return evaluate_split(split, config, oracle=oracle, model_names=model_names, trainers=trainers)


def evaluate_split(
    split: Holdout,
    config: RecommenderConfig,
    *,
    oracle: OracleRanking | None = None,
    model_names: Sequence[str] | None = None,
    trainers: Sequence[str] | None = None,
) -> Evaluation:
    """The evaluation of a hold-out split (:func:`evaluate_dataset`'s, or the marts'
    :func:`~recommender.holdout.read_holdout`). Pure."""
    names = [models.check_model(name) for name in (model_names or models.MODELS)]
    evaluation = config.evaluation
    seconds: dict[str, float] = {}
    tops, history, popularity_rank, params = score_rankers(
        split, config, names, oracle=oracle, seconds=seconds, trainers=trainers
    )
    started = time.perf_counter()
    results = summarise(
        split,
        tops,
        history,
        popularity_rank,
        samples=evaluation.bootstrap_samples,
        seed=evaluation.seed,
    )
    if ORACLE not in results:  # no ground truth: the oracle's figures are null
        results[ORACLE] = _without_figures(results["popularity"])
    for name, values in params.items():
        results[name]["params"] = values
    seconds["metrics"] = time.perf_counter() - started
    described = split.describe() | {
        "holdout_share": evaluation.holdout_share,
        "train_users": int(len(split.training.feedback.user_ids)),
        "cold_start_test_users": int((history == 0).sum()),
        "oracle": ORACLE in tops,
        "bootstrap_samples": evaluation.bootstrap_samples,
    }
    return Evaluation(
        models=results,
        holdout=described,
        default_model=row_name(config.recommend.model, config),
        seconds=seconds,
    )


class Oracle(Protocol):
    """Ranks titles by the ground truth: ``simulation.TasteOracle`` is one."""

    def __call__(
        self,
        warehouse: python_api.Warehouse,
        user_ids: np.ndarray,
        title_ids: np.ndarray,
        seen: sp.csr_matrix,
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
    model_names: Sequence[str] | None = None,
    trainers: Sequence[str] | None = None,
) -> Evaluation:
    """Evaluate the model family and the baselines on the marts; write
    ``out_dir``/evaluation.json and .png.

    ``model_names``: the models of the family (default: all). ``trainers``: the ALS
    trainers to fit a model that fits ALS with, a row each, ``als`` (implicit) and
    ``als (spark)`` (default: the config's ``als.trainer``). ``oracle``: the
    ground truth's ranking (``simulation.TasteOracle(config)`` for simulated
    users). Without one, or when it has no ground truth for the test users, the
    oracle's metrics are null.
    """
    config = as_config(config)
    own_connection = warehouse is None
    if own_connection:
        warehouse = python_api.connect(role="scientist")
    try:
        started = time.perf_counter()
        settings = config.evaluation
        split = read_holdout(
            warehouse, settings.holdout_share, max_users=settings.max_users, seed=settings.seed
        )
        read_seconds = time.perf_counter() - started

        def rank_by_oracle(user_ids: np.ndarray, seen: sp.csr_matrix) -> np.ndarray | None:
            return oracle(warehouse, user_ids, split.training.titles.title_ids, seen, K)

        evaluation = evaluate_split(
            split,
            config,
            oracle=rank_by_oracle if oracle is not None else None,
            model_names=model_names,
            trainers=trainers,
        )
    finally:
        if own_connection:
            warehouse.close()
    evaluation.seconds["read"] = read_seconds
    if out_dir is not None:
        write_outputs(evaluation, Path(out_dir))
    return evaluation


def write_outputs(evaluation: Evaluation, out_dir: Path) -> tuple[Path, Path]:
    """``evaluation.json`` and ``evaluation.png`` (:func:`recommender.chart.chart_figure`)
    in ``out_dir``."""
    from recommender.chart import chart

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "evaluation.json"
    json_path.write_text(json.dumps(evaluation.to_json(), indent=2) + "\n", encoding="utf-8")
    png_path = out_dir / "evaluation.png"
    chart(evaluation, png_path)
    return json_path, png_path
