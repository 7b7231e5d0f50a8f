"""Discovery: users start watching simulated titles once they are out, as their tastes say.

A user who starts a run at time ``τ`` chooses among the catalogue's titles and the
simulated titles available then (released at or before ``τ``, not retired), with
probability proportional to ``exp(utility)`` over all of them (:mod:`simulation.tastes`).
Runs are first drawn from the catalogue alone (:func:`~simulation.sessions.draw_runs`);
then, day by day of the period, each run of the day switches to a simulated title with
probability ``W_new / (W_catalogue + W_new)``, the two sums of ``exp(utility)`` of the
user (exactly: the choice is a mixture of the two sets), and the title is drawn inside the
new set as catalogue titles are, by the user's genre affinities. A title drawn before its
own release that day, or a movie the user has already started, leaves the run as it was.
A run switched to a show keeps its length when it was a show's (else a binge is drawn);
one switched to a movie is one session.

**Popularity from history.** A simulated title has no IMDb votes: its popularity term is
its own history. Its *viewing rate* is its sessions so far divided by the users' time on
the service since its release (plus a week's worth, :data:`HISTORY_PRIOR_DAYS`, so that
a title just out with a few sessions does not look like a hit); a catalogue title's is
its sessions (as drawn) over the users' whole time. A title gets the mean popularity of
the catalogue titles viewed at its rate (:class:`HistoryPopularity`), recomputed at the
start of each day: a new title starts near the bottom and climbs as people watch it.
History is counted among the users of the chunk being generated (chunks are independent;
a rate per user time does not depend on the chunk's size). :class:`~simulation.TasteOracle`
scores simulated titles with the same mapping, from their sessions in the marts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression
from scipy.special import expit
from threadpoolctl import threadpool_limits

from simulation.catalogue import Catalogue
from simulation.config import SimulationConfig
from simulation.releases import Releases
from simulation.sessions import binge_lengths
from simulation.tastes import ChoiceSampler, Tastes, bias_from_level
from simulation.users import DAY, epoch_seconds

logger = logging.getLogger(__name__)

#: A simulated title's viewing rate counts this many days of the users' time more than it
#: has had: a prior that keeps a title with a handful of early viewers from looking a hit.
HISTORY_PRIOR_DAYS = 7.0
#: Groups of catalogue titles (by viewing rate) behind :func:`history_popularity`.
HISTORY_BINS = 20


@dataclass(frozen=True)
class Discovered:
    """Runs after discovery, and the catalogue their titles index.

    ``catalogue``: the catalogue's titles then the simulated ones (index ``size + i``),
    the simulated titles' popularity as their history made it by the period's end.
    """

    titles: np.ndarray
    lengths: np.ndarray
    catalogue: Catalogue
    #: Runs that switched to a simulated title.
    switched: int


class HistoryPopularity:
    """Popularity for viewing rates: the mean popularity of catalogue titles viewed at
    that rate (``catalogue_rates``, ``catalogue_popularity``: the catalogue's own).

    The catalogue's titles, ordered by their own rates, fall into :data:`HISTORY_BINS`
    groups of equal size; each group's mean popularity, made non-decreasing in the rate
    (pool-adjacent-violators), is interpolated linearly between the groups' mean rates
    (and held beyond the first and last). A conditional mean, not a matching of ranks: a
    title watched a lot for its genres is not thereby as popular as a blockbuster, since
    the catalogue's rates follow tastes more than IMDb votes.
    """

    def __init__(self, catalogue_rates: np.ndarray, catalogue_popularity: np.ndarray) -> None:
        catalogue_rates = np.asarray(catalogue_rates, dtype=np.float64)
        count = len(catalogue_rates)
        if not count:
            self._rates, self._means = np.zeros(1), np.zeros(1)
            return
        order = np.argsort(catalogue_rates, kind="stable")
        frame = pd.DataFrame(
            {
                "rate": catalogue_rates[order],
                "popularity": np.asarray(catalogue_popularity, dtype=np.float64)[order],
                "group": np.arange(count) * min(HISTORY_BINS, count) // count,
            }
        )
        groups = frame.groupby("group").agg(
            rate=("rate", "mean"), total=("popularity", "sum"), size=("rate", "size")
        )
        # groups of equal mean rate (ties across a boundary) become one
        merged = groups.groupby("rate", sort=True)[["total", "size"]].sum()
        self._rates = merged.index.to_numpy(np.float64)
        sizes = merged["size"].to_numpy(np.float64)
        self._means = isotonic_regression(merged["total"].to_numpy() / sizes, weights=sizes).x

    def __call__(self, rates: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(rates, dtype=np.float64), self._rates, self._means)


def history_popularity(
    rates: np.ndarray, catalogue_rates: np.ndarray, catalogue_popularity: np.ndarray
) -> np.ndarray:
    """Popularity for viewing ``rates`` (:class:`HistoryPopularity` says how)."""
    return HistoryPopularity(catalogue_rates, catalogue_popularity)(rates)


class _Exposure:
    """Users' time on the service before a moment: ``sum_u |[start_u, end_u) ∩ (-inf, x)|``."""

    def __init__(self, window_start: np.ndarray, window_end: np.ndarray) -> None:
        self._starts = np.sort(window_start.astype(np.float64))
        self._ends = np.sort(window_end.astype(np.float64))
        self._start_sums = np.concatenate([[0.0], np.cumsum(self._starts)])
        self._end_sums = np.concatenate([[0.0], np.cumsum(self._ends)])
        self.total = float((window_end - window_start).sum())

    def before(self, moments: np.ndarray) -> np.ndarray:
        x = np.asarray(moments, dtype=np.float64)
        started = np.searchsorted(self._starts, x, side="left")
        ended = np.searchsorted(self._ends, x, side="left")
        return (started * x - self._start_sums[started]) - (ended * x - self._end_sums[ended])


class _Offer:
    """The simulated titles out on a day, for the users of that day's runs: each user's
    ``ln sum_t exp(utility)`` over them (on the scale of
    :meth:`ChoiceSampler.log_total_weights`), and draws proportional to ``exp(utility)``.

    ``exp(utility(u, t)) = (taste_floor + K affinity_u . genres_t) * base(bias_u, t)``,
    ``base = exp(bias * popularity + quality_weight * quality)``: per bias level, the
    titles' bases summed per genre give every user's total at once.
    """

    def __init__(
        self,
        releases: Releases,
        available: np.ndarray,
        popularity: np.ndarray,
        tastes: Tastes,
        users: np.ndarray,
        config: SimulationConfig,
    ) -> None:
        self.levels, level_row = np.unique(tastes.bias_level[users], return_inverse=True)
        log_base = bias_from_level(self.levels)[:, None] * popularity[available][None, :]
        log_base += config.popularity.quality_weight * releases.quality[available][None, :]
        scale = log_base.max(axis=1, keepdims=True)
        self.base = np.exp(log_base - scale)  # levels x titles
        self.genres = releases.genre_weights[available]  # titles x genres
        self.floor = config.tastes.taste_floor
        self.affinities = tastes.affinities[users] * tastes.affinities.shape[1]  # K * affinity
        self.level_row = level_row.reshape(-1)
        per_genre = self.base @ self.genres  # levels x genres
        totals = self.floor * self.base.sum(axis=1)[self.level_row]
        totals += np.einsum("ij,ij->i", self.affinities, per_genre[self.level_row])
        with np.errstate(divide="ignore"):
            self.log_totals = np.log(totals) + scale[self.level_row, 0]

    def draw(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A title (index into the available ones) for each of the users at ``rows``."""
        weights = self.floor + self.affinities[rows] @ self.genres.T
        weights *= self.base[self.level_row[rows]]
        cumulative = np.cumsum(weights, axis=1)
        target = rng.random(len(rows)) * cumulative[:, -1]
        drawn = (cumulative <= target[:, None]).sum(axis=1)
        return np.minimum(drawn, cumulative.shape[1] - 1)


def discover(
    run_users: np.ndarray,
    run_titles: np.ndarray,
    run_lengths: np.ndarray,
    run_start: np.ndarray,
    window_start: np.ndarray,
    window_end: np.ndarray,
    tastes: Tastes,
    sampler: ChoiceSampler,
    releases: Releases,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> Discovered:
    """Switch runs to simulated titles as users discover them (the module docstring says how).

    ``run_*``: the runs drawn from the catalogue (``sampler``'s) and their drawn starts;
    ``window_*``: each user's time on the service.
    """
    catalogue = sampler.catalogue
    size, count = catalogue.size, releases.size
    titles, lengths = run_titles.copy(), run_lengths.copy()
    period_start = epoch_seconds(config.period.start)
    period_days = max((epoch_seconds(config.period.end) - period_start) / DAY, 1.0)

    exposure = _Exposure(window_start, window_end)
    scale = max(exposure.total, 1.0)
    prior = HISTORY_PRIOR_DAYS / period_days  # in shares of the whole exposure
    # rates in sessions per the users' whole time (exposure / scale = 1)
    catalogue_rates = np.bincount(run_titles, weights=run_lengths, minlength=size)
    popularity_of = HistoryPopularity(catalogue_rates, catalogue.popularity)
    sessions = np.zeros(count, dtype=np.float64)

    def popularity_at(moment: float) -> np.ndarray:
        since = exposure.before(np.minimum(releases.released_at.astype(np.float64), moment))
        out = np.maximum(exposure.before(np.array([moment]))[0] - since, 0.0) / scale
        return popularity_of(sessions / (out + prior))

    log_catalogue = sampler.log_total_weights(tastes)
    started: set[int] = set()  # (user, movie) keys
    switched = 0
    order = np.argsort(run_start, kind="stable")
    day = (run_start[order] - period_start) // DAY
    bounds = np.flatnonzero(np.r_[True, day[1:] != day[:-1], True]) if len(day) else [0]
    # many small products, day after day: BLAS threads would only wait on each other
    with threadpool_limits(1, user_api="blas"):
        for first, last in zip(bounds[:-1], bounds[1:], strict=True):
            runs = order[first:last]
            day_start = period_start + int(day[first]) * DAY
            available = np.flatnonzero(
                (releases.released_at < day_start + DAY) & (releases.retired_at > day_start)
            )
            if not available.size:
                continue
            offer = _Offer(
                releases,
                available,
                popularity_at(float(day_start)),
                tastes,
                run_users[runs],
                config,
            )
            share = expit(offer.log_totals - log_catalogue[run_users[runs]])
            chosen = np.flatnonzero(rng.random(len(runs)) < share)
            if not chosen.size:
                continue
            drawn = available[offer.draw(chosen, rng)]
            binges = binge_lengths(len(chosen), config, rng)
            for run, title, binge in zip(runs[chosen], drawn, binges, strict=True):
                when = run_start[run]
                if releases.released_at[title] > when or releases.retired_at[title] <= when:
                    continue  # not out yet at this hour (or gone): the catalogue's title stays
                shows = bool(releases.is_show[title])
                if not shows:
                    key = int(run_users[run]) * count + int(title)
                    if key in started:
                        continue  # a movie is started once
                    started.add(key)
                    lengths[run] = 1
                elif not catalogue.is_show[titles[run]]:
                    lengths[run] = binge
                titles[run] = size + title
                sessions[title] += lengths[run]
                switched += 1
    final = popularity_at(float(epoch_seconds(config.period.end)))
    logger.debug("%d of %d runs went to %d simulated titles", switched, len(titles), count)
    return Discovered(
        titles=titles,
        lengths=lengths,
        catalogue=catalogue.extended(
            releases.title_ids,
            releases.is_show,
            releases.runtime_minutes,
            releases.genre_weights,
            final,
            releases.quality,
        ),
        switched=switched,
    )
