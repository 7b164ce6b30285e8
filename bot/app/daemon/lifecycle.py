"""One running bot: start (config, database, accounts, jobs, delivery), reload, watch, stop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.app.daemon.config_files import Stamp, checked_templates, files_stamp, load_settings
from bot.core.errors import BotError, ConfigError, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from bot.adapters.scheduling import Scheduler
    from bot.adapters.store import Store
    from bot.adapters.templating import TemplateRenderer
    from bot.app.daemon.delivery import Delivery
    from bot.app.daemon.jobs import Wiring
    from bot.app.daemon.options import DaemonOptions
    from bot.app.metrics import MetricsServer
    from bot.app.signals import DaemonSignals
    from bot.core.clock import Clock
    from bot.core.ports import Platform
    from bot.domains.audience.engagement import EngagementService
    from bot.domains.audience.service import AnalysisService
    from bot.domains.conversations.mentions import MentionService
    from bot.domains.costs import SpendingCap
    from bot.domains.coupons.redemptions import RedemptionServer
    from bot.domains.publishing.campaigns import CampaignService
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)


class Daemon:
    """One running bot: scheduler jobs from config, a delivery thread per account draining the outbox, a config
    watcher."""

    def __init__(self, options: DaemonOptions, *, clock: Clock | None = None) -> None:
        from bot.core.clock import SystemClock

        self.options = options
        self.clock = clock or SystemClock()
        self.stop_event = threading.Event()
        self._stopped = False
        self._lock = threading.RLock()
        self._watch_stamp: Stamp = ()
        self._refused_stamp: Stamp | None = None
        self._sources: dict[str, str] = {}  # the checked templates the daemon renders from
        self.settings: Settings | None = None
        self.store: Store | None = None
        self.platforms: dict[str, Platform] = {}
        self.started_at: datetime | None = None
        self.poll_times: dict[str, datetime] = {}  # account -> when its last mentions poll finished (metrics)
        self.metrics: MetricsServer | None = None
        self.redemptions: RedemptionServer | None = None
        self.scheduler: Scheduler | None = None
        self.delivery: Delivery | None = None
        self.renderer: TemplateRenderer | None = None
        self.campaigns: CampaignService | None = None
        self.mentions: MentionService | None = None
        self.engagement: EngagementService | None = None
        self.analysis: AnalysisService | None = None
        self.spending: SpendingCap | None = None  # the cost ledger and monthly cap (bot.domains.costs)
        self._store_trouble = threading.Event()  # a job could not reach the database: repair once it answers

    # ---- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Load and check config (refusing a bad one), migrate the database, start jobs and delivery."""
        self._stop_requested("before loading the config")
        settings = load_settings(self.options)
        stamp = files_stamp(self.options.config_path, settings)
        self._sources = checked_templates(settings)
        self.settings = settings
        self._watch_stamp = stamp
        self.started_at = self.clock.now()
        self._stop_requested("before opening the database")
        try:
            self._open(settings)
        except BaseException:
            self._close_resources()
            raise
        self._serve_metrics()
        logger.info(
            "daemon %s started: %d account(s), %d campaign(s), database %s",
            self.options.owner,
            len(settings.accounts),
            sum(1 for c in settings.campaigns.values() if c.enabled),
            self.store.display_url if self.store is not None else "?",
        )

    def _open_store(self, url: str) -> Store:
        """Open and migrate the database; while it is unavailable, retry for options.database_wait_seconds."""
        from bot.adapters.store import Store
        from bot.app.daemon.retry import database_at_start

        def attempt() -> Store:
            try:
                store = Store.open(url)
                try:
                    store.upgrade()
                except BaseException:
                    store.close()
                    raise
                return store
            except StoreUnavailable:
                self._stop_requested("while waiting for the database")
                raise

        return database_at_start(self.options.database_wait_seconds, self.stop_event, logger)(attempt)

    def _open(self, settings: Settings) -> None:
        from bot.adapters.scheduling import Scheduler
        from bot.app.daemon.accounts import build_platform
        from bot.app.daemon.delivery import Delivery
        from bot.domains.costs import SpendingCap

        self.store = self._open_store(settings.database_url)
        self.spending = SpendingCap(self.store.costs, settings.costs, settings.tz, self.clock)
        for account in self.store.accounts.resume_all():
            logger.warning("account %s was paused after a credentials error; trying it again", account)
        for name in settings.accounts:
            self.platforms[name] = build_platform(name, settings, self.store, ledger=self.spending)
        if settings.replies.enabled:
            from bot.adapters.sentiment import warm_up

            warm_up()  # load the sentiment models now, not in the middle of the first poll
        self.delivery = Delivery(
            self.store,
            self.platforms,
            owner=self.options.owner,
            clock=self.clock,
            stop=self.stop_event,
            on_store_trouble=self._store_trouble.set,
            spending=self.spending,
        )
        self.scheduler = Scheduler(clock=self.clock)
        self._install_jobs(settings)
        self.scheduler.add_interval_job("socialbot:watch-config", self._watch, self.options.watch_seconds)
        self.scheduler.start()
        self.delivery.start(settings.delivery)

    def _close_resources(self) -> None:
        for platform in self.platforms.values():
            platform.close()
        self.platforms = {}
        if self.store is not None:
            self.store.close()

    def _wiring(self) -> Wiring:
        from bot.app.daemon.jobs import Wiring

        assert self.store is not None and self.delivery is not None
        return Wiring(
            store=self.store,
            platforms=self.platforms,
            clock=self.clock,
            owner=self.options.owner,
            on_enqueue=self.delivery.wake,
            on_store_error=self._store_trouble.set,
            poll_times=self.poll_times,
            spending=self.spending,
        )

    def _install_jobs(self, settings: Settings) -> None:
        """(Re)build the services from `settings` and replace the scheduler's jobs with theirs."""
        from bot.app.daemon.jobs import build_services

        assert self.scheduler is not None and self.delivery is not None
        services = build_services(settings, self._sources, self._wiring())
        self.renderer, self.campaigns, self.mentions = services.renderer, services.campaigns, services.mentions
        self.engagement, self.analysis = services.engagement, services.analysis
        self._serve_redemptions(settings)
        self.scheduler.replace_all(services.jobs)
        self.delivery.wake()

    def _serve_redemptions(self, settings: Settings) -> None:
        """The redemption webhook (coupons.redemption_webhook_port), on 127.0.0.1, started once."""
        port = settings.coupons.redemption_webhook_port
        if port is None or self.redemptions is not None:
            return
        from bot.domains.coupons.redemptions import serve_redemptions
        from bot.settings.coupons import REDEMPTION_SECRET_ENV, redemption_webhook_secret

        assert self.store is not None
        secret = redemption_webhook_secret(self.options.config_path, self.options.environ)
        if secret is None:
            logger.error(
                "redemption webhook not started: coupons.redemption_webhook_port is set but %s is not in the "
                "environment or .env (every request must be signed with it; see docs/config.md)",
                REDEMPTION_SECRET_ENV,
            )
            return
        try:
            self.redemptions = serve_redemptions(port, self.store, secret=secret)
        except OSError as exc:
            logger.error("redemption webhook: cannot listen on 127.0.0.1:%d: %s", port, exc)

    def _serve_metrics(self) -> None:
        """/metrics and /healthz (DaemonOptions.metrics_port), on 127.0.0.1."""
        if self.options.metrics_port is None:
            return
        from bot.app.metrics import serve_metrics

        try:
            self.metrics = serve_metrics(self, self.options.metrics_port)
        except OSError as exc:
            logger.error("metrics: cannot listen on 127.0.0.1:%d: %s", self.options.metrics_port, exc)
            return
        logger.info("metrics and health check at %s/metrics and %s/healthz", self.metrics.url, self.metrics.url)

    def polled_accounts(self) -> list[str]:
        """The accounts whose mentions this daemon polls (for the health check)."""
        return self.mentions.accounts() if self.mentions is not None else []

    # ---- reload --------------------------------------------------------------------------------

    def reload(self) -> bool:
        """Re-read config and templates; keep the last good config when the new one is invalid."""
        with self._lock:
            if self._stopped:
                return False
            stamp = files_stamp(self.options.config_path, self.settings)
            try:
                settings = load_settings(self.options)
                sources = checked_templates(settings)
            except ConfigError as exc:
                _refused(exc.problems)
                self._refused_stamp = stamp
                return False
            if not self._add_new_accounts(settings):
                self._refused_stamp = stamp
                return False
            if self.settings is not None and any(
                name in self.settings.accounts and account != self.settings.accounts[name]
                for name, account in settings.accounts.items()
            ):
                logger.warning("an account changed in config.yaml: restart the daemon for that part to take effect")
            if self.settings is not None and settings.database_url != self.settings.database_url:
                logger.warning("database_url changed in config.yaml: restart the daemon for that part to take effect")
            self.settings = settings
            self._sources = sources
            self._watch_stamp = stamp
            if self.delivery is not None:
                self.delivery.use(settings.delivery)
            self._use_costs(settings)
            self._install_jobs(settings)
            logger.info("config reloaded: %d campaign(s) enabled", sum(c.enabled for c in settings.campaigns.values()))
            return True

    def _add_new_accounts(self, settings: Settings) -> bool:
        """Connect accounts added by a reload, so their campaigns are not dead-lettered for lack of one."""
        from bot.app.daemon.accounts import build_platform

        added: dict[str, Platform] = {}
        for name in settings.accounts:
            if name in self.platforms:
                continue
            try:
                added[name] = build_platform(name, settings, self.store, ledger=self.spending)
            except BotError as exc:
                _refused([exc])
                for platform in added.values():
                    platform.close()
                return False
        for name, platform in added.items():
            logger.info("account %s added by the reload", name)
            self.platforms[name] = platform
        if added and self.delivery is not None:
            self.delivery.start(settings.delivery)
        return True

    def _use_costs(self, settings: Settings) -> None:
        """A reloaded `costs:` section: the new cap and prices apply from the next paid call."""
        from bot.app.daemon.accounts import use_cost_ledger

        if self.spending is None:
            return
        self.spending.use(settings.costs, settings.tz)
        for platform in self.platforms.values():
            use_cost_ledger(platform, self.spending, settings)

    def _watch(self) -> None:
        """Reload when config.yaml, a template or a products CSV changed. An edit that cannot be used is said once
        (one line, as `socialbot check` says it) and the last good config runs on until the files change again."""
        self._repair_after_store_trouble()
        stamp = files_stamp(self.options.config_path, self.settings)
        if stamp == self._watch_stamp or stamp == self._refused_stamp:
            return
        logger.debug("config or templates changed on disk; reloading")
        try:
            self.reload()
        except Exception:
            logger.exception("config reload failed; keeping the last good config until the files change again")
            self._refused_stamp = stamp

    def _repair_after_store_trouble(self) -> None:
        """Once the database answers again, queue the campaign slots whose jobs could not reach it."""
        if not self._store_trouble.is_set() or self.campaigns is None:
            return
        try:
            report = self.campaigns.catch_up(self.clock.now())
        except StoreError as exc:
            logger.debug("database still unavailable: %s", exc)
            return
        self._store_trouble.clear()
        logger.warning("the database answers again; campaign slots caught up: %d queued late", report.queued)

    # ---- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop jobs, let the delivery threads finish their pass, close connections. Safe to call twice.

        A signal handler only sets stop_event; the shutdown itself always runs here (once).
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.stop_event.set()
        if self.delivery is not None:
            self.delivery.wake()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
        if self.delivery is not None:
            self.delivery.join(timeout=30)
        if self.mentions is not None:
            self.mentions.release_poll_leases()
        if self.redemptions is not None:
            self.redemptions.stop()
        if self.metrics is not None:
            self.metrics.stop()
        if self.spending is not None:
            self.spending.close()
        self._close_resources()
        logger.info("daemon %s stopped", self.options.owner)

    def run_forever(self, signals: DaemonSignals | None = None) -> None:
        """start(), then block until SIGTERM/SIGINT; SIGHUP reloads config.

        The handlers come first (`signals`: installed earlier still, by `socialbot run`): a stop during start-up
        ends it cleanly, SIGHUPs during start-up are applied as one reload once the daemon is ready."""
        from bot.app.signals import DaemonSignals

        signals = signals or DaemonSignals().install()
        signals.stop_on(self.stop_event)
        try:
            try:
                self.start()
            except _StartInterrupted as exc:
                logger.info("received %s during start-up, %s; stopped", signals.stop_signal or "a stop request", exc)
                return
            if signals.ready(self.reload) and not self.stop_event.is_set():
                logger.info("applying the SIGHUP received during start-up: reloading the config")
                self.reload()
            while not self.stop_event.wait(1.0):
                pass
            logger.info("received %s; shutting down", signals.stop_signal or "a stop request")
        finally:
            self.stop()
            signals.restore()

    def _stop_requested(self, what: str) -> None:
        """Raise _StartInterrupted when a stop came during start-up (`what`: where start-up was)."""
        if self.stop_event.is_set():
            raise _StartInterrupted(what)


def _refused(problems: Sequence[object]) -> None:
    """One log line (one record: several problems go on indented lines below it) for an edit that was refused."""
    lines = [str(problem) for problem in problems] or ["the new config is invalid"]
    said = lines[0] if len(lines) == 1 else "\n  ".join([f"{len(lines)} problems:", *lines])
    logger.error("config reload refused; keeping the last good config until the files change again: %s", said)


class _StartInterrupted(BotError):
    """SIGTERM/SIGINT arrived while the daemon was starting: nothing to report, just stop."""
