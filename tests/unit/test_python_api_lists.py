"""Recommendation rows gathered into one list per run and user: pure, no database."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from python_api.errors import ConflictError, ValidationError
from python_api.lists import gather_lists
from recdb.core.landing import RECOMMENDATIONS
from web_api.client import _whole_list_batches


def rows(**overrides) -> pd.DataFrame:
    """Two users' lists of run r1, out of order: user 2 has three titles, user 1 two."""
    frame = pd.DataFrame(
        {
            "run_id": "r1",
            "user_id": [2, 1, 2, 1, 2],
            "title_id": ["c", "b", "a", "a", "d"],
            "rank": [2, 2, 1, 1, 3],
            "score": [0.5, 0.7, 0.9, 0.8, 0.1],
            "is_cold_start": [False, True, False, True, False],
        }
    )
    return frame.assign(**overrides)


def test_rows_become_one_list_per_user_in_rank_order():
    lists = gather_lists(RECOMMENDATIONS, rows()).to_pylist()
    assert lists == [
        {"run_id": "r1", "user_id": 1, "title_ids": ["a", "b"], "scores": [0.8, 0.7],
         "is_cold_start": True},
        {"run_id": "r1", "user_id": 2, "title_ids": ["a", "c", "d"], "scores": [0.9, 0.5, 0.1],
         "is_cold_start": False},
    ]  # fmt: skip


def test_lists_keep_their_run():
    frame = pd.concat([rows(), rows(run_id="r2")], ignore_index=True)
    lists = gather_lists(RECOMMENDATIONS, frame)
    assert lists.column("run_id").to_pylist() == ["r1", "r1", "r2", "r2"]


def test_a_list_with_a_gap_in_its_ranks_names_the_missing_rank_and_the_row():
    with pytest.raises(ValidationError, match="rank 3 is missing") as caught:
        gather_lists(RECOMMENDATIONS, rows(rank=[2, 2, 1, 1, 4]))
    assert caught.value.column == "rank"
    assert caught.value.row_number == 4  # user 2's rank 4, where rank 3 was due
    assert "user_id=2" in str(caught.value)


def test_a_list_must_start_at_rank_one():
    with pytest.raises(ValidationError, match="rank 1 is missing"):
        gather_lists(RECOMMENDATIONS, rows(rank=[2, 3, 1, 2, 3]))


def test_the_rows_of_a_list_agree_on_is_cold_start():
    with pytest.raises(ValidationError, match="disagree on is_cold_start") as caught:
        gather_lists(RECOMMENDATIONS, rows(is_cold_start=[False, True, False, False, False]))
    assert caught.value.column == "is_cold_start"
    assert caught.value.row_number == 1


def test_a_title_twice_in_a_list_is_a_conflict():
    with pytest.raises(ConflictError, match="run_id, user_id, title_id"):
        gather_lists(RECOMMENDATIONS, rows(title_id=["c", "b", "c", "a", "d"]))


def test_the_rows_are_checked_as_rows_first():
    with pytest.raises(ValidationError, match="unknown columns"):
        gather_lists(RECOMMENDATIONS, rows().rename(columns={"title_id": "title"}))
    with pytest.raises(ValidationError, match="above the maximum"):
        gather_lists(RECOMMENDATIONS, rows(rank=[2, 2, 1, 1, 1001]))


def test_no_rows_no_lists():
    assert gather_lists(RECOMMENDATIONS, rows().iloc[:0]).num_rows == 0


@pytest.mark.parametrize("size", [1, 2, 3, 4, 10])
def test_web_client_batches_never_split_a_list(size):
    user_ids = np.array([1, 1, 1, 2, 3, 3, 4])
    batches = _whole_list_batches(user_ids, size)
    assert batches[0][0] == 0 and batches[-1][1] == len(user_ids)
    for (_, end), (start, _) in zip(batches, batches[1:], strict=False):
        assert end == start
        assert user_ids[start - 1] != user_ids[start]
    for start, end in batches:
        assert end - start <= size or len(set(user_ids[start:end])) == 1
