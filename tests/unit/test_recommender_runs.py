"""Run ids that never collide, and model files only their owner reads (issue 10, items 12, 7)."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat

import pandas as pd
import pytest

from recdb.core.landing import LANDING_TABLES
from recdb.core.runs import RUN_ID_PATTERN, check_run_id
from recommender import load_config, load_model, train
from recommender import model as model_module
from recommender.errors import RecommenderError
from recommender.model import new_run_id
from recommender.pipeline import allocate_run_id, recommend
from tests.unit.test_recommender import small_dataset

FROZEN = dt.datetime(2026, 11, 30, 11, 26, 30, tzinfo=dt.UTC)
LANDING_RUN_ID = next(
    c.pattern for c in LANDING_TABLES["recommendations"].columns if c.name == "run_id"
)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RECDB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def open_umask():
    """A umask that takes nothing away: modes must come from how files are created."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class Recs:
    """A warehouse whose recs.recommendations holds rows of ``taken`` run ids."""

    engine = "postgres"

    def __init__(self, taken=()) -> None:
        self.taken = set(taken)
        self.asked: list[str] = []

    def read(self, query, params=None):
        assert "recs.recommendations" in query
        self.asked.append(params[0])
        return pd.DataFrame({"taken": [1] if params[0] in self.taken else []})


def test_default_run_ids_in_the_same_second_are_distinct_and_match_the_pattern():
    ids = [new_run_id(FROZEN) for _ in range(500)]
    assert len(set(ids)) == len(ids)
    for run_id in ids:
        assert run_id.startswith("als-20261130T112630Z-")
        assert RUN_ID_PATTERN.match(run_id) and re.fullmatch(LANDING_RUN_ID, run_id)
        assert check_run_id(run_id) == run_id and len(run_id) <= 64


def test_a_default_id_with_a_folder_or_rows_already_is_never_reused(home, monkeypatch):
    monkeypatch.setattr(model_module, "_utc_now", lambda: FROZEN)
    suffixes = iter(["0000000001", "0000000002", "0000000003"])
    monkeypatch.setattr(model_module, "_run_suffix", lambda: next(suffixes))
    stem = "als-20261130T112630Z-"
    existing = home / "models" / f"{stem}0000000001"
    existing.mkdir(parents=True)
    (existing / "model.npz").write_bytes(b"an earlier run's model")
    warehouse = Recs(taken={f"{stem}0000000002"})

    run_id, folder = allocate_run_id(warehouse)

    assert run_id == f"{stem}0000000003"
    assert folder == home / "models" / run_id and folder.is_dir()
    assert (existing / "model.npz").read_bytes() == b"an earlier run's model"
    assert not (home / "models" / f"{stem}0000000002").exists()  # claimed, then let go
    assert warehouse.asked == [f"{stem}0000000002", f"{stem}0000000003"]


def test_allocation_gives_up_with_an_error_that_says_what_to_do(home, monkeypatch):
    monkeypatch.setattr(model_module, "_utc_now", lambda: FROZEN)
    monkeypatch.setattr(model_module, "_run_suffix", lambda: "0000000001")
    (home / "models" / "als-20261130T112630Z-0000000001").mkdir(parents=True)
    with pytest.raises(RecommenderError, match="--run-id"):
        allocate_run_id(Recs())


def test_a_failed_default_run_leaves_no_folder_behind(home):
    class Broken(Recs):
        def read(self, query, params=None):
            if "recs.recommendations" in query:
                return super().read(query, params)
            raise RecommenderError("the marts are unreachable")

    with pytest.raises(RecommenderError, match="unreachable"):
        recommend(5, warehouse=Broken())
    assert list((home / "models").iterdir()) == []


def trained():
    return train(small_dataset(), load_config(overrides={"als.factors": 4, "als.iterations": 2}))


def test_saved_models_are_private_from_the_moment_they_are_created(home, open_umask, monkeypatch):
    def no_chmod(*args, **kwargs):
        raise AssertionError("new files and folders are created private, never chmod-ed")

    model = trained()
    model.run_id = "private-run"
    with monkeypatch.context() as patched:
        patched.setattr(os, "chmod", no_chmod)
        folder = model.save()
    assert mode(home / "models") == 0o700
    assert mode(folder) == 0o700
    assert mode(folder / "model.npz") == 0o600
    assert mode(folder / "run.json") == 0o600
    assert mode(folder / "title_vectors.npz") == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [
        "model.npz",
        "run.json",
        "title_vectors.npz",
    ]
    assert load_model("private-run").run_id == "private-run"


def test_saving_over_an_older_readable_run_makes_it_private(home, open_umask):
    folder = home / "models" / "old-run"
    folder.mkdir(parents=True, mode=0o755)
    for name in ("model.npz", "run.json", ".model.npz.partial"):
        (folder / name).write_text("older")
        (folder / name).chmod(0o644)
    model = trained()
    model.run_id = "old-run"
    model.save()
    assert (mode(home / "models"), mode(folder)) == (0o700, 0o700)
    assert mode(folder / "model.npz") == 0o600 and mode(folder / "run.json") == 0o600
    assert not (folder / ".model.npz.partial").exists()
    assert load_model("old-run").run_id == "old-run"
