"""Least privilege, proven on a built warehouse: analysts read raw and marts, and nothing else."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.integration

DENIED_STATEMENTS = {
    "insert": "insert into {table} select * from {table} limit 1",
    "update": "update {table} set {column} = {column}",
    "delete": "delete from {table}",
    "truncate": "truncate {table}",
    "create": "create table {schema}.analyst_scratch (x int)",
    "drop": "drop table {table}",
    "alter": "alter table {table} add column scratch int",
}
TABLES = [("raw", "titles", "title"), ("marts", "dim_titles", "title_name")]


@pytest.mark.parametrize("schema, table, column", TABLES)
@pytest.mark.parametrize("action", sorted(DENIED_STATEMENTS))
def test_analyst_cannot_write_or_change(built_warehouse, schema, table, column, action):
    statement = DENIED_STATEMENTS[action].format(
        table=f"{schema}.{table}", schema=schema, column=column
    )
    with (
        built_warehouse.connect("analyst") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement)


@pytest.mark.parametrize("schema", ["public", "raw", "marts"])
def test_analyst_cannot_create_in_any_schema(built_warehouse, schema):
    with (
        built_warehouse.connect("analyst") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(f"create view {schema}.analyst_view as select 1 as x")


def test_analyst_cannot_create_a_schema(built_warehouse):
    with (
        built_warehouse.connect("analyst") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("create schema analyst_schema")


@pytest.mark.parametrize("role", ["analyst", "scientist"])
def test_readers_read_raw_and_every_mart(built_warehouse, role):
    marts = [
        r[0]
        for r in built_warehouse.query(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        )
    ]
    assert "dim_titles" in marts
    for schema, table in [("raw", "titles"), ("raw", "credits")] + [("marts", m) for m in marts]:
        count = built_warehouse.scalar(f"select count(*) from {schema}.{table}", role=role)
        assert count >= 0


@pytest.mark.parametrize("role", ["analyst", "scientist"])
def test_readers_do_not_see_dbt_inner_layers(built_warehouse, role):
    with (
        built_warehouse.connect(role) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("select * from staging.stg_netflix__titles limit 1")


def test_scientist_cannot_write_the_warehouse(built_warehouse):
    with (
        built_warehouse.connect("scientist") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("delete from marts.dim_titles")
