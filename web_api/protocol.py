"""uvicorn's httptools protocol with a size limit on the request head (request line + headers).

httptools has no limit of its own: it buffers a header value until its end,
so a client could make a worker hold a 64 MB header in memory. h11's
``h11_max_incomplete_event_size`` applies to h11 only; this protocol takes
the same setting (``uvicorn.run(..., http=HeadSizeLimitedProtocol,
h11_max_incomplete_event_size=N)``) and enforces it for httptools:

* the bytes of the request line and of each complete header are counted as
  the parser reports them, and a head over the limit is refused when it ends;
* while a head is still incomplete, whole reads are counted too, so a head
  that never ends (one huge header) is refused once the reads pass the limit,
  having buffered at most the limit and one read, not the whole header.

A refusal answers ``431 Request Header Fields Too Large`` with the API's JSON
error body, stops reading the request, and closes the connection (after
letting the client read the answer); the next connection is served as usual.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from web_api.errors import error_body
from web_api.settings import DEFAULT_MAX_HEADER_BYTES

#: Seconds a refused connection stays open, its input discarded, so that a client still
#: sending its head reads the 431 rather than a reset connection.
LINGER_S = 2.0
#: ": " and CRLF around each header, CRLF after the request line.
_HEADER_OVERHEAD = 4


class HeadSizeLimitedProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` refusing, with a 431, request heads over
    ``config.h11_max_incomplete_event_size`` bytes (default
    :data:`~web_api.settings.DEFAULT_MAX_HEADER_BYTES`)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_head_bytes = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEADER_BYTES
        self._in_head = False
        #: Request line and complete headers of the current head, as parsed.
        self._head_bytes = 0
        #: Bytes of the reads that arrived while the current head was incomplete (a lower
        #: bound of its size: the read it began in is not counted, it may hold other data).
        self._head_reads = 0
        self._refused = False

    # -- counting ------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the 431 is sent: what the client still sends is dropped unread
        if self._in_head:
            self._head_reads += len(data)
        super().data_received(data)
        if self._in_head and max(self._head_bytes, self._head_reads) > self.max_head_bytes:
            self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = _HEADER_OVERHEAD
        self._head_reads = 0

    def on_url(self, url: bytes) -> None:
        if self._refused:
            return
        self._head_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        self._head_bytes += len(name) + len(value) + _HEADER_OVERHEAD
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = False
        if self._head_bytes > self.max_head_bytes:
            self._refuse()
            return
        super().on_headers_complete()

    # The parser goes on through the rest of a read after a refusal: its body is not ours.
    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    # -- refusing ------------------------------------------------------------------
    def _refuse(self) -> None:
        self._refused = True
        self._in_head = False
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        self.logger.warning(
            "refused a request head over %d bytes from %s (431)", self.max_head_bytes, client
        )
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request while the one before it is being answered: that answer
            # goes first and then the connection closes; no 431 can overtake it.
            self.cycle.keep_alive = False
            return
        message = (
            f"the request line and headers are larger than the limit of {self.max_head_bytes} bytes"
        )
        body = json.dumps(error_body(431, message)).encode()
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[431],
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(body)).encode() + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()
