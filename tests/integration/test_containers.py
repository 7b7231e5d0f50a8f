"""recdb as containers: the images built from a Debian bootstrapped here (CI's base: no
registry), the stack of compose.yaml brought up with podman-compose by the operators'
guide's own blocks, and then used as a team would: the web API guide's requests, an
analyst's query, the roles compared with the embedded server's, a backup restored, a
restart that finds the data again, and each image started without its secrets.

The stack comes up in the background while the rest of the suite runs, and these tests
run last (tests/container_stack.py, conftest.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container_stack import (
    IMAGES,
    Stack,
    container_blocks,
    started,
    tear_down,
)
from tests.readme_blocks import blocks

pytestmark = [pytest.mark.integration, pytest.mark.containers]

GUIDE_BLOCKS = container_blocks()
ANALYST, SCIENTIST, OWNER = "recdb_analyst", "recdb_scientist", "recdb_owner"
#: The API image's goal (podman counts megabytes of 10^6 bytes).
API_IMAGE_GOAL_BYTES = 400 * 10**6


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """The stack the guide's first container block brought up (in the background, while
    the rest of the suite ran: tests/container_stack.py)."""
    try:
        yield started()
    finally:
        tear_down()


def test_the_guide_brought_up_a_built_warehouse(stack):
    logs = stack.logs("pipeline")
    assert "The warehouse is built." in logs
    users = int(stack.psql("select count(*) from sim.users"))
    assert users == 200
    assert int(stack.psql("select count(*) from marts.fact_recommendations")) > 0


def test_the_web_api_guides_requests_work_in_front_of_the_containers(stack):
    requests = next(b for b in blocks(document="docs/api.md") if "/v1/users/42/recom" in b.text)
    keys = dict(reversed(pair.split(":")) for pair in stack.secrets()["RECDB_API_KEYS"].split(","))
    stack.env |= {"ANALYST_KEY": keys["analyst"], "SCIENTIST_KEY": keys["scientist"]}
    output = stack.guide(requests)
    assert '"user_id":42,"run_id":"demo"' in output
    assert '"user_id":1000001' in output
    some_title = stack.psql("select title_id from marts.fact_recommendations limit 1")
    status, similar = stack.get(f"/v1/titles/{some_title}/similar?k=3", keys["analyst"])
    assert status == 200 and similar["run_id"] == "demo" and len(similar["items"]) == 3


def test_the_analyst_reads_the_marts_and_changes_nothing(stack):
    output = stack.guide(GUIDE_BLOCKS[1])
    assert int(output.split("sessions")[-1].split()[1]) > 0
    password = stack.secrets()["RECDB_ANALYST_PASSWORD"]
    with pytest.raises(AssertionError, match="permission denied"):
        stack.psql("delete from sim.users", role=ANALYST, password=password)
    with pytest.raises(AssertionError, match="permission denied"):
        stack.psql("create table marts.mine (x int)", role=ANALYST, password=password)


ROLES_QUERY = (
    "select rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, "
    "rolreplication, rolbypassrls, array_to_string(rolconfig, ';') from pg_roles "
    "where rolname like 'recdb\\_%' order by rolname"
)
DATABASE_QUERY = (
    "select pg_get_userbyid(datdba), datacl::text from pg_database where datname = 'recdb'"
)
SCHEMAS_QUERY = (
    "select nspname, pg_get_userbyid(nspowner), coalesce(nspacl::text, '') from pg_namespace "
    "where nspname not like 'pg\\_%' and nspname <> 'information_schema' order by nspname"
)


def test_the_roles_and_grants_are_the_embedded_servers(stack, fresh_warehouse):
    superuser = fresh_warehouse.server.superuser_settings()

    def embedded(query: str) -> list[str]:
        with superuser.connect(dbname="recdb") as conn:
            return ["|".join(_text(v) for v in row) for row in conn.execute(query).fetchall()]

    def contained(query: str) -> list[str]:
        return stack.psql(query).splitlines()

    assert contained(ROLES_QUERY) == embedded(ROLES_QUERY)
    assert contained(DATABASE_QUERY) == embedded(DATABASE_QUERY)
    built_schemas = {line.split("|")[0]: line for line in contained(SCHEMAS_QUERY)}
    for line in embedded(SCHEMAS_QUERY):
        assert built_schemas.get(line.split("|")[0]) == line


def _text(value: object) -> str:
    """A value as psql -A -t prints it."""
    if isinstance(value, bool):
        return "t" if value else "f"
    return "" if value is None else str(value)


def test_the_api_connects_as_analyst_and_scientist_only(stack):
    analyst_key = stack.secrets()["RECDB_API_KEYS"].split(",")[0].split(":")[0]
    assert stack.get("/v1/titles?limit=1", analyst_key)[0] == 200
    address = stack.run(
        "podman", "inspect", "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", stack.container("api"),
    ).stdout.strip()  # fmt: skip
    users = stack.psql(
        f"select distinct usename from pg_stat_activity where client_addr = '{address}'"
    ).split()
    assert users and set(users) <= {ANALYST, SCIENTIST}
    environment = stack.run("podman", "exec", stack.container("api"), "env").stdout
    names = {line.split("=", 1)[0] for line in environment.splitlines()}
    assert not names & {"PGPASSWORD", "RECDB_OWNER_PASSWORD", "POSTGRES_PASSWORD"}
    assert stack.run("podman", "exec", stack.container("api"), "id", "-u").stdout.strip() != "0"


def test_a_backup_restores_what_was_lost(stack):
    backup, restore = GUIDE_BLOCKS[2:]
    stack.guide(backup)
    assert (stack.folder / "recdb.dump").stat().st_size > 0
    counts = "select (select count(*) from sim.users), (select count(*) from sim.ratings)"
    before = stack.psql(counts)
    stack.psql("delete from sim.ratings")  # lost by mistake
    assert stack.psql(counts) != before
    stack.guide(restore)
    assert stack.psql(counts) == before
    assert stack.psql(DATABASE_QUERY).split("|")[0] == OWNER


def test_the_data_survives_a_restart(stack):
    counts = "select (select count(*) from sim.users), (select count(*) from sim.sessions)"
    before = stack.psql(counts)
    assert stack.compose("down", timeout=300).returncode == 0
    up = stack.compose("up", "-d")
    assert up.returncode == 0, up.stderr[-4000:]
    stack.compose("logs", "-f", "pipeline")
    assert stack.exit_code("pipeline") == 0, stack.logs("pipeline")
    assert stack.psql(counts) == before
    # the pipeline built again: the marts hold what the API wrote before the restart
    assert stack.psql("select count(*) from marts.fact_sessions") == before.split("|")[1]
    waited = stack.bash(
        f"curl -sf --retry 60 --retry-all-errors --retry-delay 2 "
        f"http://127.0.0.1:{stack.api_port}/v1/health"
    )
    assert waited.returncode == 0, waited.stderr
    analyst_key = stack.secrets()["RECDB_API_KEYS"].split(",")[0].split(":")[0]
    status, body = stack.get("/v1/users/42/recommendations?k=3", analyst_key)
    assert status == 200 and body["run_id"] == "demo"


@pytest.mark.parametrize(
    ("image", "command", "environment", "missing"),
    [
        ("api", [], {}, "RECDB_API_KEYS"),
        ("api", [], {"RECDB_API_KEYS": "k" * 16 + ":analyst"}, "RECDB_ANALYST_PASSWORD"),
        ("pipeline", [], {}, "RECDB_OWNER_PASSWORD"),
        ("pipeline", ["init"], {"RECDB_OWNER_PASSWORD": "x"}, "POSTGRES_PASSWORD"),
        ("db", [], {}, "POSTGRES_PASSWORD"),
    ],
)
def test_a_container_without_its_secrets_stops_at_once_naming_it(
    stack, image, command, environment, missing
):
    options = [f"--env={name}={value}" for name, value in environment.items()]
    done = stack.run(
        "podman", "run", "--rm", "--network=none", *options, IMAGES[image], *command, timeout=60
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 64
    assert len(lines) == 1 and lines[0].startswith(f"error: {missing} is not set"), done.stderr


def test_secrets_come_from_files_too(stack):
    """VAR_FILE (compose's and Kubernetes' secrets) stands for VAR; one that cannot be read
    is named."""
    folder = Path(tempfile.mkdtemp(prefix="recdb-secrets-"))
    try:
        folder.chmod(0o755)  # the images' user (uid 10001) reads it
        (folder / "keys").write_text("k" * 16 + ":analyst\n")
        (folder / "keys").chmod(0o644)
        mount = f"--volume={folder}:/run/secrets:ro"
        done = stack.run(
            "podman", "run", "--rm", "--network=none", mount,
            "--env=RECDB_API_KEYS_FILE=/run/secrets/keys", IMAGES["api"], timeout=60,
        )  # fmt: skip
        assert done.returncode == 64
        assert done.stderr.strip().startswith("error: RECDB_ANALYST_PASSWORD is not set")
        done = stack.run(
            "podman", "run", "--rm", "--network=none", mount,
            "--env=RECDB_OWNER_PASSWORD_FILE=/run/secrets/nope", IMAGES["pipeline"], timeout=60,
        )  # fmt: skip
        assert done.returncode == 64
        assert done.stderr.strip() == (
            "error: RECDB_OWNER_PASSWORD_FILE names /run/secrets/nope, which cannot be read"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_api_image_meets_its_size_goal(stack):
    size = int(
        stack.run("podman", "image", "inspect", "--format", "{{.Size}}", IMAGES["api"]).stdout
    )
    assert size <= API_IMAGE_GOAL_BYTES, f"the API image is {size / 10**6:.0f} MB"
