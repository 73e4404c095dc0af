"""The API's edge, before any route runs: writes authenticated and request bodies bounded.

FastAPI reads and parses a request's body before it resolves the route's
dependencies, so a token check written as a dependency came after a 300 MB
body had been read and parsed (API 101 -> 679 MB, then 401). This ASGI
middleware looks at the headers only: a write (any method but GET, HEAD and
OPTIONS) without the operator token is answered 401/403 before a byte of its
body is read, and a body longer than ``max_body_bytes`` is answered 413,
from its ``Content-Length`` at once or, for a chunked body, as soon as the
bytes received pass the limit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from core.settings import Settings
from ui.auth import Verdict, check_token

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

READS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token(authorization: bytes | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (latin-1, as HTTP has it)."""
    if not authorization:
        return None
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class WriteGuard:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.max_body_bytes = settings.api_max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if scope["method"] not in READS:
            verdict = check_token(self.settings, bearer_token(headers.get(b"authorization")))
            if verdict is Verdict.WRITES_OFF:
                await _answer(send, 403, verdict.value)
                return
            if verdict is Verdict.REFUSED:
                await _answer(send, 401, verdict.value, [(b"www-authenticate", b"Bearer")])
                return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await _answer(send, 413, self._too_large())
            return
        answered = False  # the 413 is out: what the app sends after it is dropped
        received = 0

        async def counted_receive() -> Message:
            nonlocal answered, received
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Answered here, not by raising: FastAPI turns any error while it reads
                    # a body into a 400. The app is told the client left and stops reading.
                    answered = True
                    await _answer(send, 413, self._too_large())
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        await self.app(scope, counted_receive, guarded_send)

    def _too_large(self) -> str:
        return (f"request body over {self.max_body_bytes} bytes "
                "(FLEETCAST_API_MAX_BODY_BYTES)")


async def _answer(send: Send, status: int, detail: str,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
