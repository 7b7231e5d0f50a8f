"""The simulation's id allocation never passes the bigint maximum (issue 10, item 11)."""

from __future__ import annotations

import pandas as pd
import pytest

from simulation import SimulationError, catalogue_from_frames, generate_population
from simulation.writing import next_ids
from tests.unit.test_simulation import make_frames

BIGINT_MAX = 2**63 - 1


@pytest.fixture(scope="module")
def catalogue():
    return catalogue_from_frames(*make_frames(titles=60))


def test_ids_may_end_exactly_at_the_bigint_maximum(catalogue):
    population = generate_population(5, 1, catalogue, first_user_id=BIGINT_MAX - 4)
    assert population.users["user_id"].tolist() == list(range(BIGINT_MAX - 4, BIGINT_MAX + 1))
    assert population.sessions["user_id"].max() <= BIGINT_MAX
    probe = generate_population(5, 1, catalogue)  # the same rows with other session ids
    last = generate_population(
        5, 1, catalogue, first_session_id=BIGINT_MAX - len(probe.sessions) + 1
    )
    assert last.sessions["session_id"].iloc[-1] == BIGINT_MAX
    assert last.ratings["session_id"].max() <= BIGINT_MAX


@pytest.mark.parametrize("first_user_id", [BIGINT_MAX - 3, BIGINT_MAX, BIGINT_MAX + 1])
def test_users_past_the_bigint_maximum_are_refused_naming_the_largest_id(catalogue, first_user_id):
    with pytest.raises(SimulationError) as caught:
        generate_population(5, 1, catalogue, first_user_id=first_user_id)
    message = str(caught.value)
    assert "user_id" in message
    assert f"{first_user_id - 1}" in message  # the largest existing id
    assert "9223372036854775807" in message  # the limit it would pass


def test_sessions_past_the_bigint_maximum_are_refused_naming_the_largest_id(catalogue):
    with pytest.raises(SimulationError) as caught:
        generate_population(5, 1, catalogue, first_session_id=BIGINT_MAX - 1)
    message = str(caught.value)
    assert "session_id" in message and f"{BIGINT_MAX - 2}" in message


def test_no_new_users_need_no_ids(catalogue):
    empty = generate_population(0, 1, catalogue, first_user_id=BIGINT_MAX + 1)
    assert empty.users.empty and empty.sessions.empty


class _Maxima:
    """A warehouse whose sim tables hold the given largest ids."""

    def __init__(self, user_id: int, session_id: int) -> None:
        self.maxima = (user_id, session_id)

    def read(self, query, params=None):
        return pd.DataFrame({"max_user_id": [self.maxima[0]], "max_session_id": [self.maxima[1]]})


def test_next_ids_are_one_past_the_largest_even_at_the_maximum():
    assert next_ids(_Maxima(41, 7)) == (42, 8)
    assert next_ids(_Maxima(BIGINT_MAX, 7)) == (BIGINT_MAX + 1, 8)
