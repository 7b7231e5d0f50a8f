"""recdb docs without a database: the analysts' guide, warnings, the static copy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from recdb.docs import site as docs
from tests.readme_blocks import PROJECT_DIR, fenced

ANALYSTS_GUIDE = "docs/analysts.md"
GUIDE = (PROJECT_DIR / ANALYSTS_GUIDE).read_text(encoding="utf-8")
ANALYSES = sorted((PROJECT_DIR / "analyses").glob("*.sql"))


@pytest.mark.parametrize("path", ANALYSES, ids=lambda p: p.stem)
def test_the_analysts_guide_shows_each_example_query_exactly(path):
    assert path.read_text(encoding="utf-8") in fenced("sql", (ANALYSTS_GUIDE,))
    assert f"(`analyses/{path.name}`)" in GUIDE


def test_the_analysts_guide_shows_the_erd_and_how_to_connect_as_the_analyst():
    assert "](erd.svg)" in GUIDE  # docs/erd.svg, beside the guide
    assert (PROJECT_DIR / "docs" / "erd.svg").is_file()
    for field in ("Host name/address", "Maintenance database", "`recdb_analyst`", "`127.0.0.1`"):
        assert field in GUIDE
    assert 'psql "$(recdb db url --role analyst)"' in GUIDE


def test_the_overview_embeds_the_erd_from_the_asset_path():
    overview = (PROJECT_DIR / "models" / "overview.md").read_text(encoding="utf-8")
    assert overview.startswith("{% docs __overview__ %}")
    assert "](docs/erd.svg)" in overview
    project = (PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8")
    assert 'asset-paths: ["docs"]' in project
    assert docs.ASSET_PATHS == ("docs",)


def event(level: str, name: str, msg: str) -> SimpleNamespace:
    return SimpleNamespace(info=SimpleNamespace(level=level, name=name, msg=msg))


def test_dbt_warnings_and_errors_are_collected_and_the_rest_ignored():
    warnings: list[str] = []
    callback = docs._collect_warnings(warnings)
    callback(event("info", "MainReportVersion", "Running with dbt"))
    callback(event("debug", "SQLQuery", "select 1"))
    callback(event("warn", "NodeNotFoundOrDisabled", "model.recdb.x depends on a missing node"))
    callback(event("error", "CatalogGenerationError", "no catalog"))
    assert warnings == [
        "dbt NodeNotFoundOrDisabled: model.recdb.x depends on a missing node",
        "dbt CatalogGenerationError: no catalog",
    ]


def manifest_with(**nodes):
    return {
        "nodes": nodes,
        "sources": {},
        "exposures": {},
        "macros": {
            "macro.recdb.m": {"package_name": "recdb", "description": ""},
            "macro.dbt.other": {"package_name": "dbt", "description": ""},
        },
        "docs": {},
    }


def test_undocumented_lists_nodes_macros_columns_and_the_missing_overview():
    manifest = manifest_with(
        **{
            "model.recdb.a": {
                "resource_type": "model",
                "package_name": "recdb",
                "description": "A.",
                "columns": {"x": {"description": "X."}, "y": {"description": ""}},
            },
            "analysis.recdb.q": {
                "resource_type": "analysis",
                "package_name": "recdb",
                "description": "",
                "columns": {},
            },
            "test.recdb.t": {"resource_type": "test", "package_name": "recdb", "description": ""},
        }
    )
    catalog = {"nodes": {"model.recdb.a": {"columns": {"X": {}, "y": {}, "z": {}}}}, "sources": {}}
    assert docs.undocumented(manifest, catalog) == [
        "analysis analysis.recdb.q",
        "macro macro.recdb.m",
        "column model.recdb.a.y",
        "column model.recdb.a.z",
        "the overview page (a {% docs __overview__ %} block)",
    ]


def test_the_static_copy_is_the_inlined_page_with_the_assets(tmp_path):
    site = docs.DocsSite(tmp_path / "site")
    site.path.mkdir()
    site.static_page.write_text("<html>inlined</html>", encoding="utf-8")
    page = docs.write_static(site, tmp_path / "out")
    assert page == tmp_path / "out" / "index.html"
    assert page.read_text(encoding="utf-8") == "<html>inlined</html>"
    assert (tmp_path / "out" / "docs" / "erd.svg").read_bytes() == (
        PROJECT_DIR / "docs" / "erd.svg"
    ).read_bytes()


def test_a_busy_port_is_an_error_that_says_to_choose_another(tmp_path):
    site = docs.DocsSite(tmp_path)
    first = docs.make_server(site, 0)
    try:
        port = first.server_address[1]
        with pytest.raises(docs.DocsError, match="choose another --port"):
            docs.make_server(site, port)
    finally:
        first.server_close()


def test_a_stale_erd_is_a_warning():
    assert docs.stale_erd({"nodes": {}}) == [
        "the ERD (docs/erd.dot) is stale: run `recdb docs --erd` and commit docs/"
    ]
