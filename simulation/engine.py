"""The simulation's entry points: generate a population (pure), or simulate into the warehouse."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation import frames
from simulation.catalogue import Catalogue, read_catalogue
from simulation.config import SimulationConfig, as_config
from simulation.errors import SimulationError
from simulation.sessions import draw_runs, place_sessions, rate_sessions, session_counts
from simulation.tastes import ChoiceSampler, draw_tastes
from simulation.users import active_windows, draw_users
from simulation.writing import WRITE_ORDER, next_ids, write_frames

logger = logging.getLogger(__name__)

#: ``progress(phase, fraction)``: the phase now running and the share of the whole run done.
ProgressCallback = Callable[[str, float], None]

#: Share of a whole run each generation phase takes (roughly), for progress reports.
_GENERATION_SHARE = {
    "users": 0.01,
    "tastes": 0.02,
    "runs": 0.08,
    "placement": 0.08,
    "ratings": 0.01,
    "frames": 0.02,
}
_CATALOGUE_SHARE = 0.01
#: Relative cost of writing one row of each table (user_tastes rows carry arrays).
_WRITE_COST = {"users": 0.5, "user_tastes": 1.3, "sessions": 1.0, "ratings": 0.9}

#: The random streams, one per phase, so that a change in one phase leaves the others alone.
_STREAMS = ("users", "tastes", "counts", "runs", "placement", "ratings")


@dataclass(frozen=True)
class Population:
    """A generated population: DataFrames with exactly the landing tables' columns."""

    users: pd.DataFrame
    user_tastes: pd.DataFrame
    sessions: pd.DataFrame
    ratings: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        """The four DataFrames by landing table name, in write order."""
        return {name: getattr(self, name) for name in WRITE_ORDER}


@dataclass(frozen=True)
class SimulationReport:
    """What a simulation wrote, and how long each phase took."""

    users: int
    sessions: int
    ratings: int
    #: First and last user_id written (inclusive); None when no users.
    user_ids: tuple[int, int] | None
    #: First and last session_id written (inclusive); None when no sessions.
    session_ids: tuple[int, int] | None
    seed: int
    config_source: str
    #: Seconds per phase, in the order they ran.
    seconds: dict[str, float]

    @property
    def total_seconds(self) -> float:
        """Seconds of all phases together."""
        return sum(self.seconds.values())

    def describe(self) -> str:
        """A few lines for people."""

        def ids(span: tuple[int, int] | None) -> str:
            return f"ids {span[0]}..{span[1]}" if span else "none"

        phases = ", ".join(f"{name} {secs:.1f} s" for name, secs in self.seconds.items())
        return "\n".join(
            [
                f"users:    {self.users:>12,} ({ids(self.user_ids)})",
                f"sessions: {self.sessions:>12,} ({ids(self.session_ids)})",
                f"ratings:  {self.ratings:>12,}",
                f"seed {self.seed}, config {self.config_source}",
                f"took {self.total_seconds:.1f} s: {phases}",
            ]
        )


class _Clock:
    """Times phases and reports progress through them."""

    def __init__(self, progress: ProgressCallback | None, done: float = 0.0) -> None:
        self.seconds: dict[str, float] = {}
        self.progress = progress
        self.done = done

    @contextmanager
    def phase(self, name: str, share: float) -> Iterator[None]:
        if self.progress is not None:
            self.progress(name, self.done)
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started
        logger.debug("%s took %.2f s", name, self.seconds[name])
        self.done += share
        if self.progress is not None:
            self.progress(name, min(self.done, 1.0))


def _streams(seed: int, first_user_id: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence([seed, first_user_id]).spawn(len(_STREAMS))
    return {
        name: np.random.default_rng(child) for name, child in zip(_STREAMS, children, strict=True)
    }


def _check_arguments(users: int, seed: int) -> None:
    if isinstance(users, bool) or not isinstance(users, int | np.integer) or users < 0:
        raise SimulationError(f"users must be a whole number >= 0, got {users!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise SimulationError(f"seed must be a whole number >= 0, got {seed!r}")


def generate_population(
    users: int,
    seed: int,
    catalogue: Catalogue,
    config: SimulationConfig | Path | str | None = None,
    *,
    first_user_id: int = 1,
    first_session_id: int = 1,
    progress: ProgressCallback | None = None,
    _clock: _Clock | None = None,
) -> Population:
    """Fabricate ``users`` users with their hidden tastes, sessions and ratings. Pure.

    The result depends only on the arguments: the same ``seed``, config,
    catalogue and first ids give identical DataFrames. ``first_user_id`` also
    feeds the random streams, so a population appended after existing users
    differs from the first one made with the same seed.
    """
    _check_arguments(users, seed)
    config = as_config(config)
    clock = _clock or _Clock(progress)
    streams = _streams(int(seed), int(first_user_id))
    count = int(users)

    with clock.phase("users", _GENERATION_SHARE["users"]):
        population = draw_users(count, config, streams["users"])
        window_start, window_end = active_windows(population, config)
    with clock.phase("tastes", _GENERATION_SHARE["tastes"]):
        tastes = draw_tastes(count, catalogue.genre_count, config, streams["tastes"])
        sampler = ChoiceSampler(catalogue, config, tastes.bias_level)
    with clock.phase("runs", _GENERATION_SHARE["runs"]):
        counts = session_counts(window_start, window_end, config, streams["counts"])
        run_users, run_titles, run_lengths = draw_runs(
            counts, tastes, sampler, config, streams["runs"]
        )
    with clock.phase("placement", _GENERATION_SHARE["placement"]):
        viewing = place_sessions(
            run_users,
            run_titles,
            run_lengths,
            window_start,
            window_end,
            catalogue,
            config,
            streams["placement"],
        )
    with clock.phase("ratings", _GENERATION_SHARE["ratings"]):
        ratings = rate_sessions(viewing, tastes, catalogue, config, streams["ratings"])
    with clock.phase("frames", _GENERATION_SHARE["frames"]):
        result = Population(
            users=frames.users_frame(population, first_user_id, config),
            user_tastes=frames.tastes_frame(tastes, first_user_id),
            sessions=frames.sessions_frame(viewing, first_user_id, first_session_id, catalogue),
            ratings=frames.ratings_frame(ratings, first_session_id),
            seconds=dict(clock.seconds),
        )
    logger.info(
        "generated %d users, %d sessions (%d runs), %d ratings",
        count,
        viewing.count,
        len(run_users),
        len(ratings.rating),
    )
    return result


def simulate(
    users: int,
    seed: int,
    config: SimulationConfig | Path | str | None = None,
    *,
    warehouse: Any = None,
    progress: ProgressCallback | None = None,
) -> SimulationReport:
    """Simulate ``users`` new users and their sessions, and write them to the warehouse.

    Reads the catalogue from the marts and the largest user_id and session_id
    from ``sim``; new ids continue after them, so a second run appends. Writes
    sim.users, sim.user_tastes, sim.sessions and sim.ratings in one
    transaction through python_api (``warehouse``: a ``python_api.Warehouse``;
    default: ``python_api.connect(role="scientist")``). ``config``: a
    :class:`SimulationConfig`, a TOML file, or None for the defaults.
    ``progress(phase, fraction)`` is called as the run advances.
    """
    _check_arguments(users, seed)
    config = as_config(config)
    own_connection = warehouse is None
    if own_connection:
        import python_api

        warehouse = python_api.connect(role="scientist")
    clock = _Clock(progress)
    try:
        with clock.phase("read catalogue", _CATALOGUE_SHARE):
            catalogue = read_catalogue(warehouse)
            first_user_id, first_session_id = next_ids(warehouse)
        population = generate_population(
            users,
            seed,
            catalogue,
            config,
            first_user_id=first_user_id,
            first_session_id=first_session_id,
            _clock=clock,
        )
        frames_by_table = population.frames()
        write_share = max(1.0 - clock.done, 0.0)
        cost = sum(_WRITE_COST[t] * len(f) for t, f in frames_by_table.items()) or 1.0

        def on_chunk(table: str, rows: int) -> None:
            clock.done += write_share * _WRITE_COST[table] * rows / cost
            if progress is not None:
                progress(f"write {table}", min(clock.done, 1.0))

        started = time.perf_counter()
        for_table = write_frames(warehouse, frames_by_table, on_chunk=on_chunk)
        for table, secs in for_table.items():
            clock.seconds[f"write {table}"] = secs
        logger.debug("write transaction took %.2f s", time.perf_counter() - started)
    finally:
        if own_connection:
            warehouse.close()

    sessions = len(population.sessions)
    return SimulationReport(
        users=len(population.users),
        sessions=sessions,
        ratings=len(population.ratings),
        user_ids=(first_user_id, first_user_id + len(population.users) - 1)
        if len(population.users)
        else None,
        session_ids=(first_session_id, first_session_id + sessions - 1) if sessions else None,
        seed=int(seed),
        config_source=config.source,
        seconds=dict(clock.seconds),
    )
