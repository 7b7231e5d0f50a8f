"""The real Netflix catalogue, from ../shared/data/netflix, loaded and built end to end.

Runs wherever the reference data is present (it is in CI); it is never copied
into the repository.
"""

from __future__ import annotations

import pytest

from tests.conftest import REAL_CATALOG_DIR
from tests.integration.test_build import assert_complete

pytestmark = [
    pytest.mark.integration,
    pytest.mark.real_catalog,
    pytest.mark.skipif(
        not (REAL_CATALOG_DIR / "raw_titles.csv").exists(),
        reason=f"the real catalogue is not in {REAL_CATALOG_DIR}",
    ),
]

EXPECTED_ROWS = {
    "titles": 5806,
    "credits": 77213,
    "best_movies": 387,
    "best_movies_by_year": 49,
    "best_shows": 246,
    "best_shows_by_year": 31,
}


@pytest.fixture(scope="module")
def real_warehouse(fresh_warehouse):
    report = fresh_warehouse.load(REAL_CATALOG_DIR)
    assert report.rows == EXPECTED_ROWS
    fresh_warehouse.dbt("build")  # raises if any model or test fails
    return fresh_warehouse


def test_marts_keep_every_title_pair_and_credit(real_warehouse):
    assert_complete(real_warehouse)
    assert real_warehouse.scalar("select count(*) from marts.dim_titles") == 5806
    assert real_warehouse.scalar("select count(*) from marts.dim_credits") == 77213


def test_every_best_of_entry_flags_one_title(real_warehouse):
    assert (
        real_warehouse.scalar("select count(*) from marts.dim_titles where is_all_time_best")
        == 387 + 246
    )
    assert real_warehouse.scalar("select count(*) from marts.dim_titles where is_year_best") == (
        49 + 31
    )


def test_known_quirks_survive(real_warehouse):
    assert (
        real_warehouse.scalar(
            "select country_name from marts.dim_prod_countries where country_code = 'XX'"
        )
        == "Unknown"
    )
    assert (
        real_warehouse.scalar(
            "select count(*) from marts.dim_prod_countries where country_code = 'LB'"
        )
        == 1
    )
    assert (
        real_warehouse.scalar(
            "select count(*) from marts.dim_titles where title_name is null or title_name = ''"
        )
        == 1
    )
    assert (
        real_warehouse.scalar(
            "select count(*) from marts.dim_genres where genre_id = 'documentation'"
        )
        == 1
    )
