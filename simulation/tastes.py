"""Hidden tastes, the utility of a title for a user, and choosing titles by it.

The utility (the recommender's "oracle" ranks titles by the same formula) of
title ``t`` for user ``u`` is::

    utility(u, t) = ln(taste_floor + K * sum_k affinity[u, k] * genre_weight[t, k])
                    + popularity_bias[u] * popularity[t]
                    + quality_weight * quality[t]

* ``affinity[u]``: the user's hidden taste, a point of the simplex over the
  ``K`` genres (non-negative, sums to 1), drawn from a symmetric
  Dirichlet(``tastes.dirichlet_alpha``), in ``genre_id`` order of dim_genres;
* ``genre_weight[t]``: the title's genres, sharing weight 1 equally;
  ``K * affinity . genre_weight`` is 1 for a user of uniform taste, up to
  ``K`` for a title squarely in the user's only genre, 0 outside their genres;
* ``taste_floor`` (``tastes.taste_floor``): the appeal of a title outside the
  user's genres, relative to an average match;
* ``popularity_bias[u]`` >= 0 (gamma distributed, on a 0.05 grid) times
  ``popularity[t]``, the standardised ``ln(1 + imdb_vote_count)``;
* ``quality_weight`` (``popularity.quality_weight``, the same for everyone)
  times ``quality[t]``, the standardised ``imdb_score``.

Each time a user starts watching something, the title is drawn with
probability proportional to ``exp(utility(u, t))`` (a multinomial logit over
the whole catalogue, with replacement). The choice is sampled exactly without
building the users x titles matrix: ``exp(utility)`` is a mixture of one
popularity-only component (weight ``taste_floor``) and one component per
genre (weight ``K * affinity[u, k]``), each a fixed distribution over titles
for a given bias, so a draw picks a component, then a title inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulation.catalogue import Catalogue
from simulation.config import SimulationConfig, load_config
from simulation.errors import SimulationError

#: Popularity biases are kept on this grid, so that each distinct bias has one
#: exact choice distribution per genre.
BIAS_STEP = 0.05


@dataclass(frozen=True)
class Tastes:
    """Hidden tastes of a population, row ``i`` for the ``i``-th user."""

    affinities: np.ndarray  # users x genres, rows on the simplex
    bias_level: np.ndarray  # popularity bias / BIAS_STEP, integers

    @property
    def popularity_bias(self) -> np.ndarray:
        """The popularity bias of each user (``bias_level * BIAS_STEP``)."""
        return bias_from_level(self.bias_level)


def bias_from_level(level: np.ndarray) -> np.ndarray:
    """Popularity biases from their grid levels (the one place the product is formed)."""
    return np.asarray(level, dtype=np.float64) * BIAS_STEP


def draw_tastes(
    count: int, genre_count: int, config: SimulationConfig, rng: np.random.Generator
) -> Tastes:
    """Genre affinities (Dirichlet) and popularity biases (gamma, on a grid) of ``count`` users."""
    alpha = np.full(genre_count, config.tastes.dirichlet_alpha)
    affinities = rng.dirichlet(alpha, size=count) if count else np.zeros((0, genre_count))
    popularity = config.popularity
    if popularity.bias_mean > 0:
        raw = rng.gamma(popularity.bias_shape, popularity.bias_mean / popularity.bias_shape, count)
    else:
        raw = np.zeros(count)
    max_level = int(np.floor(popularity.bias_max / BIAS_STEP + 1e-9))
    level = np.minimum(np.rint(raw / BIAS_STEP), max_level).astype(np.int64)
    return Tastes(affinities=affinities, bias_level=level)


def user_title_utility(
    affinities: np.ndarray,
    popularity_bias: np.ndarray | float,
    catalogue: Catalogue,
    config: SimulationConfig | None = None,
    *,
    titles: np.ndarray | None = None,
) -> np.ndarray:
    """The utility of every title for every user::

        utility(u, t) = ln(taste_floor + K * affinities[u] . genre_weights[t])
                        + popularity_bias[u] * popularity[t] + quality_weight * quality[t]

    (the module docstring explains each term). Users choose title ``t`` with
    probability proportional to ``exp(utility(u, t))``.

    ``affinities`` is users x genres (or one user's vector), ``popularity_bias``
    one number per user. Returns users x titles (or a vector for one user), in
    the catalogue's title order; ``titles`` (indices) restricts the columns.
    ``config`` must be the one the population was simulated with (its
    ``tastes.taste_floor`` and ``popularity.quality_weight``); default: the
    default config. Memory is users x titles: chunk large populations.
    """
    config = config or load_config()
    single = np.ndim(affinities) == 1
    theta = np.atleast_2d(np.asarray(affinities, dtype=np.float64))
    if theta.shape[1] != catalogue.genre_count:
        raise SimulationError(
            f"taste vectors have {theta.shape[1]} genres, the catalogue has "
            f"{catalogue.genre_count}: the tastes were simulated on another dim_genres"
        )
    bias = np.atleast_1d(np.asarray(popularity_bias, dtype=np.float64))
    index = slice(None) if titles is None else titles
    weights = catalogue.genre_weights[index]
    match = catalogue.genre_count * (theta @ weights.T)
    utility = np.log(config.tastes.taste_floor + match)
    utility += bias[:, None] * catalogue.popularity[index][None, :]
    utility += config.popularity.quality_weight * catalogue.quality[index][None, :]
    return utility[0] if single else utility


def pair_utility(
    affinities: np.ndarray,
    popularity_bias: np.ndarray,
    title_index: np.ndarray,
    catalogue: Catalogue,
    config: SimulationConfig,
) -> np.ndarray:
    """``utility(u, t)`` of aligned pairs: ``affinities[i]`` with title ``title_index[i]``."""
    match = catalogue.genre_count * np.einsum(
        "ij,ij->i", affinities, catalogue.genre_weights[title_index]
    )
    return (
        np.log(config.tastes.taste_floor + match)
        + popularity_bias * catalogue.popularity[title_index]
        + config.popularity.quality_weight * catalogue.quality[title_index]
    )


def oracle_scores(
    tastes: pd.DataFrame, catalogue: Catalogue, config: SimulationConfig | None = None
) -> np.ndarray:
    """The oracle: the hidden utility of every title for each user of ``tastes``.

    ``tastes`` has the columns of ``sim.user_tastes`` (``genre_affinities``,
    ``popularity_bias``). Returns len(tastes) x catalogue.size, rows in the
    order of ``tastes``, columns in the order of ``catalogue.title_ids``;
    higher is better. Ranking titles by it is the best a recommender can do.
    """
    affinities = np.asarray(
        [np.asarray(v, dtype=np.float64) for v in tastes["genre_affinities"]], dtype=np.float64
    ).reshape(len(tastes), -1)
    if len(tastes) == 0:
        return np.zeros((0, catalogue.size))
    bias = tastes["popularity_bias"].to_numpy(dtype=np.float64)
    return user_title_utility(affinities, bias, catalogue, config)


def oracle_top_n(
    tastes: pd.DataFrame,
    catalogue: Catalogue,
    n: int = 10,
    config: SimulationConfig | None = None,
    *,
    chunk_users: int = 20_000,
) -> pd.DataFrame:
    """The oracle's top ``n`` titles per user: columns user_id, rank (1 first), title_id, score.

    Ties are broken by title_id. Computed in chunks of users, so it works on
    large populations.
    """
    n = min(n, catalogue.size)
    parts = []
    for start in range(0, len(tastes), chunk_users):
        chunk = tastes.iloc[start : start + chunk_users]
        scores = oracle_scores(chunk, catalogue, config)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :n]
        parts.append(
            pd.DataFrame(
                {
                    "user_id": np.repeat(chunk["user_id"].to_numpy(), n),
                    "rank": np.tile(np.arange(1, n + 1, dtype=np.int16), len(chunk)),
                    "title_id": catalogue.title_ids[top.ravel()],
                    "score": np.take_along_axis(scores, top, axis=1).ravel(),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["user_id", "rank", "title_id", "score"])
    return pd.concat(parts, ignore_index=True)


class ChoiceSampler:
    """Draws titles with probability proportional to ``exp(utility)``, exactly, in bulk.

    Built once per population for the bias levels present. A draw is two
    vectorised searches: the component (popularity-only, or a genre) in the
    user's component weights, then the title inside that component's
    distribution for the user's bias level.
    """

    def __init__(self, catalogue: Catalogue, config: SimulationConfig, levels: np.ndarray) -> None:
        self.catalogue = catalogue
        self.levels = np.unique(levels)
        self._level_row = {int(v): i for i, v in enumerate(self.levels)}
        k = catalogue.genre_count
        self.components = k + 1
        bias = bias_from_level(self.levels)
        # exp(bias * popularity + quality_weight * quality), scaled per level (cancels out
        # within this sampler; log_scale puts weights of two samplers on one scale).
        log_w = bias[:, None] * catalogue.popularity[None, :]
        log_w += config.popularity.quality_weight * catalogue.quality[None, :]
        scale = log_w.max(axis=1, keepdims=True) if catalogue.size else np.zeros((len(bias), 1))
        log_w -= scale
        #: Per bias level, the log of the factor the component weights were divided by.
        self.log_scale = scale[:, 0]
        base = np.exp(log_w)  # levels x titles

        members = [np.arange(catalogue.size)]
        shares = [np.ones(catalogue.size)]
        for genre in range(k):
            in_genre = np.flatnonzero(catalogue.genre_weights[:, genre] > 0)
            members.append(in_genre)
            shares.append(catalogue.genre_weights[in_genre, genre])
        sizes = np.array([len(m) for m in members])
        per_level = int(sizes.sum())
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

        levels_n = len(self.levels)
        cdf = np.empty((levels_n, per_level))
        totals = np.zeros((levels_n, self.components))
        show_mass = np.zeros((levels_n, self.components))
        for c, (titles, share) in enumerate(zip(members, shares, strict=True)):
            if not len(titles):
                continue
            weight = base[:, titles] * share[None, :]
            cumulative = np.cumsum(weight, axis=1)
            totals[:, c] = cumulative[:, -1]
            show_mass[:, c] = weight[:, self.catalogue.is_show[titles]].sum(axis=1)
            block = np.arange(levels_n)[:, None] * self.components + c
            normalised = cumulative / cumulative[:, -1:]
            normalised[:, -1] = 1.0
            cdf[:, starts[c] : starts[c] + sizes[c]] = block + normalised
        self._cdf = cdf.ravel()
        self._titles = np.tile(np.concatenate(members), levels_n)
        block_start = (np.arange(levels_n)[:, None] * per_level + starts[None, :]).ravel()
        self._block_start = block_start
        self._block_end = block_start + np.tile(sizes, levels_n)
        self._totals = totals
        self._show_share = np.divide(
            show_mass, totals, out=np.zeros_like(show_mass), where=totals > 0
        )
        self._floor = config.tastes.taste_floor

    def level_rows(self, levels: np.ndarray) -> np.ndarray:
        """Row of each bias level in this sampler's tables."""
        return np.searchsorted(self.levels, levels)

    def component_weights(self, tastes: Tastes) -> np.ndarray:
        """users x components: ``taste_floor * Z0`` then ``K * affinity_k * Zk`` per genre."""
        rows = self.level_rows(tastes.bias_level)
        totals = self._totals[rows]
        weights = np.empty_like(totals)
        weights[:, 0] = self._floor * totals[:, 0]
        weights[:, 1:] = self.catalogue.genre_count * tastes.affinities * totals[:, 1:]
        return weights

    def log_total_weights(self, tastes: Tastes) -> np.ndarray:
        """Per user, ``ln sum_t exp(utility(u, t))`` over this sampler's titles: comparable
        between samplers of different titles (``-inf`` when a user can choose none)."""
        weights = self.component_weights(tastes).sum(axis=1)
        with np.errstate(divide="ignore"):
            logs = np.log(weights)
        return logs + self.log_scale[self.level_rows(tastes.bias_level)]

    def show_probability(self, component_weights: np.ndarray, tastes: Tastes) -> np.ndarray:
        """Probability that a user's next choice is a show."""
        rows = self.level_rows(tastes.bias_level)
        total = component_weights.sum(axis=1)
        shows = (component_weights * self._show_share[rows]).sum(axis=1)
        return shows / total

    def draw(
        self,
        user_rows: np.ndarray,
        component_cumulative: np.ndarray,
        level_rows: np.ndarray,
        rng: np.random.Generator,
        *,
        chunk: int = 1_000_000,
    ) -> np.ndarray:
        """One title (catalogue index) for each entry of ``user_rows``.

        ``component_cumulative`` is the users' cumulative component weights
        (users x components), ``level_rows`` each user's bias row.
        """
        count = len(user_rows)
        out = np.empty(count, dtype=np.int64)
        u_component = rng.random(count)
        u_title = rng.random(count)
        last = self.components - 1
        for start in range(0, count, chunk):
            part = slice(start, start + chunk)
            users = user_rows[part]
            rows = component_cumulative[users]
            target = u_component[part] * rows[:, -1]
            component = (rows <= target[:, None]).sum(axis=1)
            np.minimum(component, last, out=component)
            # a rounding at the very top can land on a trailing component of weight 0
            chosen = np.take_along_axis(rows, component[:, None], axis=1)[:, 0]
            below = np.take_along_axis(rows, np.maximum(component - 1, 0)[:, None], axis=1)[:, 0]
            empty = chosen <= np.where(component > 0, below, 0.0)
            if empty.any():
                component[empty] = _last_nonempty(rows[empty])
            block = level_rows[users] * self.components + component
            position = np.searchsorted(self._cdf, block + u_title[part], side="right")
            position = np.clip(position, self._block_start[block], self._block_end[block] - 1)
            out[part] = self._titles[position]
        return out


def _last_nonempty(cumulative: np.ndarray) -> np.ndarray:
    """Index of the last component whose weight is positive, per row."""
    weights = np.diff(cumulative, axis=1, prepend=0.0)
    positive = weights > 0
    return cumulative.shape[1] - 1 - np.argmax(positive[:, ::-1], axis=1)
