"""The one error tree. Imports nothing else from bot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class BotError(Exception):
    """Base of every error socialbot raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the team's files: where it is and what is wrong."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class ConfigError(BotError):
    """config.yaml (or a file it names) is invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid configuration")


class TemplateError(BotError):
    """A template failed to load or render."""

    def __init__(self, template: str, message: str, line: int | None = None) -> None:
        self.template = template
        self.line = line
        self.message = message
        where = template if line is None else f"{template}:{line}"
        super().__init__(f"{where}: {message}")


class StoreError(BotError):
    """The database cannot be reached or used."""


class StoreUnavailable(StoreError):
    """The database is unreachable, restarting or locked for now: the same call can succeed later."""


class StoreRefused(StoreError):
    """The database refused this data (a value too long or malformed): the same write fails again, other data
    still goes in. What a poison message looks like from the store."""


class PlatformError(BotError):
    """A social platform refused or failed a call."""

    def __init__(self, platform: str, message: str) -> None:
        self.platform = platform
        super().__init__(f"{platform}: {message}")


class AuthError(PlatformError):
    """Credentials are wrong or revoked: fatal for that account."""


class RateLimited(PlatformError):
    """The endpoint's window is used up; nothing may be sent before retry_at."""

    def __init__(self, platform: str, message: str, retry_at: datetime, endpoint: str = "") -> None:
        self.retry_at = retry_at
        self.endpoint = endpoint
        super().__init__(platform, f"{message} (retry at {retry_at.isoformat()})")


class TransientError(PlatformError):
    """5xx, timeout, reset. `maybe_sent` is True when the request may have been processed."""

    def __init__(self, platform: str, message: str, *, maybe_sent: bool = False) -> None:
        self.maybe_sent = maybe_sent
        super().__init__(platform, message)


class Rejected(PlatformError):
    """The platform refused the content; retrying the same request will not help."""

    def __init__(self, platform: str, reason: str) -> None:
        self.reason = reason
        super().__init__(platform, reason)


class DuplicateContent(Rejected):
    """X's 403 for an exact duplicate post: for the outbox this means 'already sent'."""


class NotAllowed(Rejected):
    """The platform's automation rules forbid this (e.g. a reply to someone who did not summon us)."""
