"""Direct messages (chat.bsky.convo.*, through the PDS's proxy to the chat service, where the server offers it)."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from bot.adapters.platforms.bluesky.records import parse_time
from bot.adapters.platforms.bluesky.session import Sessions
from bot.adapters.platforms.bluesky.xrpc import PLATFORM
from bot.core.clock import Clock, ensure_utc
from bot.core.errors import NotAllowed, PlatformError, Rejected, TransientError
from bot.core.models import DirectMessage, OutgoingMessage

logger = logging.getLogger(__name__)

CHAT_PROXY = {"atproto-proxy": "did:web:api.bsky.chat#bsky_chat"}
CHAT_RECHECK = timedelta(hours=1)
DM_MAX_PAGES = 10
FIND_SENT_MARGIN = timedelta(minutes=5)


class Chat:
    """The account's conversations. DMs go only to people who wrote first."""

    def __init__(self, sessions: Sessions, *, clock: Clock, service_url: str, account: str) -> None:
        self._sessions = sessions
        self._clock = clock
        self.service_url = service_url
        self.account = account
        self._lock = threading.Lock()
        self._checked: datetime | None = None
        self._missing: str | None = None  # why this server offers no DMs, when it does not

    def unavailable(self) -> str | None:
        """Why DMs cannot be had through this server (None: they can). Asked once, again after CHAT_RECHECK."""
        with self._lock:
            now = self._clock.now()
            if self._checked is not None and now < self._checked + CHAT_RECHECK:
                return self._missing
            try:
                self._call("GET", "chat.bsky.convo.listConvos", params={"limit": 1})
                missing = None
            except (Rejected, TransientError) as exc:
                missing = str(exc)
            if missing and missing != self._missing:
                logger.info("bluesky: %s offers no DMs for %s (%s)", self.service_url, self.account, missing)
            self._checked, self._missing = now, missing
            return missing

    def _call(self, method: str, nsid: str, **kwargs: Any) -> dict[str, Any]:
        return self._sessions.call(method, nsid, headers=CHAT_PROXY, **kwargs)

    def _pages(self, nsid: str, field_name: str, params: dict[str, Any], pages: int) -> list[dict[str, Any]]:
        """The items of up to `pages` pages of a chat list, following its cursor."""
        out: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(pages):
            body = self._call("GET", nsid, params=dict(params, cursor=token) if token else params)
            out.extend(item for item in body.get(field_name) or [] if isinstance(item, dict))
            token = body.get("cursor")
            if not token:
                break
        return out

    def _convo_with(self, member: str) -> str:
        body = self._call("GET", "chat.bsky.convo.getConvoForMembers", params={"members": [member]})
        convo = body.get("convo") or {}
        if not isinstance(convo.get("id"), str):
            raise PlatformError(PLATFORM, "chat.bsky.convo.getConvoForMembers: no conversation id")
        return str(convo["id"])

    def _messages(self, convo_id: str) -> list[dict[str, Any]]:
        items = self._pages(
            "chat.bsky.convo.getMessages", "messages", {"convoId": convo_id, "limit": 100}, DM_MAX_PAGES
        )
        return [m for m in items if "text" in m]

    def send(self, message: OutgoingMessage) -> str:
        if not message.recipient_id:
            raise Rejected(PLATFORM, "a DM needs recipient_id")
        missing = self.unavailable()
        if missing:
            raise NotAllowed(PLATFORM, f"DMs are not available through {self.service_url}: {missing}")
        convo = self._convo_with(message.recipient_id)
        if not any(sender_of(m) == message.recipient_id for m in self._messages(convo)):
            raise NotAllowed(PLATFORM, f"{message.recipient_id} has not messaged us first: no DM")
        body = self._call(
            "POST",
            "chat.bsky.convo.sendMessage",
            body={"convoId": convo, "message": {"text": message.text}},
            write=True,
        )
        remote_id = str(body.get("id"))
        logger.info(
            "bluesky sent dm key=%s remote_id=%s account=%s recipient=%s",
            message.key,
            remote_id,
            self.account,
            message.recipient_id,
        )
        return remote_id

    def find_sent(self, message: OutgoingMessage) -> str | None:
        if not message.recipient_id or self.unavailable():
            return None
        me = self._sessions.ensure()
        for item in self._messages(self._convo_with(message.recipient_id)):
            if sender_of(item) != me.did or item.get("text") != message.text:
                continue
            sent_at = parse_time(item.get("sentAt"))
            if sent_at and message.created_at and sent_at < ensure_utc(message.created_at) - FIND_SENT_MARGIN:
                continue  # the same words, sent before this message existed
            return str(item.get("id"))
        return None

    def direct_messages(self, since_id: str | None = None) -> list[DirectMessage]:
        """Messages of our conversations (sent and received) newer than since_id (message ids sort as text),
        newest first; [] where the server has no chat."""
        if self.unavailable():
            return []
        out: list[DirectMessage] = []
        for convo in self._pages("chat.bsky.convo.listConvos", "convos", {"limit": 100}, DM_MAX_PAGES):
            last = (convo.get("lastMessage") or {}).get("id")
            if since_id and isinstance(last, str) and last <= since_id:
                continue
            for item in self._messages(str(convo.get("id"))):
                if since_id and str(item.get("id")) <= since_id:
                    continue
                out.append(
                    DirectMessage(
                        id=str(item.get("id")),
                        text=str(item.get("text", "")),
                        sender_id=sender_of(item),
                        conversation_id=str(convo.get("id")),
                        created_at=parse_time(item.get("sentAt")),
                    )
                )
        out.sort(key=lambda m: m.id, reverse=True)
        return out


def sender_of(message: dict[str, Any]) -> str | None:
    sender = message.get("sender")
    return sender.get("did") if isinstance(sender, dict) and isinstance(sender.get("did"), str) else None
