"""The recommender on a real warehouse: simulate, build, recommend, evaluate, the mart, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import recommender
from python_api import Warehouse
from simulation import load_config as load_simulation_config
from simulation import simulate
from tests.conftest import RECOMMENDATION_ROWS

pytestmark = pytest.mark.integration

USERS = 3000
SEED = 5
#: Strong, peaked tastes, little herding, enough sessions: where ALS should beat popularity.
STRONG_TASTES = """\
[tastes]
dirichlet_alpha = 0.1
taste_floor = 0.02

[popularity]
bias_mean = 0.2

[sessions]
mean = 30.0
"""
#: Small and quick: few factors, regularisation for a few thousand users.
CONFIG = """\
[als]
factors = 16
regularization = 1.0
iterations = 10
"""


@pytest.fixture(scope="module")
def setup(built_warehouse, tmp_path_factory):
    """Catalogue built, the recommender tried on empty marts, then users simulated, a few
    titles released late in the period and two retired (:func:`_write_releases`; written
    to ``releases.json``), and built."""
    folder = tmp_path_factory.mktemp("recommender")
    (folder / "simulation.toml").write_text(STRONG_TASTES)
    (folder / "recommender.toml").write_text(CONFIG)
    warehouse = built_warehouse
    empty = warehouse.recdb("recommend", "--run-id", "too-early", check=False)
    sim_config = load_simulation_config(folder / "simulation.toml")
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        simulate(USERS, SEED, sim_config, warehouse=wh)
        releases = _write_releases(wh)
    (folder / "releases.json").write_text(json.dumps(releases))
    warehouse.dbt("build")
    return warehouse, folder, empty


@pytest.fixture(scope="module")
def first_run(setup):
    warehouse, folder, _ = setup
    result = warehouse.recdb(
        "recommend", "--run-id", "it-1", "--k", "5", "--config", str(folder / "recommender.toml")
    )
    return result


def rows_of(warehouse, run_id):
    return warehouse.query(
        "select user_id, rank, title_id, score, is_cold_start "
        f"from {RECOMMENDATION_ROWS} as recs "
        "where run_id = %s order by user_id, rank",
        (run_id,),
    )


def test_empty_marts_say_what_to_run(setup):
    _, _, empty = setup
    assert empty.returncode == 1
    assert empty.stderr.strip().splitlines()[-1] == (
        "error: marts.fact_sessions has no sessions: run `recdb simulate` and `recdb build` first"
    )


def test_recommend_writes_k_unseen_titles_for_every_user(setup, first_run):
    warehouse, _, _ = setup
    assert "run it-1 (content): top 5" in first_run.stdout
    users = warehouse.scalar("select count(*) from marts.dim_users")
    with_history = warehouse.scalar("select count(distinct user_id) from marts.fact_sessions")
    assert users == USERS and 0 < with_history < users
    per_user = warehouse.query(
        "select count(*), count(distinct title_id), min(rank), max(rank), bool_and(is_cold_start) "
        f"from {RECOMMENDATION_ROWS} as recs where run_id = 'it-1' group by user_id"
    )
    assert len(per_user) == users
    assert {row[:4] for row in per_user} == {(5, 5, 1, 5)}
    seen = warehouse.scalar(
        f"select count(*) from {RECOMMENDATION_ROWS} as r join marts.fact_sessions as s "
        "on r.user_id = s.user_id and r.title_id = s.title_id where r.run_id = 'it-1'"
    )
    assert seen == 0
    decreasing = warehouse.scalar(
        f"select count(*) from {RECOMMENDATION_ROWS} as a join {RECOMMENDATION_ROWS} as b "
        "on a.run_id = b.run_id and a.user_id = b.user_id and b.rank = a.rank + 1 "
        "where a.run_id = 'it-1' and b.score > a.score"
    )
    assert decreasing == 0


def test_users_without_history_get_the_cold_start_list_marked(setup, first_run, monkeypatch):
    warehouse, _, _ = setup
    monkeypatch.setenv("RECDB_HOME", str(warehouse.home))
    marked = warehouse.query(
        "select r.user_id, bool_and(r.is_cold_start), "
        "exists (select 1 from marts.fact_sessions as s where s.user_id = r.user_id) "
        f"from {RECOMMENDATION_ROWS} as r where r.run_id = 'it-1' group by r.user_id"
    )
    assert all(cold == (not has_history) for _, cold, has_history in marked)
    assert any(cold for _, cold, _ in marked)
    lists = warehouse.query(
        "select distinct string_agg(title_id, ',' order by rank) "
        f"from {RECOMMENDATION_ROWS} as recs "
        "where run_id = 'it-1' and is_cold_start group by user_id"
    )
    assert len(lists) == 1  # one list for everybody without history
    model = recommender.load_model("it-1")
    assert lists[0][0].split(",") == list(model.title_ids[model.cold_start.titles[:5]])
    # whatever the model: the best-of lists first
    warehouse.recdb("recommend", "--model", "content", "--run-id", "it-content", "--k", "5")
    assert (
        warehouse.query(
            "select distinct string_agg(title_id, ',' order by rank) "
            f"from {RECOMMENDATION_ROWS} as recs "
            "where run_id = 'it-content' and is_cold_start group by user_id"
        )
        == lists
    )
    first = lists[0][0].split(",")[0]
    assert warehouse.scalar(
        "select is_all_time_best or is_year_best from marts.dim_titles where title_id = %s",
        (first,),
    )


def test_rerunning_a_run_id_replaces_its_rows_and_the_seed_fixes_the_lists(setup, first_run):
    warehouse, folder, _ = setup
    before = rows_of(warehouse, "it-1")
    published_before = warehouse.scalar("select published_at from recs.runs where run_id = 'it-1'")
    again = warehouse.recdb(
        "recommend", "--run-id", "it-1", "--k", "5", "--config", str(folder / "recommender.toml")
    )
    assert f"replacing {len(before):,}" in again.stdout
    after = rows_of(warehouse, "it-1")
    assert len(after) == len(before)
    assert (
        warehouse.scalar("select published_at from recs.runs where run_id = 'it-1'")
        > published_before
    )
    assert [r[:3] for r in after] == [r[:3] for r in before]
    assert np.allclose([r[3] for r in after], [r[3] for r in before])
    # the same from Python, under another run id
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        report = recommender.recommend(
            5, recommender.load_config(folder / "recommender.toml"), "it-py", warehouse=wh
        )
    assert report.rows == len(before) and report.replaced_rows == 0
    assert [r[:3] for r in rows_of(warehouse, "it-py")] == [r[:3] for r in before]


def test_the_model_is_saved_with_the_run_id_and_loads(setup, first_run, monkeypatch):
    warehouse, _, _ = setup
    monkeypatch.setenv("RECDB_HOME", str(warehouse.home))
    folder = warehouse.home / "models" / "it-1"
    assert (folder / "model.npz").is_file() and (folder / "run.json").is_file()
    info = json.loads((folder / "run.json").read_text())
    assert info["run_id"] == "it-1" and info["config"]["als"]["factors"] == 16
    assert info["model"] == "content" and info["config"]["recommend"]["model"] == "content"
    model = recommender.load_model("it-1")
    user = int(model.user_ids[0])
    stored = warehouse.query(
        f"select title_id from {RECOMMENDATION_ROWS} as recs "
        "where run_id = 'it-1' and user_id = %s "
        "order by rank",
        (user,),
    )
    assert model.recommend(user, 5)["title_id"].tolist() == [r[0] for r in stored]


def test_a_users_list_and_similar_titles_from_the_command_line(setup, first_run):
    warehouse, _, _ = setup
    user = warehouse.scalar("select min(user_id) from marts.fact_sessions")
    shown = warehouse.recdb("recommend", "--user", str(user), "--run-id", "it-1")
    first = warehouse.scalar(
        f"select title_id from {RECOMMENDATION_ROWS} as recs "
        "where run_id = 'it-1' and user_id = %s "
        "and rank = 1",
        (user,),
    )
    assert first in shown.stdout and "title_name" in shown.stdout
    title = warehouse.scalar("select title_id from marts.fact_sessions limit 1")
    similar = warehouse.recdb("recommend", "--similar-to", title, "--k", "3", "--run-id", "it-1")
    lines = similar.stdout.strip().splitlines()
    assert "similarity" in lines[0] and len(lines) == 4
    assert title not in similar.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "987654321"], "error: unknown user 987654321: not in marts.dim_users"),
        (["--similar-to", "tm0"], "error: unknown title 'tm0': not in the titles of run it-1"),
        (["--user", "1", "--run-id", "nope"], "error: no run 'nope' in recs.recommendations"),
        (["--similar-to", "tm0", "--run-id", "nope"], "error: no saved model for run 'nope'"),
    ],
)
def test_lookups_of_unknown_things_are_one_line_errors(setup, first_run, args, message):
    warehouse, _, _ = setup
    if "--run-id" not in args:
        args = [*args, "--run-id", "it-1"]
    result = warehouse.recdb("recommend", *args, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(message)


def test_a_bad_config_names_the_key_and_range(setup, tmp_path):
    warehouse, _, _ = setup
    bad = tmp_path / "bad.toml"
    bad.write_text("[als]\nfactors = 0\n")
    result = warehouse.recdb("recommend", "--config", str(bad), check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: recommender config {bad}: als.factors: 0 is out of range "
        "(allowed: a whole number >= 1 and <= 1024)"
    )


def test_the_mart_joins_recommendations_to_titles_for_analysts(setup, first_run):
    warehouse, _, _ = setup
    warehouse.dbt("build", "--select", "fact_recommendations")
    total = warehouse.scalar(f"select count(*) from {RECOMMENDATION_ROWS} as recs")
    assert warehouse.scalar("select count(*) from marts.fact_recommendations") == total
    named = warehouse.scalar(
        "select count(*) from marts.fact_recommendations where title_type is not null",
        role="analyst",
    )
    assert named == total
    # a run written again is rebuilt whole by the next incremental build
    warehouse.recdb("recommend", "--run-id", "it-2", "--k", "3")
    warehouse.dbt("build", "--select", "fact_recommendations")
    counts = dict(
        warehouse.query("select run_id, count(*) from marts.fact_recommendations group by run_id")
    )
    assert counts["it-2"] == 3 * USERS
    assert sum(counts.values()) == warehouse.scalar(
        f"select count(*) from {RECOMMENDATION_ROWS} as recs"
    )


def test_evaluate_writes_the_json_and_chart_and_the_family_beats_popularity(setup, tmp_path):
    warehouse, folder, _ = setup
    out = tmp_path / "eval"
    result = warehouse.recdb(
        "evaluate",
        "--out",
        str(out),
        "--config",
        str(folder / "recommender.toml"),
        "--simulation-config",
        str(folder / "simulation.toml"),
    )
    family = ("als", "bpr", "item_knn", "ease", "content", "hybrid")
    for model in (*family, "popularity", "best_of", "oracle", "ndcg@10", "content*"):
        assert model in result.stdout
    stored = json.loads((out / "evaluation.json").read_text())
    assert list(stored["models"]) == [*family, "popularity", "best_of", "oracle"]
    assert stored["default_model"] == "content"
    for metrics in stored["models"].values():
        rates = ("precision@10", "recall@10", "map@10", "ndcg@10", "coverage")
        assert all(0 <= metrics[m] <= 1 for m in rates)
        assert 1 <= metrics["popularity_rank"] <= stored["holdout"]["titles"]
        low, high = metrics["ndcg@10_ci"]
        assert low <= metrics["ndcg@10"] <= high
    models = stored["models"]
    for model in ("als", "ease", "content", "hybrid"):
        assert models[model]["ndcg@10"] > 1.5 * models["popularity"]["ndcg@10"], model
    assert models["oracle"]["ndcg@10"] > models["content"]["ndcg@10"]
    assert stored["holdout"]["cold_start_test_users"] > 0
    assert (out / "evaluation.png").read_bytes()[:4] == b"\x89PNG"
    # one model, on request
    only = warehouse.recdb("evaluate", "--out", str(tmp_path / "one"), "--model", "ease")
    assert "content" not in only.stdout and "ease" in only.stdout
    one = json.loads((tmp_path / "one" / "evaluation.json").read_text())
    assert list(one["models"]) == ["ease", "popularity", "best_of", "oracle"]


# -- unique run ids and private model files (issue 10, items 12 and 7) -----------------
def _run_ids_like(warehouse, prefix: str) -> set[str]:
    return {
        r[0]
        for r in warehouse.query(
            "select distinct run_id from recs.recommendations where run_id like %s", (prefix + "%",)
        )
    }


def test_default_runs_started_in_the_same_second_keep_both_runs(setup, first_run, monkeypatch):
    import datetime as dt

    from recommender import model as model_module
    from recommender import pipeline

    warehouse, folder, _ = setup
    monkeypatch.setenv("RECDB_HOME", str(warehouse.home))
    frozen = dt.datetime(2026, 11, 30, 11, 26, 30, tzinfo=dt.UTC)
    real_new_run_id = model_module.new_run_id
    monkeypatch.setattr(
        pipeline, "new_run_id", lambda now=None, model="als": real_new_run_id(frozen, model)
    )
    config = recommender.load_config(folder / "recommender.toml")
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        first = recommender.recommend(3, config, warehouse=wh)
        second = recommender.recommend(3, config, warehouse=wh)
    prefix = "content-20261130T112630Z"
    assert first.run_id != second.run_id
    assert first.run_id.startswith(prefix) and second.run_id.startswith(prefix)
    assert first.replaced_rows == 0 and second.replaced_rows == 0
    assert _run_ids_like(warehouse, prefix) == {first.run_id, second.run_id}
    for report in (first, second):
        assert len(rows_of(warehouse, report.run_id)) == report.rows == 3 * USERS
        assert (warehouse.home / "models" / report.run_id / "model.npz").is_file()
        assert recommender.load_model(report.run_id).run_id == report.run_id


def test_a_default_run_id_already_in_the_warehouse_is_never_reused(setup, first_run, monkeypatch):
    import datetime as dt
    import shutil

    from recommender import model as model_module

    warehouse, folder, _ = setup
    monkeypatch.setenv("RECDB_HOME", str(warehouse.home))
    frozen = dt.datetime(2026, 12, 1, 8, 0, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(model_module, "_utc_now", lambda: frozen)
    suffixes = iter(["aaaaaaaaaa", "aaaaaaaaaa", "bbbbbbbbbb"])
    monkeypatch.setattr(model_module, "_run_suffix", lambda: next(suffixes))
    config = recommender.load_config(folder / "recommender.toml")
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        taken = recommender.recommend(2, config, warehouse=wh)
        assert taken.run_id == "content-20261201T080000Z-aaaaaaaaaa"
        # its model folder gone (moved, cleaned up): its rows still make the id taken
        shutil.rmtree(warehouse.home / "models" / taken.run_id)
        rows_before = rows_of(warehouse, taken.run_id)
        later = recommender.recommend(2, config, warehouse=wh)
    assert later.run_id == "content-20261201T080000Z-bbbbbbbbbb"
    assert rows_of(warehouse, taken.run_id) == rows_before
    assert not (warehouse.home / "models" / taken.run_id).exists()


def test_model_folders_and_files_are_readable_by_their_owner_only(setup, first_run):
    warehouse, _, _ = setup
    models = warehouse.home / "models"
    assert models.stat().st_mode & 0o777 == 0o700
    folder = models / "it-1"
    assert folder.stat().st_mode & 0o777 == 0o700
    for name in ("model.npz", "run.json"):
        assert (folder / name).stat().st_mode & 0o777 == 0o600, name
    assert not list(folder.glob(".*partial"))


def test_the_pairs_the_build_aggregates_are_the_recommenders_own_aggregation(setup):
    """What `recdb recommend` reads (agg_user_title_viewing) is exactly what aggregating
    every session in numpy gives (recommender.confidence.aggregate): the same pairs in
    the same order, the same sums to the last bit."""
    from recommender.data import read_dataset, read_viewing, viewing

    warehouse, _, _ = setup
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        from_marts = read_viewing(wh)
        from_sessions = viewing(read_dataset(wh))
    assert np.array_equal(from_marts.user_ids, from_sessions.user_ids)
    ours, theirs = from_marts.feedback, from_sessions.feedback
    assert np.array_equal(ours.user_ids, theirs.user_ids)
    for name in ("user", "title", "sessions", "minutes", "completion", "rating"):
        mine, expected = getattr(ours.interactions, name), getattr(theirs.interactions, name)
        assert np.array_equal(mine, expected, equal_nan=name == "rating"), name
    assert ours.interactions.size > 0


def _same_split(ours, theirs):
    assert ours.cutoff == theirs.cutoff
    assert ours.describe() == theirs.describe()
    assert np.array_equal(ours.test_user_ids, theirs.test_user_ids)
    assert len(ours.relevant) == len(theirs.relevant)
    assert all(np.array_equal(a, b) for a, b in zip(ours.relevant, theirs.relevant, strict=True))
    mine, expected = ours.training.feedback, theirs.training.feedback
    assert np.array_equal(mine.user_ids, expected.user_ids)
    for name in ("user", "title", "sessions", "minutes", "completion", "rating"):
        a, b = getattr(mine.interactions, name), getattr(expected.interactions, name)
        assert np.array_equal(a, b, equal_nan=name == "rating"), name


def test_the_databases_time_split_is_the_in_memory_one(setup):
    """`recdb evaluate` and `recdb tune` split in the database, reading pairs: the same
    cutoff, test users, relevant titles and training pairs as splitting every session in
    memory (recommender.holdout.holdout), for the test period and the validation one."""
    from recommender.data import read_dataset
    from recommender.holdout import holdout, read_holdout
    from recommender.tune import read_validation_split, validation_split

    warehouse, folder, _ = setup
    config = recommender.load_config(folder / "recommender.toml")
    settings = config.evaluation
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        dataset = read_dataset(wh, with_times=True)
        test_split = read_holdout(wh, settings.holdout_share, max_users=50, seed=settings.seed)
        validation = read_validation_split(wh, config)
    in_memory = holdout(dataset, settings.holdout_share, max_users=50, seed=settings.seed)
    assert in_memory.eligible_users > 50  # the sample is drawn alike too
    _same_split(test_split, in_memory)
    _same_split(validation, validation_split(dataset, config))


# -- item cold start and retired titles (issue 17) -----------------------------------
#: Titles released after the hold-out's cutoff (written by the module's setup): one for
#: each of the genres most users like best, watched after its release by half of those
#: users who watched something before (a hit: well rated, many votes). And the two most
#: watched titles, retired at the end of the period (so still watchable in the test
#: period of `recdb evaluate`).
RELEASES = 4


def _write_releases(wh: Warehouse) -> dict[str, object]:
    """Write the new titles, their sessions and two retirements into sim (the marts are
    built after); {"titles": the new titles, "unwatched": each one's fans who did not
    watch it, "retired": the retired titles}."""
    import pandas as pd

    total = int(wh.read("select count(*) as n from sim.sessions")["n"].iloc[0])
    cutoff = wh.read(  # recdb evaluate's cutoff (recommender.holdout.read_cutoff)
        "select started_at from sim.sessions order by started_at limit 1 offset %s",
        [int(total * 0.8)],
    )["started_at"].iloc[0]
    released = cutoff + pd.Timedelta(days=2)  # the sessions below move the cutoff by hours
    genres = sorted(wh.read("select genre_id from marts.dim_genres")["genre_id"])
    tastes = wh.read(
        "select t.user_id, t.genre_affinities from sim.user_tastes as t where exists "
        "(select from sim.sessions as s where s.user_id = t.user_id and s.started_at < %s)",
        [released.to_pydatetime()],
    )
    main = np.array([np.argmax(a) for a in tastes["genre_affinities"]])
    liked = [int(g) for g in np.argsort(-np.bincount(main, minlength=len(genres)))[:RELEASES]]
    votes = wh.read(
        "select percentile_disc(0.9) within group (order by imdb_vote_count) as v "
        "from marts.dim_titles"
    )["v"].iloc[0]
    titles = [f"sim-it-{genres[g]}" for g in liked]
    wh.write(
        "titles",
        pd.DataFrame(
            {
                "title_id": titles,
                "title_name": [f"New {genres[g].title()}" for g in liked],
                "title_type": "movie",
                "release_year": released.year,
                "released_at": released,
                "genres": [[genres[g]] for g in liked],
                "production_countries": [["US"]] * RELEASES,
                "runtime_minutes": 100,
                "imdb_score": 8.0,
                "imdb_vote_count": int(votes),
            }
        ),
    )
    rng = np.random.default_rng(17)
    first = int(wh.read("select max(session_id) + 1 as s from sim.sessions")["s"].iloc[0])
    rows, unwatched = [], {}
    for title, genre in zip(titles, liked, strict=True):
        fans = tastes["user_id"].to_numpy()[main == genre]
        watched = rng.random(len(fans)) < 0.5
        unwatched[title] = fans[~watched].tolist()
        for user in fans[watched]:
            start = released + pd.Timedelta(minutes=int(rng.integers(0, 20 * 24 * 60)))
            rows.append((int(user), title, start))
    sessions = pd.DataFrame(rows, columns=["user_id", "title_id", "started_at"])
    sessions.insert(0, "session_id", np.arange(first, first + len(sessions)))
    sessions["ended_at"] = sessions["started_at"] + pd.Timedelta(minutes=100)
    sessions["minutes_watched"] = 100.0
    sessions["completion_ratio"] = 1.0
    wh.write("sessions", sessions)
    retired = wh.read(
        "select title_id from sim.sessions group by title_id "
        "order by count(distinct user_id) desc, title_id limit 2"
    )["title_id"].tolist()
    end = pd.Timestamp("2024-01-01", tz="UTC")  # the simulation's period ends then
    wh.write("retired_titles", pd.DataFrame({"title_id": retired, "retired_at": end}))
    return {"titles": titles, "unwatched": unwatched, "retired": retired}


@pytest.fixture(scope="module")
def releases(setup) -> dict:
    _, folder, _ = setup
    return json.loads((folder / "releases.json").read_text())


def _lists(warehouse, run_id: str) -> dict[int, list[str]]:
    return dict(
        warehouse.query(
            "select user_id, array_agg(title_id) "
            f"from {RECOMMENDATION_ROWS} as recs where run_id = %s group by user_id",
            (run_id,),
        )
    )


def test_no_run_names_a_retired_title_and_the_default_one_gives_new_titles_to_their_fans(
    setup, first_run, releases, monkeypatch
):
    from recommender.data import read_viewing
    from recommender.pipeline import prepare

    warehouse, folder, _ = setup
    retired = releases["retired"]
    assert warehouse.scalar("select count(*) from marts.dim_titles where is_retired") == 2
    # the first run (content, the default) came after the retirements: it succeeded, and
    # left them out, though they would be on many lists
    assert "(2 retired titles left out)" in first_run.stdout
    assert not any(set(retired) & set(titles) for titles in _lists(warehouse, "it-1").values())
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        viewing = read_viewing(wh)
    none = np.zeros(viewing.titles.size, dtype=bool)
    everything = prepare(viewing, recommender.load_config(), k=5, excluded=none)
    model = everything.fit()
    ids, _ = model.recommend_rows(np.arange(len(model.user_ids)), 5)
    positions = [viewing.titles.title_ids.tolist().index(t) for t in retired]
    assert np.isin(ids, positions).any(axis=1).mean() > 0.05
    # so did a hybrid's run
    result = warehouse.recdb("recommend", "--model", "hybrid", "--run-id", "it-cold-hybrid")
    assert "(2 retired titles left out)" in result.stdout
    lists = {"content": _lists(warehouse, "it-1"), "hybrid": _lists(warehouse, "it-cold-hybrid")}
    assert not any(set(retired) & set(titles) for titles in lists["hybrid"].values())
    # the new titles reach their genre's fans who have not watched them (top 5 of content,
    # top 10 of the hybrid), and few others
    for model_name, given in lists.items():
        for title, fans in releases["unwatched"].items():
            share = np.mean([title in given[user] for user in fans])
            others = np.mean([title in given[user] for user in set(given) - set(fans)])
            assert share > 0.25 and share > 5 * others, (model_name, title, share, others)
    # a title retired since the last build is left out at once (PostgreSQL refuses it)
    title = releases["titles"][0]
    with Warehouse("scientist", warehouse.settings("scientist")) as wh:
        import pandas as pd

        when = pd.Timestamp("2024-01-01", tz="UTC")
        wh.write("retired_titles", pd.DataFrame({"title_id": [title], "retired_at": [when]}))
    result = warehouse.recdb("recommend", "--run-id", "it-cold-unbuilt", "--k", "3")
    assert "(3 retired titles left out)" in result.stdout
    assert not any(title in titles for titles in _lists(warehouse, "it-cold-unbuilt").values())


def test_evaluate_scores_the_titles_released_after_the_cutoff(setup, releases, tmp_path):
    warehouse, folder, _ = setup
    result = warehouse.recdb(
        "evaluate",
        "--out",
        str(tmp_path),
        "--config",
        str(folder / "recommender.toml"),
        "--simulation-config",
        str(folder / "simulation.toml"),
        "--model",
        "content",
        "--model",
        "hybrid",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    stored = json.loads((tmp_path / "evaluation.json").read_text())
    held = stored["holdout"]
    assert held["new_titles"] == RELEASES
    assert held["new_title_test_users"] > 100
    assert "new titles (released after the cutoff): 4, watched in the test period" in result.stdout
    new = {name: values["new_titles"] for name, values in stored["models"].items()}
    assert new["popularity"]["recall@10"] == 0 and new["best_of"]["recall@10"] == 0
    assert new["oracle"]["recall@10"] > 0
    for model in ("content", "hybrid"):
        assert new[model]["users"] == held["new_title_test_users"]
        assert new[model]["recall@10"] > 0.5 * new["oracle"]["recall@10"], model
        assert 0 < new[model]["share_of_lists"] < 0.5
