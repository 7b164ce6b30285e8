"""What the sandbox answers: a status, a JSON body and headers; problem bodies shaped like X's."""

from __future__ import annotations

from typing import Any


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


def problem_body(status: int, title: str, detail: str) -> dict[str, Any]:
    """An RFC 7807 problem as X writes it for errors outside its own problem types."""
    return {"title": title, "type": "about:blank", "status": status, "detail": detail}


def problem_response(status: int, title: str, detail: str) -> Response:
    return Response(status, problem_body(status, title, detail))
