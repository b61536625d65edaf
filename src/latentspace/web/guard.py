"""The explorer's outermost ASGI layer: Host, token and body-size checks, and the headers every
response carries.

- A Host header other than the bound address or localhost gets 403 (DNS rebinding).
- Every ``/api`` call needs the per-launch token (``X-Token`` header or ``token`` query parameter)
  or gets 403; the token is compared in constant time.
- Bodies over ``max_body`` get 413 before they are read (announced or streamed).
- Every response, refusals included, says ``Referrer-Policy: no-referrer`` (the page is opened with
  the token in its URL: no request the page makes may repeat that URL in a Referer) and
  ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import hmac
import json

MAX_BODY = 1 << 20  # bytes; a lasso of 100,000 indices fits
SECURITY_HEADERS = [(b"referrer-policy", b"no-referrer"), (b"x-content-type-options", b"nosniff")]


class Guard:
    """Outermost middleware: refuses foreign Host headers and API calls without the token (403),
    and bodies over ``max_body`` (413) before the application reads them."""

    def __init__(self, app, token: str, hosts: set[str], max_body: int = MAX_BODY):
        self.app, self.token, self.hosts, self.max_body = app, token, hosts, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        send = _with_headers(send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        if name.lower() not in self.hosts:
            return await _plain(send, 403, "forbidden host")
        if scope["path"].startswith("/api/"):
            given = headers.get("x-token") or _query_token(scope.get("query_string", b""))
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return await _plain(send, 403, "missing or wrong token")
        length = headers.get("content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_body
            except ValueError:
                return await _plain(send, 400, "bad content-length")
            if too_big:
                return await _plain(send, 413, f"body over {self.max_body} bytes")
        seen, rejected = 0, False

        async def limited():
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_body:  # answer now; the app sees the client gone
                    rejected = True
                    await _plain(send, 413, f"body over {self.max_body} bytes")
                    return {"type": "http.disconnect"}
            return msg

        async def guarded_send(msg):
            if not rejected:
                await send(msg)

        try:
            return await self.app(scope, limited, guarded_send)
        except Exception:
            if rejected:  # the app failed on the cut-off body: the 413 is already sent
                return None
            raise


def _with_headers(send):
    async def send_with_headers(msg):
        if msg["type"] == "http.response.start":
            msg = {**msg, "headers": [*msg.get("headers", []), *SECURITY_HEADERS]}
        await send(msg)

    return send_with_headers


def _query_token(qs: bytes) -> str | None:
    from urllib.parse import parse_qs

    vals = parse_qs(qs.decode("latin-1")).get("token")
    return vals[0] if vals else None


async def _plain(send, status: int, text: str):
    body = json.dumps({"detail": text}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
