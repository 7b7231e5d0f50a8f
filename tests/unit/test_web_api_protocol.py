"""The request head size limit (web_api.protocol): uvicorn with HeadSizeLimitedProtocol on a
loopback port, a tiny app, raw sockets. (Over `recdb serve`: test_web_api_faults.py.)"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import pytest
import uvicorn

from recdb.warehouse.server import free_port
from web_api.protocol import HeadSizeLimitedProtocol

LIMIT = 4096


async def echo(scope, receive, send):
    """Answers 200 with the size of the body and of the headers it got."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = json.dumps({"body": size, "headers": len(scope["headers"])}).encode()
    length = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": length})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port():
    port = free_port()
    config = uvicorn.Config(
        echo,
        host="127.0.0.1",
        port=port,
        http=HeadSizeLimitedProtocol,
        h11_max_incomplete_event_size=LIMIT,
        log_level="error",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def exchange(port: int, *pieces: bytes, pause: float = 0.0) -> bytes:
    """Send ``pieces`` on a new connection (the server may stop reading midway); the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):
            for piece in pieces:
                sock.sendall(piece)
                time.sleep(pause)
        reply = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                reply += chunk
    return reply


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply else 0


def head(*headers: bytes, path: bytes = b"/") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + b"".join(headers)


CLOSE = b"Connection: close\r\n"


def test_a_head_under_the_limit_is_served(port):
    reply = exchange(port, head(CLOSE, b"X-A: " + b"a" * (LIMIT - 200) + b"\r\n\r\n"))
    assert status_of(reply) == 200


def test_a_huge_header_is_refused_with_a_json_431(port):
    reply = exchange(port, head(b"X-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"))
    assert status_of(reply) == 431, reply[:300]
    headers, body = reply.split(b"\r\n\r\n", 1)
    assert b"connection: close" in headers.lower()
    error = json.loads(body)["error"]
    assert error["status"] == 431 and error["code"] == "request_header_fields_too_large"
    assert str(LIMIT) in error["message"]


def test_a_header_that_never_ends_is_refused_before_it_ends(port):
    """Sent in pieces and never finished: refused once the pieces pass the limit, not
    buffered until the end of a header that does not come."""
    pieces = [head(b"X-Big: ")] + [b"a" * 1024] * (LIMIT // 1024 + 8)
    assert status_of(exchange(port, *pieces, pause=0.01)) == 431


@pytest.mark.parametrize(
    "headers",
    [
        [b"X-A: " + b"b" * 20 + b"\r\n"] * (LIMIT // 25 + 10),  # many small ones
        [b"X-A: b\r\n"],  # a small header, a long URL
    ],
    ids=["many-headers", "long-url"],
)
def test_a_head_over_the_limit_in_one_piece_is_refused(port, headers):
    path = b"/" + b"p" * (LIMIT + 10) if len(headers) == 1 else b"/"
    assert status_of(exchange(port, head(*headers, b"\r\n", path=path))) == 431


def test_a_large_body_is_not_counted_as_head(port):
    body = b"x" * (LIMIT * 4)
    request = (
        b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    reply = exchange(port, request)
    assert status_of(reply) == 200 and json.loads(reply.split(b"\r\n\r\n", 1)[1])["body"] == len(
        body
    )


def test_pipelined_requests_under_the_limit_are_each_counted_alone(port):
    one = head(b"X-A: " + b"a" * (LIMIT // 2) + b"\r\n\r\n")
    last = head(CLOSE, b"X-A: " + b"a" * (LIMIT // 2) + b"\r\n\r\n")
    reply = exchange(port, one * 3 + last)
    assert reply.count(b"HTTP/1.1 200 ") == 4, reply[:500]


def test_the_server_serves_the_next_connection_after_a_refusal(port):
    assert status_of(exchange(port, head(b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n"))) == 431
    assert status_of(exchange(port, head(CLOSE, b"\r\n"))) == 200
