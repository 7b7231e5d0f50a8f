"""`recdb docs` for analysts: generated without warnings, served and rendered in headless
Chromium, a static copy that opens from disk, and the analysts' guide's example queries."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from python_api import Warehouse
from recdb.docs import site as docs
from recdb.warehouse.server import free_port
from simulation import simulate
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration

ANALYSES = sorted((PROJECT_DIR / "analyses").glob("*.sql"))
#: The start of fact_sessions' description, as the model's page must show it.
FACT_SESSIONS_DESCRIPTION = "The fact table of the snowflake schema, grain one viewing session"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # root in CI containers
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # dbt's docs are an Angular app: let its scripts and fetches run before the dump.
    "--virtual-time-budget=20000",
]


@pytest.fixture(scope="module")
def unbuilt(fresh_warehouse, tmp_path_factory):
    """What `recdb docs` says on a server where nothing is built yet."""
    out = tmp_path_factory.mktemp("unbuilt")
    return fresh_warehouse.recdb("docs", "--out", str(out), check=False)


@pytest.fixture(scope="module")
def warehouse(built_warehouse):
    """The catalogue loaded and built, with simulated users and sessions built too (on a
    server of its own: `unbuilt` keeps the module's fresh one)."""
    with Warehouse("scientist", built_warehouse.settings("scientist")) as wh:
        simulate(300, 3, warehouse=wh)
    built_warehouse.dbt("build")
    return built_warehouse


@pytest.fixture(scope="module")
def site(warehouse, tmp_path_factory):
    """The docs generated as `recdb docs` does, into a folder of the test's own."""
    return docs.generate(warehouse.settings("owner"), tmp_path_factory.mktemp("site"))


def chromium_dom(url: str, profile: Path) -> str:
    """The DOM of ``url`` after its scripts ran, as headless Chromium renders it."""
    result = subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def rendered_markdown(dom: str) -> list[str]:
    """The text of each block of rendered markdown (descriptions, the overview) in a docs DOM."""
    blocks = re.findall(r'<div[^>]*class="[^"]*model-markdown[^"]*"[^>]*>(.*?)</div>', dom, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block)) for block in blocks]


def visible_html(dom: str) -> str:
    """The DOM without its scripts (the static page inlines the manifest in one)."""
    return re.sub(r"<script\b.*?</script>", "", dom, flags=re.S)


def test_docs_refuse_an_unbuilt_warehouse_with_what_to_run(unbuilt):
    result = unbuilt
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: the warehouse is not built: run `recdb load` and `recdb build` (or `recdb demo`) "
        "first, so that the docs describe real tables"
    )


def test_docs_generate_without_warnings_or_undocumented_nodes(site):
    assert site.warnings == []
    manifest = json.loads((site.path / "manifest.json").read_text())
    assert "doc.recdb.__overview__" in manifest["docs"]
    assert (site.path / "static_index.html").is_file()
    assert (site.path / "docs" / "erd.svg").is_file()  # the asset, for the overview's picture


def test_undocumented_nodes_are_reported(site):
    manifest = json.loads((site.path / "manifest.json").read_text())
    catalog = json.loads((site.path / "catalog.json").read_text())
    manifest["nodes"]["model.recdb.fact_sessions"]["description"] = ""
    manifest["nodes"]["model.recdb.fact_sessions"]["columns"]["rating"]["description"] = " "
    manifest["exposures"]["exposure.recdb.web_api"]["description"] = ""
    del manifest["docs"]["doc.recdb.__overview__"]
    assert docs.undocumented(manifest, catalog) == [
        "exposure exposure.recdb.web_api",
        "model model.recdb.fact_sessions",
        "column model.recdb.fact_sessions.rating",
        "the overview page (a {% docs __overview__ %} block)",
    ]


def test_exposures_show_who_depends_on_which_mart(site):
    manifest = json.loads((site.path / "manifest.json").read_text())
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {"recommender", "python_api", "web_api"} <= set(exposures)
    assert exposures["recommender"]["type"] == "ml"
    assert {
        "model.recdb.fact_sessions",
        "model.recdb.dim_users",
        "model.recdb.dim_titles",
    } <= set(exposures["recommender"]["depends_on"]["nodes"])
    assert "model.recdb.dim_titles" in exposures["python_api"]["depends_on"]["nodes"]
    assert "model.recdb.fact_recommendations" in exposures["web_api"]["depends_on"]["nodes"]
    for exposure in exposures.values():
        assert exposure["owner"]["email"].endswith("@example.com")  # a team alias, no person


def test_served_docs_show_a_models_description_in_chromium(warehouse, tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "recdb.cli", "docs", "--port", str(port)],
        env=warehouse.env(),
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A shell that starts the tests in the background ignores SIGINT for all its
        # children, and Python then leaves Ctrl-C ignored: give the child the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert "dbt" in page.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "the docs server did not come up"
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/docs/erd.svg", timeout=5) as erd:
            assert b"<svg" in erd.read()

        model = chromium_dom(
            f"http://127.0.0.1:{port}/#!/model/model.recdb.fact_sessions", tmp_path / "model"
        )
        assert any(FACT_SESSIONS_DESCRIPTION in block for block in rendered_markdown(model))

        overview = visible_html(
            chromium_dom(f"http://127.0.0.1:{port}/#!/overview", tmp_path / "overview")
        )
        assert '<img src="docs/erd.svg"' in overview
        assert "How to read these docs" in overview
        assert "grain one viewing session" in overview
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    assert f"serving the docs at http://127.0.0.1:{port}/" in output


def test_static_copy_opens_from_disk_in_chromium(warehouse, tmp_path):
    out = tmp_path / "site"
    result = warehouse.recdb("docs", "--out", str(out))
    assert f"wrote {out / 'index.html'}" in result.stdout
    assert (out / "docs" / "erd.svg").is_file()
    dom = chromium_dom(
        f"{(out / 'index.html').as_uri()}#!/model/model.recdb.fact_sessions", tmp_path / "profile"
    )
    assert any(FACT_SESSIONS_DESCRIPTION in block for block in rendered_markdown(dom))
    overview = visible_html(
        chromium_dom(f"{(out / 'index.html').as_uri()}#!/overview", tmp_path / "overview")
    )
    assert '<img src="docs/erd.svg"' in overview and "How to read these docs" in overview


def test_there_are_five_example_queries():
    assert len(ANALYSES) == 5


@pytest.mark.parametrize("path", ANALYSES, ids=lambda p: p.stem)
def test_example_query_runs_as_the_analyst_and_returns_rows(warehouse, path):
    rows = warehouse.query(path.read_text(encoding="utf-8"), role="analyst")
    assert rows
    assert all(value is not None for value in rows[0][:2])


#: The same questions answered from the facts (fact_sessions, dim_users), as the guide
#: answered them before the aggregate marts: each analysis must give exactly their rows.
FROM_FACTS = sorted((PROJECT_DIR / "tests" / "analyses_from_facts").glob("*.sql"))


def test_every_analysis_over_facts_has_its_twin_over_the_aggregates():
    names = {path.name for path in ANALYSES}
    assert FROM_FACTS and {path.name for path in FROM_FACTS} <= names
    assert all("agg_" in (PROJECT_DIR / "analyses" / p.name).read_text() for p in FROM_FACTS)


def test_the_aggregates_answer_as_the_facts_do_after_incremental_builds(
    built_warehouse_of_its_own,
):
    """Users, sessions and ratings written, updated and deleted between incremental
    builds: each analysis over the aggregate marts returns exactly the rows of its twin
    over the facts (tests/analyses_from_facts)."""
    built = built_warehouse_of_its_own
    with Warehouse("scientist", built.settings("scientist")) as wh:
        simulate(400, 5, warehouse=wh)
    built.dbt("build")
    with Warehouse("scientist", built.settings("scientist")) as wh:
        simulate(100, 6, warehouse=wh)
        rated = wh.read("select session_id from sim.ratings where session_id % 7 = 0")
        sessions = wh.read("select session_id from sim.sessions where session_id % 7 = 0")
        with wh.transaction():
            wh.delete("ratings", rated)
            wh.delete("sessions", sessions)
        wh.update("users", wh.read("select user_id, 'premium' as plan from sim.users "
                                   "where user_id % 5 = 0"))  # fmt: skip
        gone = wh.read("select user_id from sim.users where user_id % 11 = 0")
        with wh.transaction():
            wh.delete("ratings", wh.read(
                "select r.session_id from sim.ratings as r join sim.sessions as s "
                "using (session_id) where s.user_id % 11 = 0"
            ))  # fmt: skip
            wh.delete("sessions", wh.read("select session_id from sim.sessions "
                                          "where user_id % 11 = 0"))  # fmt: skip
            wh.delete("user_tastes", gone)
            wh.delete("users", gone)
    built.dbt("build")
    for path in FROM_FACTS:
        over_aggregates = built.query((PROJECT_DIR / "analyses" / path.name).read_text(),
                                      role="analyst")  # fmt: skip
        assert over_aggregates == built.query(path.read_text(), role="analyst"), path.stem
        assert over_aggregates


def test_recdb_docs_has_help(fresh_warehouse):
    result = fresh_warehouse.recdb("docs", "--help")
    assert "--port" in result.stdout and "--out" in result.stdout and "--erd" in result.stdout
