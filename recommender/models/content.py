"""The content model: what a user watched says which genres they like, and the catalogue says
which titles are in those genres, how popular and how good they are.

Each user's taste is a mix ``theta`` of the catalogue's genres (non-negative, sums to
1), learnt from the titles they watched as a mixture model whose components are the
genres: a title with ``n`` genres could have been chosen for any of them, and EM
(``em_iterations`` rounds) shares each title out among its genres by how much the user
seems to like each, starting from an even share. ``genre_prior`` pseudo-titles spread
over the genres as the whole audience watches them keep a short history from
overreaching. A genre's share of a user's choices is their liking for it times how
much the genre offers (its titles' appeal, summed: the "mass"), so liking is the
share over the mass; without that, the big genres swallow the small ones (0.0126
ndcg@10 on validation at 100,000 simulated users instead of 0.0182). A title's
score for the user is::

    ln(floor + G * theta . genres[t])          how well the title fits the user's genres
    + popularity_weight * popularity[t]        IMDb votes (standardised log)
    + quality_weight * quality[t]              IMDb score (standardised)
    + viewers_weight * viewers[t]              training viewers (standardised log)
    + side_weight * profile . side[t]          countries, movie or show, decade

``G`` is the number of genres (``G * theta . genres`` is 1 for a title that matches
an even taste), ``profile`` the mean of the side features of what the user watched.
On the simulation, whose users choose by genre, popularity and quality alone, the
side features only add noise (``side_weight`` 0.3: 0.0174 on validation against
0.0182 without), so their default weight is 0.

**New titles.** A title scores on what the catalogue says of it, never on who watched
it (unless ``viewers_weight`` says so): a title nobody watched yet, just released, is
scored as any other. Only its popularity is unknown: a title the service released
itself (``released_at``) has no IMDb votes. Its popularity is then estimated from its
viewing (:func:`history_popularity`): its viewers per the share of the training period it
has been out, with ``history_prior_days`` days of the service's releases' usual viewing
added, put on the IMDb scale as the catalogue's titles with that many viewers are. One
released after the training period, with no viewers yet, is as popular as the service's
releases have been (taken for the least watched, 0.0066 recall@10 on new titles at
100,000 simulated users against the oracle's 0.0578; as the releases so far, 0.033, with
the same 0.0171 ndcg@10 overall); its own viewers take over as it is watched.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from scipy.optimize import isotonic_regression

from recdb.core.config import Section
from recommender.data import Titles, standardised
from recommender.models.base import Param, Ranker, TrainingData

#: Users whose genre mix is estimated at once (the EM works on their history's entries).
_CHUNK_USERS = 50_000
#: Groups of catalogue titles (by viewers) behind :func:`history_popularity`.
HISTORY_GROUPS = 20
_DAY = np.timedelta64(1, "D")


class ContentConfig(Section):
    """The content model's knobs (see :mod:`recommender.models.content`)."""

    genre_prior: float = Field(ge=0, le=1000)
    em_iterations: int = Field(ge=0, le=200)
    floor: float = Field(gt=0, le=100)
    popularity_weight: float = Field(ge=-10, le=10)
    quality_weight: float = Field(ge=-10, le=10)
    viewers_weight: float = Field(ge=-10, le=10)
    side_weight: float = Field(ge=0, le=100)
    # A default, so that a run saved before the key existed loads.
    history_prior_days: float = Field(default=7.0, ge=0, le=3650)


def side_features(titles: Titles) -> np.ndarray:
    """titles x (countries, movie or show, decade), each block sharing weight 1 per title."""
    features = titles.features
    assert features is not None
    return np.hstack([features.countries, features.kind, features.decade]).astype(np.float32)


def released_share(
    released_at: np.ndarray, period: tuple[np.datetime64, np.datetime64]
) -> np.ndarray:
    """The share of ``period`` (start, end) each title was out: 1 for a title without a
    release moment (NaT: always there), 0 for one released at its end or after."""
    start, end = (np.datetime64(moment, "us") for moment in period)
    released = np.asarray(released_at, dtype="datetime64[us]")
    length = max(float((end - start) / _DAY), 1e-9)
    out = (end - np.maximum(np.where(np.isnat(released), start, released), start)) / _DAY
    return np.clip(out.astype(np.float64) / length, 0.0, 1.0)


def history_popularity(
    popularity: np.ndarray,
    votes_known: np.ndarray | None,
    released_at: np.ndarray | None,
    viewers: np.ndarray,
    period: tuple[np.datetime64, np.datetime64] | None,
    prior_days: float,
) -> np.ndarray:
    """``popularity``, where a title the service released (``released_at``) without IMDb
    votes has the popularity of the catalogue titles that are watched as much.

    Viewing rates are viewers per the whole of ``period``: a catalogue title's (known
    votes, no release moment) is its viewers; a released title's, its viewers plus
    ``prior_days`` days of the releases' pooled rate, over the share of ``period`` it has
    been out plus those days. The pooled rate is the viewers of the titles released in
    the period over their shares of it (none yet: the catalogue's median rate). So a
    title just out, or out after the period, has the releases' usual rate, and one out
    for long its own. The catalogue's titles, ordered by rate, fall into
    :data:`HISTORY_GROUPS` groups of equal size; each group's mean popularity, made
    non-decreasing in the rate, is interpolated between the groups' mean rates (held
    beyond the first and last). Unchanged without a period, or without such titles.
    """
    popularity = np.asarray(popularity, dtype=np.float32)
    if votes_known is None or released_at is None or period is None:
        return popularity
    released = ~np.isnat(np.asarray(released_at, dtype="datetime64[us]"))
    known = np.asarray(votes_known, dtype=bool)
    targets = released & ~known
    reference = ~released & known
    if not targets.any() or reference.sum() < 2:
        return popularity
    viewers = np.asarray(viewers, dtype=np.float64)
    start, end = (np.datetime64(moment, "us") for moment in period)
    prior = prior_days / max(float((end - start) / _DAY), 1e-9)
    share = released_share(released_at, period)
    out = released & (share > 0)
    usual = viewers[out].sum() / share[out].sum() if out.any() else np.median(viewers[reference])
    rates = (viewers[targets] + prior * usual) / (share[targets] + prior + 1e-12)
    rates[(share[targets] == 0) & (viewers[targets] == 0)] = usual  # whatever the prior
    group_rates, group_popularity = _rate_groups(viewers[reference], popularity[reference])
    out = popularity.copy()
    out[targets] = np.interp(rates, group_rates, group_popularity)
    return out


def _rate_groups(rates: np.ndarray, popularity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean rate, mean popularity made non-decreasing) of :data:`HISTORY_GROUPS` groups of
    titles of equal size, by rate; groups of equal mean rate merged."""
    order = np.argsort(rates, kind="stable")
    count = len(order)
    group = np.arange(count) * min(HISTORY_GROUPS, count) // count
    sizes = np.bincount(group).astype(np.float64)
    mean_rate = np.bincount(group, rates[order]) / sizes
    total = np.bincount(group, popularity[order].astype(np.float64))
    keys, merged = np.unique(mean_rate, return_inverse=True)
    sizes_m = np.bincount(merged, sizes)
    means = np.bincount(merged, total) / sizes_m
    return keys, isotonic_regression(means, weights=sizes_m).x


def genre_mix(
    history: sp.csr_matrix,
    genres: np.ndarray,
    audience: np.ndarray,
    prior: float,
    iterations: int,
    mass: np.ndarray | None = None,
) -> np.ndarray:
    """users x genres: each user's share of liking for each genre, from ``history``.

    EM of a mixture whose components are the genres (``genres``: titles x genres,
    rows sharing 1): the E step shares each watched title among its genres in
    proportion to ``theta``; the M step sets ``theta`` to those shares plus ``prior``
    pseudo-titles spread as ``audience`` (a distribution over genres), normalised.
    ``mass`` (per genre): how much choosing there is in each genre (the sum of its
    titles' appeal); a genre's share of a user's choices is their liking times its
    mass, so liking is the share over the mass.
    """
    history = sp.csr_matrix(history, dtype=np.float64)
    genres = np.asarray(genres, dtype=np.float64)
    counts = np.asarray(history @ genres)  # the even share: EM's first E step
    mass = np.ones(genres.shape[1]) if mass is None else np.maximum(mass, 1e-12)
    theta = _normalised((counts + prior * audience) / mass, audience)
    rows = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))
    for _ in range(iterations):
        fit = np.einsum("ij,ij->i", theta[rows], genres[history.indices])
        share = np.divide(history.data, fit, out=np.zeros_like(fit), where=fit > 0)
        weighted = sp.csr_matrix((share, history.indices, history.indptr), shape=history.shape)
        counts = np.asarray(weighted @ genres) * theta
        theta = _normalised((counts + prior * audience) / mass, audience)
    return theta.astype(np.float32)


def _normalised(counts: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=1, keepdims=True)
    out = np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)
    out[total[:, 0] <= 0] = fallback
    return out


class Content(Ranker):
    """Genres learnt from a user's history, and the catalogue's popularity and quality."""

    name: ClassVar[str] = "content"
    Config = ContentConfig
    space: ClassVar[dict[str, Param]] = {
        "genre_prior": Param(0.01, 3, log=True),
        "em_iterations": Param(0, 30, integer=True),
        "floor": Param(0.001, 0.1, log=True),
        "popularity_weight": Param(0.0, 1.0),
        "quality_weight": Param(0.0, 1.0),
        "viewers_weight": Param(-0.3, 0.5),
        "side_weight": Param(0.0, 1.0),
        "history_prior_days": Param(0.5, 60, log=True),
    }

    def __init__(
        self,
        config: Section,
        theta: np.ndarray,
        audience: np.ndarray,
        genres: np.ndarray,
        side: np.ndarray,
        appeal: np.ndarray,
    ) -> None:
        super().__init__(config)
        self.theta = np.asarray(theta, dtype=np.float32)
        self.audience = np.asarray(audience, dtype=np.float64)
        self.genres = np.asarray(genres, dtype=np.float32)
        self.side = np.asarray(side, dtype=np.float32)
        self.appeal = np.asarray(appeal, dtype=np.float32)  # the score's terms of the title alone
        self.scale = np.float32(max(self.genres.shape[1], 1))

    @classmethod
    def fit(cls, data: TrainingData, config: Section) -> Ranker:
        """Estimate every training user's genre mix."""
        assert isinstance(config, ContentConfig) and data.titles.features is not None
        features = data.titles.features
        genres = features.genres.astype(np.float64)
        popularity = history_popularity(
            features.popularity,
            features.votes_known,
            data.titles.released_at,
            data.viewers,
            data.period,
            config.history_prior_days,
        )
        appeal = (
            config.popularity_weight * popularity
            + config.quality_weight * features.quality
            + config.viewers_weight * standardised(np.log1p(data.viewers))
        )
        mass = genres.T @ np.exp(appeal - appeal.max()) if len(appeal) else None
        seen = sp.csr_matrix(data.seen)
        shares = np.asarray(seen.sum(axis=0)).ravel() @ genres
        total = shares.sum()
        audience = shares / total if total > 0 else np.full(len(shares), 1 / max(len(shares), 1))
        theta = np.vstack(
            [
                genre_mix(
                    seen[start : start + _CHUNK_USERS],
                    genres,
                    audience,
                    config.genre_prior,
                    config.em_iterations,
                    mass,
                )
                for start in range(0, seen.shape[0], _CHUNK_USERS)
            ]
            or [np.zeros((0, genres.shape[1]), dtype=np.float32)]
        )
        if mass is not None:  # the audience's liking, as a user's: shares over the mass
            audience = audience / np.maximum(mass, 1e-12)
            audience /= audience.sum()
        return cls(config, theta, audience, genres, side_features(data.titles), appeal)

    def _scores(self, theta: np.ndarray, history: sp.csr_matrix | None) -> np.ndarray:
        config = self.config
        assert isinstance(config, ContentConfig)
        fit = theta @ self.genres.T
        fit *= self.scale
        fit += np.float32(config.floor)
        scores = np.log(fit, out=fit)
        scores += self.appeal
        if history is not None and config.side_weight > 0:
            counts = np.asarray(history.sum(axis=1), dtype=np.float32)
            counts[counts == 0] = 1.0
            profile = np.asarray(history @ self.side, dtype=np.float32) / counts
            scores += np.float32(config.side_weight) * (profile @ self.side.T)
        return scores

    def user_scores(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """The score of the module docstring for each title."""
        return self._scores(self.theta[rows], sp.csr_matrix(history, dtype=np.float32))

    def title_vectors(self) -> np.ndarray:
        """Genres and side features."""
        return np.hstack([self.genres, self.side])

    def arrays(self) -> dict[str, np.ndarray]:
        """The users' genre mixes, the audience's, and the titles' features and appeal."""
        return {
            "theta": self.theta,
            "audience": self.audience,
            "genres": self.genres,
            "side": self.side,
            "appeal": self.appeal,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], config: Section) -> Ranker:
        """The model :meth:`arrays` saved."""
        return cls(
            config,
            arrays["theta"],
            arrays["audience"],
            arrays["genres"],
            arrays["side"],
            arrays["appeal"],
        )
