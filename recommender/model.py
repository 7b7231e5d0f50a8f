"""Ranking titles for users with a fitted model of the family, and the artefacts of a run.

A fitted :class:`TrainedModel` holds the model (:mod:`recommender.models`), which titles
each user has watched, the titles' popularity, the cold-start list and the titles it
never recommends (retired ones: ``excluded``). Its
:meth:`~TrainedModel.save` writes them under ``$RECDB_HOME/models/<run_id>/``
(``model.npz`` and ``run.json``); :func:`load_model` reads them back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recdb.core.runs import (
    MODEL_FILE,
    MODEL_PREFIX,
    PRIVATE_DIR_MODE,
    RUN_FILE,
    TitleVectors,
    check_run_id,
    latest_run_id,
    models_dir,
    private_dir,
    private_models_dir,
    run_folders,
    write_private,
)
from recommender import models
from recommender.config import RecommenderConfig, load_config
from recommender.errors import (
    ModelNotFoundError,
    UnknownTitleError,
    UnknownUserError,
)
from recommender.models import Ranker

logger = logging.getLogger(__name__)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _run_suffix() -> str:
    """Ten random hex digits: 2^40 ids per second, so runs started together differ."""
    return secrets.token_hex(5)


def new_run_id(now: dt.datetime | None = None, model: str = "als") -> str:
    """A new run id: the model, the UTC time to the second and a random suffix, like
    ``als-20240131T184502Z-3f9a1c07be`` (at most 36 characters; the run-id pattern
    allows 64).

    Two runs started in the same second get different ids; :func:`claim_run_folder`
    makes sure that a default id is never one already used.
    """
    now = now or _utc_now()
    return f"{model}-{now.strftime('%Y%m%dT%H%M%S')}Z-{_run_suffix()}"


def claim_run_folder(run_id: str) -> Path:
    """Create the model folder of ``run_id`` (0700), exclusively: FileExistsError when it
    exists, so that two runs can never share (or replace) one folder."""
    folder = private_models_dir() / check_run_id(run_id)
    private_dir(folder, exclusive=True)
    return folder


def top_k(
    user_vectors: np.ndarray,
    item_factors: np.ndarray,
    seen: sp.csr_matrix,
    k: int,
    threads: int = 0,
    *,
    block_users: int = 1024,
    excluded: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best unseen titles of each user row by ``user_vectors @ item_factors.T``:
    (title indices, scores), best first; :func:`top_k_scored` says how."""
    user_vectors = np.ascontiguousarray(user_vectors, dtype=np.float32)
    titles = item_factors.shape[0]
    # padded to the width top_k_scored ranks in, so no block is copied to be padded
    padded = np.zeros((_layout(titles, k)[1], item_factors.shape[1]), dtype=np.float32)
    padded[:titles] = item_factors
    transposed = np.ascontiguousarray(padded.T)
    return top_k_scored(
        lambda start, stop: user_vectors[start:stop] @ transposed,
        user_vectors.shape[0],
        titles,
        seen,
        k,
        threads,
        block_users=block_users,
        excluded=excluded,
    )


def _layout(titles: int, k: int) -> tuple[int, int]:
    """(groups of titles, the row width: titles padded to a multiple of the groups) that
    :func:`top_k_scored` ranks in; 0 groups for a small catalogue (whole rows are sorted)."""
    k = max(1, min(k, titles))
    groups = max(min(titles // 128, 256), 4 * k)
    if groups * 2 > titles:
        return 0, titles
    return groups, -(-titles // groups) * groups


def top_k_scored(
    scores: Callable[[int, int], np.ndarray],
    users: int,
    titles: int,
    seen: sp.csr_matrix,
    k: int,
    threads: int = 0,
    *,
    block_users: int = 1024,
    excluded: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best unseen titles of each of ``users`` rows: (title indices, scores), best
    first; ``scores(start, stop)`` gives rows ``start:stop`` of the users x ``titles`` scores.
    ``excluded``: titles nobody gets (a mask over titles, or None), as if everyone had
    seen them.

    Exact: the same lists as implicit's ``recommend`` (ties broken by title
    index), several times faster on a catalogue of thousands of titles. For a
    block of users it computes every score, blanks the
    seen titles, takes the maximum of each of ``G`` groups of titles, and
    keeps as candidates only the scores at or above the ``k``-th largest of
    those maxima (``k`` distinct scores reach it, so every title of the top
    ``k`` does); the few candidates are then sorted. Blocks run on
    ``threads`` threads (0: every core), BLAS on one each. A row with fewer
    than ``k`` unseen titles is padded with index -1 (score -inf).
    """
    k = max(1, min(k, titles))
    groups, width = _layout(titles, k)
    seen = sp.csr_matrix(seen)
    blanked = np.empty(0, dtype=np.int64) if excluded is None else np.flatnonzero(excluded)
    ids = np.full((users, k), -1, dtype=np.int64)
    best = np.full((users, k), -np.inf, dtype=np.float32)

    def rank_block(start: int) -> None:
        stop = min(start + block_users, users)
        block = np.asarray(scores(start, stop), dtype=np.float32)
        if block.shape[1] == width:
            block[:, titles:] = -np.inf
        else:
            block = np.pad(block, ((0, 0), (0, width - titles)), constant_values=-np.inf)
        part = seen[start:stop]
        block[np.repeat(np.arange(stop - start), np.diff(part.indptr)), part.indices] = -np.inf
        if blanked.size:
            block[:, blanked] = -np.inf
        if groups:
            group_max = block.reshape(stop - start, width // groups, groups).max(axis=1)
            threshold = np.partition(group_max, groups - k, axis=1)[:, groups - k]
            flat = np.flatnonzero(block >= threshold[:, None])
        else:
            flat = np.arange(block.size)
        rows, cols = np.divmod(flat, width)
        values = block.ravel()[flat]
        order = np.lexsort((cols, -values, rows))
        rows, cols, values = rows[order], cols[order], values[order]
        place = np.arange(len(rows)) - np.searchsorted(rows, rows)
        keep = (place < k) & np.isfinite(values)
        ids[start + rows[keep], place[keep]] = cols[keep]
        best[start + rows[keep], place[keep]] = values[keep]

    workers = threads or os.cpu_count() or 1
    starts = range(0, users, block_users)
    with threadpool_limits(limits=1, user_api="blas"):
        if workers == 1 or len(starts) == 1:
            for start in starts:
                rank_block(start)
        else:
            with ThreadPoolExecutor(workers, "recommender-rank") as pool:
                list(pool.map(rank_block, starts))
    return ids, best


def rank_rows(
    ranker: Ranker,
    rows: np.ndarray,
    seen: sp.csr_matrix,
    k: int,
    threads: int = 0,
    excluded: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` unseen titles of training users ``rows`` by ``ranker``'s scores (their
    history is their rows of ``seen``), never one of ``excluded`` (a mask over titles):
    (title indices, scores)."""
    rows = np.asarray(rows, dtype=np.int64)
    history = sp.csr_matrix(seen[rows], dtype=np.float32)
    return top_k_scored(
        lambda start, stop: ranker.user_scores(rows[start:stop], history[start:stop]),
        len(rows),
        seen.shape[1],
        history,
        k,
        threads,
        excluded=excluded,
    )


@dataclass
class ColdStart:
    """The list given to users without history: title indices and scores, best first."""

    titles: np.ndarray
    scores: np.ndarray


def cold_start_list(
    viewers: np.ndarray,
    is_all_time_best: np.ndarray,
    is_year_best: np.ndarray,
    k: int,
    excluded: np.ndarray | None = None,
) -> ColdStart:
    """Best-of lists first, then popularity; never a title of ``excluded`` (retired).

    Titles on an all-time best list come first, then the best of their year,
    then the rest; within each group, by viewers (distinct users who watched),
    then title order. Score: 2 for all-time best, 1 for year best, 0 else,
    plus ``viewers / (1 + most viewers of a title not excluded)`` (below 1, so scores
    fall with rank). ``marts.cold_start_titles`` holds the same list for the web API.
    """
    scores = best_of_scores(viewers, is_all_time_best, is_year_best, excluded)
    return ranked_list(scores, k, excluded)


def best_of_scores(
    viewers: np.ndarray,
    is_all_time_best: np.ndarray,
    is_year_best: np.ndarray,
    excluded: np.ndarray | None = None,
) -> np.ndarray:
    """Every title's score on the best-of list (:func:`cold_start_list`), the viewers
    scaled by the most of a title not ``excluded`` (a mask; None: none is)."""
    viewers = np.asarray(viewers, dtype=np.float64)
    group = np.where(is_all_time_best, 2.0, np.where(is_year_best, 1.0, 0.0))
    kept = viewers if excluded is None else viewers[~np.asarray(excluded, dtype=bool)]
    return group + viewers / (1.0 + (kept.max() if kept.size else 0.0))


def ranked_list(scores: np.ndarray, k: int, excluded: np.ndarray | None = None) -> ColdStart:
    """The ``k`` titles of highest ``scores`` (ties: title order), none of ``excluded`` (a
    mask over titles), as a :class:`ColdStart`."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.lexsort((np.arange(len(scores)), -scores))
    if excluded is not None:
        order = order[~np.asarray(excluded, dtype=bool)[order]]
    order = order[: min(k, len(order))]
    return ColdStart(titles=order, scores=scores[order])


@dataclass
class TrainedModel:
    """A fitted recommender: the model of the family, who watched what, popularity, the
    list for users without history, and the titles it never recommends (``excluded``, a
    mask over titles: retired ones; None: none)."""

    user_ids: np.ndarray  # int64, the training users (rows of seen), sorted
    title_ids: np.ndarray  # str, the catalogue (columns of seen), sorted
    ranker: Ranker
    seen: sp.csr_matrix  # users x titles, 1 where watched
    viewers: np.ndarray  # distinct users who watched each title
    cold_start: ColdStart
    config: RecommenderConfig
    run_id: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    excluded: np.ndarray | None = None

    @property
    def model_name(self) -> str:
        """Which model of the family ranks (``als``, ``ease``, ``hybrid``, ...)."""
        return self.ranker.name

    # -- look-ups ------------------------------------------------------------
    def user_row(self, user_id: int) -> int | None:
        """Row of ``user_id`` in the factors, or None for a user without history."""
        at = int(np.searchsorted(self.user_ids, user_id))
        if at < len(self.user_ids) and self.user_ids[at] == user_id:
            return at
        return None

    def user_rows(self, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row of each of ``user_ids``, whether it has one): users without history have
        none (their row is then meaningless)."""
        user_ids = np.asarray(user_ids, dtype=np.int64)
        if not len(self.user_ids):
            return np.zeros(len(user_ids), dtype=np.int64), np.zeros(len(user_ids), dtype=bool)
        rows = np.minimum(np.searchsorted(self.user_ids, user_ids), len(self.user_ids) - 1)
        return rows, self.user_ids[rows] == user_ids

    def title_index(self, title_id: str) -> int:
        """Row of ``title_id`` in the item factors; UnknownTitleError if absent."""
        at = int(np.searchsorted(self.title_ids, title_id))
        if at < len(self.title_ids) and self.title_ids[at] == title_id:
            return at
        raise UnknownTitleError(title_id, where=f"the model of run {self.run_id}")

    # -- ranking ---------------------------------------------------------------
    def recommend_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` unseen titles for user rows, by the model's scores: (title indices,
        scores)."""
        return rank_rows(
            self.ranker, rows, self.seen, k, self.config.recommend.threads, self.excluded
        )

    def recommend(self, user_id: int, k: int = 10, *, known_user: bool = False) -> pd.DataFrame:
        """A user's top ``k``: columns rank, title_id, score, is_cold_start.

        A user without history gets the cold-start list; ``known_user`` says
        the caller checked the user exists (else a user the model never saw
        is an UnknownUserError).
        """
        row = self.user_row(int(user_id))
        if row is None:
            if not known_user:
                raise UnknownUserError(user_id, where=f"the model of run {self.run_id}")
            count = min(k, len(self.cold_start.titles))
            return pd.DataFrame(
                {
                    "rank": np.arange(1, count + 1),
                    "title_id": self.title_ids[self.cold_start.titles[:count]],
                    "score": self.cold_start.scores[:count],
                    "is_cold_start": True,
                }
            )
        ids, scores = self.recommend_rows(np.array([row]), k)
        valid = ids[0] >= 0
        return pd.DataFrame(
            {
                "rank": np.arange(1, int(valid.sum()) + 1),
                "title_id": self.title_ids[ids[0][valid]],
                "score": scores[0][valid].astype(np.float64),
                "is_cold_start": False,
            }
        )

    def similar_titles(self, title_id: str, k: int = 10) -> pd.DataFrame:
        """The ``k`` titles whose vectors (the item factors of ALS and BPR, the item-item
        weights of EASE and item_knn, the features of content) are closest (cosine) to
        ``title_id``'s.

        Columns rank, title_id, similarity (-1 to 1); the title itself is left out, and so
        are the titles the model never recommends (retired ones).
        """
        excluded = 0 if self.excluded is None else int(np.sum(self.excluded))
        similar = self.title_vectors().similar(title_id, k + excluded)
        if excluded:
            gone = set(self.title_ids[self.excluded].tolist())
            similar = similar[~similar["title_id"].isin(gone)].head(k).reset_index(drop=True)
            similar["rank"] = np.arange(1, len(similar) + 1)
        return similar

    def title_vectors(self) -> TitleVectors:
        """The titles' unit vectors (what the web API serves similar titles from)."""
        return TitleVectors.of(self.run_id, self.title_ids, self.ranker.title_vectors())

    # -- artefacts -------------------------------------------------------------
    def save(self, folder: Path | None = None) -> Path:
        """Write ``model.npz``, ``title_vectors.npz`` and, last, ``run.json`` into ``folder``
        (default: the run's own).

        Both are created 0600 and replace what was there atomically; a folder made
        here is 0700 (the run's own folder and the models folder are tightened to 0700).
        """
        if folder is None:
            if self.run_id is None:
                raise ModelNotFoundError("a model without a run id needs a folder to save into")
            folder = private_models_dir() / self.run_id
            private_dir(folder)  # claimed by this run already, or a run id the user named
        else:
            folder.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)

        def write_model(out: Any) -> None:
            np.savez(
                out,
                **{f"{MODEL_PREFIX}{k}": v for k, v in self.ranker.arrays().items()},
                user_ids=self.user_ids,
                title_ids=self.title_ids.astype(str),
                seen_indptr=self.seen.indptr,
                seen_indices=self.seen.indices,
                viewers=self.viewers,
                cold_start_titles=self.cold_start.titles,
                cold_start_scores=self.cold_start.scores,
                excluded_titles=(
                    np.empty(0, dtype=np.int64)
                    if self.excluded is None
                    else np.flatnonzero(self.excluded)
                ),
            )

        write_private(folder / MODEL_FILE, write_model)
        self.title_vectors().save(folder)
        info = {
            "run_id": self.run_id,
            "model": self.model_name,
            "config": self.config.to_dict(),
            "users_with_history": len(self.user_ids),
            "titles": len(self.title_ids),
            "excluded_titles": 0 if self.excluded is None else int(np.sum(self.excluded)),
            **self.info,
        }
        text = json.dumps(info, indent=2, default=str) + "\n"
        write_private(folder / RUN_FILE, lambda out: out.write(text.encode("utf-8")))
        return folder


def load_model(run_id: str | None = None) -> TrainedModel:
    """The model saved by run ``run_id`` (default: the newest) under ``$RECDB_HOME/models``."""
    run_id = latest_run_id() if run_id is None else check_run_id(run_id)
    folder = models_dir() / run_id
    if not (folder / MODEL_FILE).is_file():
        known = sorted(p.name for p in run_folders())
        raise ModelNotFoundError(
            f"no saved model for run {run_id!r} under {models_dir()}"
            + (f"; runs: {', '.join(known)}" if known else ": run `recdb recommend` first")
        )
    info = json.loads((folder / RUN_FILE).read_text())
    config = load_config(overrides=_flatten(info.get("config", {})))
    with np.load(folder / MODEL_FILE, allow_pickle=False) as data:
        user_ids = data["user_ids"]
        title_ids = data["title_ids"].astype(object)
        seen = sp.csr_matrix(
            (
                np.ones(len(data["seen_indices"]), dtype=np.float32),
                data["seen_indices"],
                data["seen_indptr"],
            ),
            shape=(len(user_ids), len(title_ids)),
        )
        name = str(info.get("model", "als"))
        arrays = {
            key.removeprefix(MODEL_PREFIX): data[key]
            for key in data.files
            if key.startswith(MODEL_PREFIX)
        }
        if name == "als" and not arrays:  # a run saved before the model family
            arrays = {
                "user_factors": data["user_factors"],
                "item_factors": data["item_factors"],
            }
        excluded = None
        if "excluded_titles" in data.files:  # a run saved before retired titles had none
            excluded = np.zeros(len(title_ids), dtype=bool)
            excluded[data["excluded_titles"]] = True
        return TrainedModel(
            user_ids=user_ids,
            title_ids=title_ids,
            ranker=models.from_arrays(name, arrays, config),
            seen=seen,
            viewers=data["viewers"],
            cold_start=ColdStart(data["cold_start_titles"], data["cold_start_scores"]),
            config=config,
            run_id=run_id,
            info=info,
            excluded=excluded,
        )


def _flatten(nested: dict[str, Any]) -> dict[str, Any]:
    return {
        f"{section}.{key}": value
        for section, values in nested.items()
        if isinstance(values, dict)
        for key, value in values.items()
    }
