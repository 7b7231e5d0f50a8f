"""A request body size limit, as pure ASGI middleware (cheap on every request)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web_api.errors import ApiHttpError, error_body


class _TooLarge(ApiHttpError):
    """Raised from ``receive`` once a streamed body passes the limit."""


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with a 413 JSON error.

    A declared ``Content-Length`` over the limit is refused before anything is
    read; a chunked body is counted as it arrives and refused when it passes
    the limit (the error is an HTTPException, so FastAPI's body parsing passes
    it through as a 413 rather than a 400).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(send, 400, "invalid Content-Length header")
                    return
                if declared > self.max_bytes:
                    await self._refuse(send, 413, self._message())
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(413, self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes} bytes"

    async def _refuse(self, send: Send, status: int, message: str) -> None:
        body = json.dumps(error_body(status, message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
