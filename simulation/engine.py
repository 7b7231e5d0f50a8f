"""The simulation's entry points: generate a population (pure), or simulate into the warehouse.

A population is generated in chunks of :data:`CHUNK_USERS` consecutive users,
each chunk with random streams of its own (derived from the seed, the first
user id of the run and the chunk's number), so the rows depend only on the
seed, the config, the catalogue, the simulated titles and the first ids.
:func:`simulate` writes the run's new titles (``releases.rate``), then chunk
``k`` (in a background thread, inside one transaction) while it generates chunk
``k + 1``. Users of every chunk discover the simulated titles (sim.titles and
the run's new ones) after their release (:mod:`simulation.discovery`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import python_api
from simulation import frames
from simulation.catalogue import (
    Catalogue,
    catalogue_from_frames,
    read_catalogue_frames,
    without_retired,
)
from simulation.config import SimulationConfig, as_config
from simulation.discovery import discover
from simulation.errors import SimulationError
from simulation.releases import (
    NewTitles,
    Releases,
    new_titles,
    read_catalogue_mix,
    read_release_state,
    release_count,
    releases_from_titles,
)
from simulation.sessions import (
    draw_runs,
    place_sessions,
    rate_sessions,
    run_start_times,
    session_counts,
)
from simulation.tastes import ChoiceSampler, draw_tastes
from simulation.users import active_windows, draw_users
from simulation.writing import WRITE_ORDER, check_id_room, next_ids, write_chunk, write_titles

logger = logging.getLogger(__name__)

#: ``progress(phase, fraction)``: the phase now running and the share of the whole run done.
ProgressCallback = Callable[[str, float], None]

#: Users per chunk. Part of what the rows depend on: changing it changes the population.
CHUNK_USERS = 200_000

#: The random streams of a chunk, one per phase, so that a change in one phase
#: leaves the others alone (a stream added at the end leaves the others as they were).
_STREAMS = ("users", "tastes", "counts", "runs", "placement", "ratings", "discovery")

#: Share of a chunk's work (for progress reports) in each generation phase and write.
_WORK = {
    "users": 0.01,
    "tastes": 0.02,
    "runs": 0.08,
    "placement": 0.08,
    "discovery": 0.02,
    "ratings": 0.01,
    "frames": 0.02,
    "write users": 0.05,
    "write user_tastes": 0.13,
    "write sessions": 0.50,
    "write ratings": 0.10,
}
_CATALOGUE_WORK = 0.01


@dataclass(frozen=True)
class Population:
    """A generated population: DataFrames with exactly the landing tables' columns."""

    users: pd.DataFrame
    user_tastes: pd.DataFrame
    sessions: pd.DataFrame
    ratings: pd.DataFrame
    #: Seconds per generation phase.
    seconds: dict[str, float] = field(default_factory=dict)
    #: Sessions of simulated titles (sim.titles, or new in this run).
    release_sessions: int = 0

    def frames(self) -> dict[str, pd.DataFrame]:
        """The four DataFrames by landing table name, in write order."""
        return {name: getattr(self, name) for name in WRITE_ORDER}


@dataclass(frozen=True)
class SimulationReport:
    """What a simulation wrote, and how long it took."""

    users: int
    sessions: int
    ratings: int
    #: First and last user_id written (inclusive); None when no users.
    user_ids: tuple[int, int] | None
    #: First and last session_id written (inclusive); None when no sessions.
    session_ids: tuple[int, int] | None
    seed: int
    config_source: str
    #: Seconds per phase, summed over chunks, in the order they first ran.
    #: Generation and writing overlap, so they add up to more than ``wall_seconds``.
    seconds: dict[str, float]
    #: Seconds from start to commit.
    wall_seconds: float
    #: New titles written to sim.titles (releases.rate), and their credits.
    titles: int = 0
    credits: int = 0
    #: First and last title_id of the new titles; None when none.
    title_ids: tuple[str, str] | None = None
    #: Sessions of simulated titles (the new ones and those sim.titles held).
    release_sessions: int = 0

    def describe(self) -> str:
        """A few lines for people."""

        def ids(span: tuple[int, int] | None) -> str:
            return f"ids {span[0]}..{span[1]}" if span else "none"

        phases = ", ".join(f"{name} {secs:.1f} s" for name, secs in self.seconds.items())
        lines = [
            f"users:    {self.users:>12,} ({ids(self.user_ids)})",
            f"sessions: {self.sessions:>12,} ({ids(self.session_ids)})",
            f"ratings:  {self.ratings:>12,}",
        ]
        if self.titles:
            lines.append(
                f"titles:   {self.titles:>12,} ({ids(self.title_ids)}; {self.credits:,} credits)"
            )
        if self.titles or self.release_sessions:
            lines.append(f"sessions of simulated titles: {self.release_sessions:,}")
        return "\n".join(
            [
                *lines,
                f"seed {self.seed}, config {self.config_source}",
                f"took {self.wall_seconds:.1f} s; phases (writing overlaps generation): {phases}",
            ]
        )


class _Meter:
    """Thread-safe phase timings and progress."""

    def __init__(self, progress: ProgressCallback | None, total_work: float) -> None:
        self.seconds: dict[str, float] = {}
        self._progress = progress
        self._total = max(total_work, 1e-9)
        self._done = 0.0
        self._lock = threading.Lock()

    def _report(self, name: str) -> None:
        if self._progress is not None:
            self._progress(name, min(self._done / self._total, 1.0))

    @contextmanager
    def phase(self, name: str, work: float) -> Iterator[None]:
        with self._lock:
            self._report(name)
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
            self._done += work
            self._report(name)
        logger.debug("%s took %.2f s", name, elapsed)

    def add(self, name: str, seconds: float, work: float) -> None:
        """Record a phase timed elsewhere (a write)."""
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            self._done += work
            self._report(name)


def _streams(seed: int, first_user_id: int, chunk: int = 0) -> dict[str, np.random.Generator]:
    root = np.random.SeedSequence([seed, first_user_id, chunk])
    children = root.spawn(len(_STREAMS))
    return {
        name: np.random.default_rng(child) for name, child in zip(_STREAMS, children, strict=True)
    }


def _check_arguments(users: int, seed: int) -> None:
    if isinstance(users, bool) or not isinstance(users, int | np.integer) or users < 0:
        raise SimulationError(f"users must be a whole number >= 0, got {users!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise SimulationError(f"seed must be a whole number >= 0, got {seed!r}")


def _generate_chunk(
    count: int,
    streams: dict[str, np.random.Generator],
    catalogue: Catalogue,
    config: SimulationConfig,
    first_user_id: int,
    first_session_id: int,
    meter: _Meter,
    share: float,
    *,
    run_first_session_id: int,
    releases: Releases | None = None,
) -> Population:
    """``count`` users with tastes, sessions and ratings, ids from the given firsts.

    ``run_first_session_id``: the run's first session id (one past the largest in
    sim.sessions), to refuse sessions whose ids would pass the bigint maximum before
    any id is computed. ``releases``: simulated titles users may discover.
    """
    with meter.phase("users", _WORK["users"] * share):
        population = draw_users(count, config, streams["users"])
        window_start, window_end = active_windows(population, config)
    with meter.phase("tastes", _WORK["tastes"] * share):
        tastes = draw_tastes(count, catalogue.genre_count, config, streams["tastes"])
        sampler = ChoiceSampler(catalogue, config, tastes.bias_level)
    with meter.phase("runs", _WORK["runs"] * share):
        counts = session_counts(window_start, window_end, config, streams["counts"])
        run_users, run_titles, run_lengths = draw_runs(
            counts, tastes, sampler, config, streams["runs"]
        )
    run_start = None
    if releases is not None and releases.size:
        with meter.phase("discovery", _WORK["discovery"] * share):
            run_start = run_start_times(run_users, window_start, window_end, streams["placement"])
            found = discover(
                run_users,
                run_titles,
                run_lengths,
                run_start,
                window_start,
                window_end,
                tastes,
                sampler,
                releases,
                config,
                streams["discovery"],
            )
            run_titles, run_lengths, catalogue = found.titles, found.lengths, found.catalogue
    with meter.phase("placement", _WORK["placement"] * share):
        viewing = place_sessions(
            run_users,
            run_titles,
            run_lengths,
            window_start,
            window_end,
            catalogue,
            config,
            streams["placement"],
            run_start=run_start,
        )
    with meter.phase("ratings", _WORK["ratings"] * share):
        ratings = rate_sessions(viewing, tastes, catalogue, config, streams["ratings"])
    sessions_so_far = first_session_id - run_first_session_id
    check_id_room(
        "sim.sessions", "session_id", run_first_session_id, sessions_so_far + viewing.count
    )
    with meter.phase("frames", _WORK["frames"] * share):
        chunk = Population(
            users=frames.users_frame(population, first_user_id, config),
            user_tastes=frames.tastes_frame(tastes, first_user_id),
            sessions=frames.sessions_frame(viewing, first_user_id, first_session_id, catalogue),
            ratings=frames.ratings_frame(ratings, first_session_id),
            release_sessions=int((viewing.title >= sampler.catalogue.size).sum()),
        )
    logger.debug(
        "chunk of %d users: %d sessions in %d runs, %d ratings",
        count,
        viewing.count,
        len(run_users),
        len(ratings.rating),
    )
    return chunk


def _chunks(
    users: int,
    seed: int,
    catalogue: Catalogue,
    config: SimulationConfig,
    first_user_id: int,
    first_session_id: int,
    meter: _Meter,
    releases: Releases | None = None,
) -> Iterator[Population]:
    """The population, chunk after chunk (at least one, possibly empty).

    Refuses (IdOverflowError) before generating anything when the users' ids would
    pass the bigint maximum; the sessions' count is known chunk by chunk.
    """
    check_id_room("sim.users", "user_id", first_user_id, users)
    next_user, next_session = first_user_id, first_session_id
    for index, start in enumerate(range(0, max(users, 1), CHUNK_USERS)):
        count = min(CHUNK_USERS, users - start)
        chunk = _generate_chunk(
            count,
            _streams(seed, first_user_id, index),
            catalogue,
            config,
            next_user,
            next_session,
            meter,
            share=count / max(users, 1),
            run_first_session_id=first_session_id,
            releases=releases,
        )
        next_user += count
        next_session += len(chunk.sessions)
        yield chunk


def generate_population(
    users: int,
    seed: int,
    catalogue: Catalogue,
    config: SimulationConfig | Path | str | None = None,
    *,
    first_user_id: int = 1,
    first_session_id: int = 1,
    releases: Releases | None = None,
) -> Population:
    """Fabricate ``users`` users with their hidden tastes, sessions and ratings. Pure.

    The result depends only on the arguments: the same ``seed``, config,
    catalogue, releases and first ids give identical DataFrames (and :func:`simulate`
    writes exactly these rows). ``first_user_id`` also feeds the random
    streams, so a population appended after existing users is not a copy of
    the first one made with the same seed. ``releases``: simulated titles
    (:func:`simulation.releases.releases_from_titles`) users discover after their
    release; their sessions name them.
    """
    _check_arguments(users, seed)
    config = as_config(config)
    meter = _Meter(None, 1.0)
    parts = list(
        _chunks(
            int(users),
            int(seed),
            catalogue,
            config,
            first_user_id,
            first_session_id,
            meter,
            releases,
        )
    )
    release_sessions = sum(part.release_sessions for part in parts)
    if len(parts) == 1:
        only = parts[0]
        return Population(
            only.users,
            only.user_tastes,
            only.sessions,
            only.ratings,
            meter.seconds,
            release_sessions,
        )
    joined = {
        name: pd.concat([part.frames()[name] for part in parts], ignore_index=True)
        for name in WRITE_ORDER
    }
    return Population(**joined, seconds=meter.seconds, release_sessions=release_sessions)


def simulate(
    users: int,
    seed: int,
    config: SimulationConfig | Path | str | None = None,
    *,
    warehouse: python_api.Warehouse | None = None,
    progress: ProgressCallback | None = None,
) -> SimulationReport:
    """Simulate ``users`` new users and their sessions, and write them to the warehouse.

    Reads the catalogue from the marts, the simulated titles of sim.titles, and
    the largest user_id and session_id from ``sim``; new ids continue after them,
    so a second run appends. With ``releases.rate`` > 0, makes new titles released
    during the period (:mod:`simulation.releases`; ids, names and person ids after
    those in the warehouse). Writes sim.titles and sim.credits (the new titles
    first), then sim.users, sim.user_tastes, sim.sessions and sim.ratings in one
    transaction through python_api (``warehouse``: a ``python_api.Warehouse``;
    default: ``python_api.connect(role="scientist")``): all rows or none.
    ``config``: a :class:`SimulationConfig`, a TOML file, or None for the
    defaults. ``progress(phase, fraction)`` is called as the run advances
    (from two threads: generation and writing overlap).
    """
    _check_arguments(users, seed)
    config = as_config(config)
    started = time.perf_counter()
    own_connection = warehouse is None
    if own_connection:
        warehouse = python_api.connect(role="scientist")
    meter = _Meter(progress, _CATALOGUE_WORK + sum(_WORK.values()))
    written = {"users": 0, "sessions": 0, "ratings": 0, "release_sessions": 0}
    titles = NewTitles(pd.DataFrame(), pd.DataFrame())
    try:
        with meter.phase("read catalogue", _CATALOGUE_WORK):
            catalogue_frames = read_catalogue_frames(warehouse)
            state = read_release_state(warehouse, config)
            titles_on_service, title_genres, genres = catalogue_frames
            catalogue = catalogue_from_frames(
                without_retired(titles_on_service, state.retired, config.period.start),
                title_genres,
                genres,
            )
            first_user_id, first_session_id = next_ids(warehouse)
            count = release_count(config)
            if count:
                mix = read_catalogue_mix(warehouse, catalogue_frames)
                titles = new_titles(count, mix, config, int(seed), first_user_id, state)
            simulated = pd.concat(
                [frame for frame in (state.titles, titles.titles) if not frame.empty]
                or [state.titles],
                ignore_index=True,
            )
            releases = releases_from_titles(simulated, catalogue, state.retired)
            logger.info(
                "catalogue: %d titles (%d shows), %d genres; %d simulated titles (%d new)",
                catalogue.size,
                int(catalogue.is_show.sum()),
                catalogue.genre_count,
                releases.size,
                len(titles.titles),
            )

        def write(chunk: Population, share: float) -> None:
            def done(table: str, seconds: float) -> None:
                meter.add(f"write {table}", seconds, _WORK[f"write {table}"] * share)

            write_chunk(warehouse, chunk.frames(), on_table=done)
            for table in ("users", "sessions", "ratings"):
                written[table] += len(getattr(chunk, table))
            written["release_sessions"] += chunk.release_sessions

        chunks = _chunks(
            int(users),
            int(seed),
            catalogue,
            config,
            first_user_id,
            first_session_id,
            meter,
            releases,
        )
        try:
            with warehouse.transaction(), ThreadPoolExecutor(1, "simulation-writer") as writer:
                pending: Future[None] | None = None
                if not titles.titles.empty:  # before the sessions that name them
                    pending = writer.submit(write_titles, warehouse, titles)
                for chunk in chunks:
                    if pending is not None:
                        pending.result()  # at most one chunk waits while another is written
                    pending = writer.submit(write, chunk, len(chunk.users) / max(int(users), 1))
                if pending is not None:
                    pending.result()
        except python_api.ConflictError as error:
            raise SimulationError(
                f"{error} (another writer added users, sessions or titles while this "
                "simulation ran; nothing was written: run it again)"
            ) from None
    finally:
        if own_connection:
            warehouse.close()

    wall = time.perf_counter() - started
    logger.info(
        "simulated %d users, %d sessions, %d ratings, %d new titles in %.1f s",
        written["users"],
        written["sessions"],
        written["ratings"],
        len(titles.titles),
        wall,
    )
    return SimulationReport(
        users=written["users"],
        sessions=written["sessions"],
        ratings=written["ratings"],
        user_ids=(first_user_id, first_user_id + written["users"] - 1)
        if written["users"]
        else None,
        session_ids=(first_session_id, first_session_id + written["sessions"] - 1)
        if written["sessions"]
        else None,
        seed=int(seed),
        config_source=config.source,
        seconds=dict(meter.seconds),
        wall_seconds=wall,
        titles=len(titles.titles),
        credits=len(titles.credits),
        title_ids=titles.title_ids,
        release_sessions=written["release_sessions"],
    )
