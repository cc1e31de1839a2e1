"""The dashboard behind a token, for ``narcoflow dashboard --host`` on a non-loopback address.

Solara's own authentication is OAuth through an external provider (solara-enterprise, see
https://solara.dev/docs/enterprise/oauth); a dashboard on a lab network needs something with no
provider. Solara's server is a Starlette app (``solara.server.starlette:app``, configured by
``SOLARA_APP``, as in https://solara.dev/docs/deploying/self-hosted), so `app` wraps it in a
small ASGI middleware: every HTTP request and websocket must carry the token, as the query
parameter ``?token=...`` (the address ``narcoflow dashboard`` prints; the token is then kept in
an HttpOnly, SameSite=Strict cookie), as that cookie, or as ``Authorization: Bearer ...``.
Anything else gets 401 (a websocket is closed with code 1008). Run with uvicorn:
``NARCOFLOW_DASHBOARD_TOKEN=... SOLARA_APP=narcoflow.app.dashboard uvicorn narcoflow.app.server:app``.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import socket
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

TOKEN_ENV = "NARCOFLOW_DASHBOARD_TOKEN"
COOKIE = "narcoflow_token"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the dashboard on this machine."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return False


def check_token(given: str | None, token: str) -> bool:
    """Constant-time comparison; a missing token never matches."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class TokenMiddleware:
    """Let through only requests (HTTP and websocket) that carry ``token``."""

    def __init__(self, app, token: str):
        if not token:
            raise ValueError(f"{TOKEN_ENV} is empty: the dashboard needs a token on this host")
        self.app = app
        self.token = token

    def _given(self, scope) -> tuple[str | None, bool]:
        """(token found, whether it came from the query string)."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "token" in query:
            return query["token"][0], True
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is no token
            return None, False
        morsel = cookie.get(COOKIE)
        return (morsel.value if morsel else None), False

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        given, from_query = self._given(scope)
        if not check_token(given, self.token):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            body = (b"narcoflow dashboard: this address needs the token printed by "
                    b"`narcoflow dashboard` (open the address with ?token=...).\n")
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] == "http" and from_query:
            cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()

            async def send_with_cookie(message):
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"set-cookie", cookie)]}
                await send(message)

            return await self.app(scope, receive, send_with_cookie)
        return await self.app(scope, receive, send)


def _make_app():
    os.environ.setdefault("SOLARA_APP", "narcoflow.app.dashboard")
    from solara.server.starlette import app as solara_app

    return TokenMiddleware(solara_app, os.environ.get(TOKEN_ENV, ""))


def __getattr__(name: str):  # `app` is built on first access, so importing this module is cheap
    if name == "app":
        value = _make_app()
        globals()["app"] = value
        return value
    raise AttributeError(name)


def launch(db: str | os.PathLike, host: str, port: int, *, production: bool = True,
           token: str | None = None, scenarios: str | os.PathLike | None = None
           ) -> tuple[list[str], dict[str, str], str, str | None]:
    """How ``narcoflow dashboard`` starts the server: (command, environment, address to open,
    warning or None). On a loopback host: ``solara run`` as before (``token`` optional). On any
    other host: the token-checking `app` under uvicorn, with ``token`` or a fresh random one,
    and a warning that the dashboard is reachable from other machines."""
    import secrets
    import sys
    from pathlib import Path

    from narcoflow.app.dashboard import DB_ENV, SCENARIOS_ENV

    env = dict(os.environ, SOLARA_TELEMETRY_MIXPANEL_ENABLE="false")
    env[DB_ENV] = str(Path(db).resolve())
    if scenarios is not None:
        env[SCENARIOS_ENV] = str(Path(scenarios).resolve())
    shown_host = f"[{host}]" if ":" in host else host
    if is_loopback(host) and not token:
        cmd = [sys.executable, "-m", "solara", "run", "narcoflow.app.dashboard", "--host", host,
               "--port", str(port), "--no-open", *(["--production"] if production else [])]
        return cmd, env, f"http://{shown_host}:{port}", None
    token = token or secrets.token_urlsafe(24)
    env[TOKEN_ENV] = token
    env["SOLARA_APP"] = "narcoflow.app.dashboard"
    env.setdefault("PYTHONWARNINGS", "ignore::UserWarning:solara.server.starlette")
    cmd = [sys.executable, "-m", "uvicorn", "narcoflow.app.server:app", "--host", host,
           "--port", str(port), "--ws", "auto", "--log-level", "warning"]
    warning = None
    if not is_loopback(host):
        warning = (f"Warning: --host {host} is not a loopback address: the dashboard (which runs "
                   "simulations and reads the results database) is reachable from other "
                   "machines. Every request must carry the token; share the address below only "
                   "with people who may use it, or use --host 127.0.0.1.")
    return cmd, env, f"http://{shown_host}:{port}/?token={token}", warning
