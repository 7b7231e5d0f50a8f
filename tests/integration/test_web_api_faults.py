"""The web API under faults: `recdb serve` over a test server that restarts, a write behind a
build's lock, a header far over the limit. Each reproduces a failure of issue 10 (item 9)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.test_web_api import ANALYST, NEW_USER, SCIENTIST, serving

pytestmark = pytest.mark.integration

LOCK_TIMEOUT_S = 1.0
#: Both kinds of request must answer 2xx again within this long of the server accepting
#: connections (the issue saw writes answer 503 for minutes).
RECOVERY_LIMIT_S = 5.0


@dataclass
class Served:
    url: str
    warehouse: object
    port: int
    log: Path

    def read(self) -> httpx.Response:
        return httpx.get(
            self.url + "/v1/titles?limit=1", headers={"X-API-Key": ANALYST}, timeout=30
        )

    def create_user(self, user_id: int) -> httpx.Response:
        return httpx.post(
            self.url + "/v1/users",
            json={**NEW_USER, "user_id": user_id},
            headers={"X-API-Key": SCIENTIST},
            timeout=60,
        )


@pytest.fixture(scope="module")
def served(built_warehouse, tmp_path_factory):
    """The project's catalogue, built, served by `recdb serve` with a 1 s lock timeout."""
    warehouse = built_warehouse
    log = tmp_path_factory.mktemp("web_api_faults") / "serve.log"
    with serving(warehouse, log, RECDB_API_LOCK_TIMEOUT=str(LOCK_TIMEOUT_S)) as (url, port):
        yield Served(url, warehouse, port, log)


def _first_success(request, deadline: float) -> float | None:
    """Monotonic time of the first 2xx answer of ``request()``, polling until ``deadline``."""
    while time.monotonic() < deadline:
        try:
            if request().status_code < 300:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return None


def _fill_the_pools(served) -> None:
    """Several write connections (concurrent writes) and read connections, all in use once."""
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(served.create_user, next_ids(8)))
        reads = list(pool.map(lambda _: served.read(), range(8)))
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    assert all(r.status_code == 200 for r in reads), [r.text for r in reads]


_IDS = iter(range(800_000, 900_000))


def next_ids(count: int) -> list[int]:
    return [next(_IDS) for _ in range(count)]


def test_the_first_read_and_write_after_a_restart_succeed(served):
    """`recdb db stop; recdb db start` under a running API: the pooled connections died with
    the old server; none of them may fail a request once the new one accepts connections."""
    _fill_the_pools(served)
    served.warehouse.server.stop()
    served.warehouse.server.start()
    read = served.read()
    write = served.create_user(next_ids(1)[0])
    assert (read.status_code, write.status_code) == (200, 201), (read.text, write.text)
    _fill_the_pools(served)  # and no dead connection is left in the pools


def test_reads_and_writes_recover_within_seconds_of_an_outage(served):
    """Requests during an outage answer 503; once the server accepts connections again,
    reads and writes answer 2xx within seconds (the read pool's reconnection used to back
    off exponentially, up to minutes)."""
    _fill_the_pools(served)
    served.warehouse.server.stop()
    down_until = time.monotonic() + 16
    while time.monotonic() < down_until:
        statuses = (served.read().status_code, served.create_user(next_ids(1)[0]).status_code)
        assert statuses == (503, 503), statuses
    served.warehouse.server.start()
    accepting = time.monotonic()
    deadline = accepting + 60
    read_ok = _first_success(served.read, deadline)
    write_ok = _first_success(lambda: served.create_user(next_ids(1)[0]), deadline)
    assert read_ok is not None and write_ok is not None, (read_ok, write_ok)
    read_s, write_s = read_ok - accepting, write_ok - accepting
    print(f"recovery after a 16 s outage: reads {read_s:.2f} s, writes {write_s:.2f} s")
    assert read_s < RECOVERY_LIMIT_S and write_s < RECOVERY_LIMIT_S, (read_s, write_s)
    _fill_the_pools(served)


def test_a_write_behind_a_builds_lock_is_a_fast_503_with_retry_after(served):
    """A lock another transaction holds (here a SHARE lock, as a migration or an operator's
    LOCK TABLE takes; builds take none): a write waits at most the lock timeout, then 503."""
    user_id = next_ids(1)[0]
    with served.warehouse.connect("owner") as holder:
        holder.execute("lock table sim.users in share mode")  # until this transaction ends
        started = time.monotonic()
        response = served.create_user(user_id)
        waited = time.monotonic() - started
    print(f"a write behind a SHARE lock answered {response.status_code} after {waited:.2f} s")
    assert response.status_code == 503, response.text
    assert waited < LOCK_TIMEOUT_S + 5, waited
    assert int(response.headers["retry-after"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert "lock" in error["message"] and "retry" in error["message"].lower()
    # The lock released, the same write goes through.
    assert served.create_user(user_id).status_code == 201


def _raw_request(port: int, head: bytes) -> bytes:
    """Send ``head`` on a new connection (the server may stop reading midway); the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        # Refused and closed before all of it was sent: the reply is still there.
        with contextlib.suppress(OSError):
            sock.sendall(head)
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except OSError:
            pass
    return reply


def test_a_huge_header_is_431_and_the_server_serves_the_next_request(served):
    huge = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
    reply = _raw_request(served.port, huge)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["status"] == 431 and "header" in body["error"]["message"]
    # Many headers, each small, add up too.
    many = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + b"X-A: bbbbbbbbbb\r\n" * 2000 + b"\r\n"
    assert _raw_request(served.port, many).startswith(b"HTTP/1.1 431 ")
    # A header under the limit is served, and so is the next request.
    fine = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
    reply = _raw_request(served.port, fine + b"a" * 8000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]
    assert httpx.get(served.url + "/v1/health", timeout=10).status_code == 200
