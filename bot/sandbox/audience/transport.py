"""How the audience reaches the sandbox: JSON over its /_sandbox/ admin API, one keep-alive connection for bursts."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.core.errors import BotError


class AudienceError(BotError):
    """The sandbox admin API could not be reached or refused an audience action."""


class AdminClient:
    """Calls to the admin API through an httpx client (the caller's, or one of its own that close() closes)."""

    def __init__(self, base_url: str, http: httpx.Client | None = None) -> None:
        self.base_url = base_url
        self._own_http = http is None
        self._http = http or httpx.Client(
            base_url=base_url, trust_env=False, timeout=10.0, headers={"content-type": "application/json"}
        )

    def call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        try:
            if body is None:
                resp = self._http.request(method, self.base_url + path, params=params)
            else:
                content = json.dumps(body, ensure_ascii=False).encode()
                resp = self._http.request(method, self.base_url + path, params=params, content=content)
        except httpx.HTTPError as exc:
            raise AudienceError(f"{method} {path}: {exc!r}") from exc
        if resp.status_code >= 400:
            raise AudienceError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def close(self) -> None:
        if self._own_http:
            self._http.close()


class KeepAlivePoster:
    """POST JSON over one keep-alive http.client connection (reconnects once if the server closed it)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url}")
        factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._conn = factory(parts.hostname, parts.port, timeout=timeout)
        self._prefix = parts.path.rstrip("/")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        payload = json.dumps(body, ensure_ascii=False).encode()
        headers = {"content-type": "application/json"}
        for attempt in (1, 2):
            try:
                self._conn.request("POST", self._prefix + path, body=payload, headers=headers)
                resp = self._conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._conn.close()
                if attempt == 2:
                    raise AudienceError(f"POST {path}: {exc!r}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self._conn.close()
                raise AudienceError(f"POST {path}: {exc!r}") from exc
        if resp.status >= 400:
            raise AudienceError(f"POST {path}: HTTP {resp.status} {data[:300].decode(errors='replace')}")
        return json.loads(data)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> KeepAlivePoster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
