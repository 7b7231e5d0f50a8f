"""Issue 11, randomised (short version; bench/marts_consistency.py is the long one): under
concurrent writers through python_api and the web API, deletes, a transaction committed
while a build runs, and incremental `recdb build`s, every engagement and recommendation
mart equals the same mart computed from scratch from the same landing data after each
step, and the web API serves runs that exist. The logic is tests/consistency.py."""

from __future__ import annotations

import dataclasses

import pytest

from tests.consistency import Consistency, Target, recdb_build
from tests.integration.test_web_api import SCIENTIST, serving

pytestmark = pytest.mark.integration

SEED = 11
USERS = 200
STEPS = 5


def test_the_marts_equal_a_build_from_scratch_after_every_step(fresh_warehouse, tmp_path):
    warehouse = fresh_warehouse
    warehouse.load()
    target_path = tmp_path / "target"  # dbt's artifacts: this test's own, not the checkout's
    target = Target(
        env={**warehouse.env(), "DBT_TARGET_PATH": str(target_path)},
        owner=warehouse.settings("owner"),
        scientist=warehouse.settings("scientist"),
        api_url="",
        api_key=SCIENTIST,
        target_path=target_path,
    )
    catalogue = recdb_build(target)
    assert catalogue.returncode == 0, catalogue.tail()
    with serving(warehouse, tmp_path / "serve.log") as (url, _):
        run = Consistency(dataclasses.replace(target, api_url=url), seed=SEED, users=USERS)
        run.prepare()
        for report in run.steps(STEPS):
            print(report.summary())
            if report.problems:
                pytest.fail(run.failure(report), pytrace=False)
