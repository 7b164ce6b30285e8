"""The delivery workers: the outbox rows of each account in a thread of its own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from bot.core.errors import AuthError, StoreError

if TYPE_CHECKING:
    from tenacity import RetryCallState

    from bot.adapters.store import Store
    from bot.core.clock import Clock
    from bot.core.ports import Platform, SpendingGate
    from bot.settings.config import DeliveryConfig

logger = logging.getLogger(__name__)


class DeliveryWorker:
    """The outbox rows of one account (None: of accounts no longer configured) in a thread of its own, so a slow
    or rate-limited platform holds up no other account; each account stays paced and in order. Waits out
    database outages with a backoff, and after one reconciles the rows it had claimed at once."""

    def __init__(
        self,
        store: Store,
        platforms: Mapping[str, Platform],
        account: str | None,
        *,
        delivery: DeliveryConfig,
        owner: str,
        clock: Clock,
        stop: threading.Event,
        on_store_trouble: Callable[[], None],
        spending: SpendingGate | None = None,
    ) -> None:
        from bot.app.daemon.retry import database_in_delivery, log_retry
        from bot.domains.publishing.outbox import Outbox

        self.account = account
        self.name = account or "accounts no longer configured"
        self.owner, self.clock, self.stop = owner, clock, stop
        self.on_store_trouble = on_store_trouble
        self.wake = threading.Event()
        self.outbox = Outbox(
            store, platforms, delivery=delivery, owner=owner, clock=clock, account=account, spending=spending
        )
        self._outage = False  # a pass failed on the database: reconcile the claimed rows once it answers
        self._log_retry = log_retry(logger, f"delivery of {self.name} waits for the database", once=True)
        self._retrying = database_in_delivery(stop, self._waiting)
        self.thread = threading.Thread(target=self._loop, name=f"outbox:{account or 'other'}", daemon=True)

    def start(self) -> None:
        if not self.thread.is_alive() and self.thread.ident is None:
            self.thread.start()

    def join(self, timeout: float) -> None:
        if self.thread.ident is not None:
            self.thread.join(timeout=timeout)

    def _loop(self) -> None:
        while not self.stop.is_set():
            self.wake.clear()
            try:
                again = self._retrying(self._pass)
            except AuthError:
                logger.exception("delivery of %s: the credentials were refused; its deliveries are paused", self.name)
            except StoreError:
                continue  # the daemon stopped while the database was away
            except Exception:
                logger.exception("delivery pass of %s failed; retrying shortly", self.name)
            else:
                if again:
                    continue
            self.wake.wait(self.outbox.delivery.poll_seconds)

    def _pass(self) -> bool:
        """One delivery pass; True when the database has just come back (then another pass follows at once)."""
        if self.stop.is_set():
            return False
        self.outbox.deliver_due(stop=self.stop)
        if not self._outage:
            return False
        # what this worker had claimed when the database went away: reconcile it now, not in lease_seconds
        expired = self.outbox.store.outbox.expire_leases(
            self.owner, now=self.clock.now(), account=self.account, other_than=self.outbox.other_than
        )
        logger.warning(
            "delivery of %s: the database answers again; %d claimed message(s) to reconcile", self.name, expired
        )
        self._outage = False
        return True

    def _waiting(self, state: RetryCallState) -> None:
        self._outage = True
        self.on_store_trouble()
        self._log_retry(state)


class Delivery:
    """The delivery workers of one daemon: one per account, and one for the rows of accounts no longer configured
    (dead-lettered, as before) that claims around the others."""

    def __init__(
        self,
        store: Store,
        platforms: Mapping[str, Platform],
        *,
        owner: str,
        clock: Clock,
        stop: threading.Event,
        on_store_trouble: Callable[[], None],
        spending: SpendingGate | None = None,
    ) -> None:
        self.store, self.platforms = store, platforms
        self.spending = spending
        self.owner, self.clock, self.stop = owner, clock, stop
        self.on_store_trouble = on_store_trouble
        self.workers: dict[str | None, DeliveryWorker] = {}

    def start(self, delivery: DeliveryConfig) -> None:
        """A worker for each account not served yet (and the one for the others), all started."""
        for account in [*self.platforms, None]:
            if account not in self.workers:
                self.workers[account] = DeliveryWorker(
                    self.store,
                    self.platforms,
                    account,
                    delivery=delivery,
                    owner=self.owner,
                    clock=self.clock,
                    stop=self.stop,
                    on_store_trouble=self.on_store_trouble,
                    spending=self.spending,
                )
        self.workers[None].outbox.other_than = tuple(self.platforms)
        for worker in self.workers.values():
            worker.start()

    def use(self, delivery: DeliveryConfig) -> None:
        for worker in list(self.workers.values()):
            worker.outbox.delivery = delivery

    def wake(self) -> None:
        """Wake every worker at once (a new outbox row, a reload, stop)."""
        for worker in list(self.workers.values()):
            worker.wake.set()

    def join(self, timeout: float) -> None:
        for worker in list(self.workers.values()):
            worker.join(timeout)
