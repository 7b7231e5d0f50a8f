"""Memory that does not grow with the number of sessions (README, "Sizes"): each command
holds one chunk of rows at a time, or what its model needs (the (user, title) pairs),
never every session. Asserted by what crosses the wire, at a small scale, not by time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

import recommender
import simulation.engine as engine
from python_api import Warehouse
from recommender import data
from simulation import simulate

pytestmark = pytest.mark.integration

CHUNK_USERS = 40
CHUNK_PAIRS = 200
BATCH_USERS = 70


class Spy:
    """Records the frames a Warehouse's ``read`` and ``read_chunks`` return (a chunked
    read: one entry a chunk) and ``write`` is given."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.reads: list[tuple[str, int]] = []
        self.chunks: list[tuple[str, int]] = []
        self.writes: list[tuple[str, pd.DataFrame]] = []
        read, read_chunks, write = warehouse.read, warehouse.read_chunks, warehouse.write

        def spied_read(query: str, params: Any = None) -> pd.DataFrame:
            frame = read(query, params)
            self.reads.append((query, len(frame)))
            return frame

        def spied_read_chunks(query: str, params: Any = None, **kwargs: Any) -> Any:
            for frame in read_chunks(query, params, **kwargs):
                self.chunks.append((query, len(frame)))
                yield frame

        def spied_write(table: str, frame: pd.DataFrame, **kwargs: Any) -> int:
            self.writes.append((table, frame))
            return write(table, frame, **kwargs)

        warehouse.read = spied_read  # type: ignore[method-assign]
        warehouse.read_chunks = spied_read_chunks  # type: ignore[method-assign]
        warehouse.write = spied_write  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def simulation_writes(built_warehouse) -> list[tuple[str, pd.DataFrame]]:
    """The frames `simulate` of 300 users wrote, in chunks of CHUNK_USERS users; the
    marts built on them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "CHUNK_USERS", CHUNK_USERS)
        spy = spied(built_warehouse, lambda wh: simulate(300, 8, warehouse=wh))
    built_warehouse.dbt("build")
    return spy.writes


@pytest.fixture
def warehouse(built_warehouse, simulation_writes):
    """The module's warehouse, with the simulated users and sessions built."""
    return built_warehouse


def viewing_reads(spy: Spy) -> list[int]:
    """Rows of each read (or chunk) that grows with users or sessions (not the
    catalogue's)."""
    return [rows for query, rows in spy.reads + spy.chunks if "agg_" in query
            or "fact_" in query or "dim_users" in query]  # fmt: skip


def spied(warehouse, action: Callable[[Warehouse], object]) -> Spy:
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        spy = Spy(wh)
        action(wh)
    return spy


def test_simulate_writes_one_chunk_of_users_at_a_time(simulation_writes):
    users = [frame for table, frame in simulation_writes if table == "users"]
    sessions = [frame for table, frame in simulation_writes if table == "sessions"]
    assert len(users) == -(-300 // CHUNK_USERS)  # one write per chunk
    assert all(len(frame) <= CHUNK_USERS for frame in users)
    assert all(frame["user_id"].nunique() <= CHUNK_USERS for frame in sessions)
    assert sum(len(frame) for frame in sessions) > 300 * 3


def test_recommend_reads_pairs_in_chunks_not_sessions_and_writes_in_batches(
    warehouse, tmp_path, monkeypatch
):
    monkeypatch.setattr(data, "PAIR_CHUNK_ROWS", CHUNK_PAIRS)
    config = tmp_path / "recommender.toml"
    config.write_text(f"[recommend]\nbatch_users = {BATCH_USERS}\n")
    pairs = warehouse.scalar("select count(*) from marts.agg_user_title_viewing")
    sessions = warehouse.scalar("select count(*) from marts.fact_sessions")
    assert pairs < sessions
    spy = spied(warehouse, lambda wh: recommender.recommend(10, config, "bounded", warehouse=wh))
    assert not [query for query, _ in spy.reads + spy.chunks if "fact_sessions" in query]
    pair_chunks = [rows for query, rows in spy.chunks if "agg_user_title_viewing" in query]
    assert sum(pair_chunks) == pairs
    assert len(pair_chunks) > 1 and max(pair_chunks) <= CHUNK_PAIRS
    assert max(viewing_reads(spy)) < pairs  # dim_users' ids, one per user, are fewer
    batches = [frame for table, frame in spy.writes if table == "recommendations"]
    assert len(batches) > 1
    assert all(frame["user_id"].nunique() <= BATCH_USERS for frame in batches)


def test_evaluate_reads_pairs_in_chunks_not_sessions(warehouse, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "PAIR_CHUNK_ROWS", CHUNK_PAIRS)
    pairs = warehouse.scalar("select count(*) from marts.agg_user_title_viewing")
    spy = spied(warehouse, lambda wh: recommender.evaluate(warehouse=wh, model_names=["content"]))
    assert max(viewing_reads(spy)) <= pairs
    training_chunks = [rows for query, rows in spy.chunks if "agg_user_title_viewing" in query]
    assert len(training_chunks) > 1 and max(training_chunks) <= CHUNK_PAIRS
    session_reads = [rows for query, rows in spy.reads if "fact_sessions" in query]
    assert session_reads and max(session_reads) <= pairs


def test_the_oracle_reads_the_tastes_of_the_users_it_scores_only(warehouse, tmp_path):
    from simulation import TasteOracle

    config = tmp_path / "recommender.toml"
    config.write_text("[evaluation]\nmax_users = 20\n")
    users = warehouse.scalar("select count(*) from sim.user_tastes")
    evaluations = []
    spy = spied(
        warehouse,
        lambda wh: evaluations.append(
            recommender.evaluate(
                config=config, oracle=TasteOracle(), warehouse=wh, model_names=["content"]
            )
        ),
    )
    assert evaluations[0].models["oracle"]["ndcg@10"] is not None
    taste_reads = [rows for query, rows in spy.reads if "user_tastes" in query]
    assert users > 20
    assert taste_reads and max(taste_reads) <= 20
