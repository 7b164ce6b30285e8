"""Composition root: builds adapters from Settings, registers jobs, reloads config, shuts down cleanly."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.errors import AuthError, BotError, ConfigError, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from bot.adapters.scheduling import Job
    from bot.adapters.store import Store
    from bot.adapters.templating import TemplateRenderer
    from bot.app.metrics import MetricsServer
    from bot.app.signals import DaemonSignals
    from bot.core.clock import Clock
    from bot.core.ports import Platform
    from bot.domains.coupons.issuing import CouponService
    from bot.domains.publishing.campaigns import CampaignService
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

DATABASE_RETRY_MAX_SECONDS = 10.0

SettingsHook = Callable[["Settings"], "Settings"]


@dataclass
class DaemonOptions:
    """How to run: where the config is, the environment, and demo-only overrides."""

    config_path: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    settings_hook: SettingsHook | None = None  # e.g. the demo points accounts at its sandbox
    watch_seconds: float = 2.0  # how often config.yaml and templates/ are checked for edits
    require_credentials: bool = True
    metrics_port: int | None = None  # serve /metrics and /healthz on 127.0.0.1 (0: a free port)
    database_wait_seconds: float = 0.0  # at start, keep trying an unavailable database this long


class StoredRateLimits:
    """bot.core.ports.RateLimitMemory in the store's rate_limit table, shared by every daemon."""

    def __init__(self, store: Store, account: str) -> None:
        self.store = store
        self.account = account

    def blocked_until(self, endpoint: str) -> datetime | None:
        return self.store.rate_limited_until(self.account, endpoint)

    def block(self, endpoint: str, reset_at: datetime) -> None:
        self.store.block_endpoint(self.account, endpoint, reset_at)


def build_platform(name: str, settings: Settings, store: Store | None = None) -> Platform:
    platform = _connect(name, settings)
    if store is not None:
        platform.use_rate_limit_memory(StoredRateLimits(store, name))
    return platform


def _connect(name: str, settings: Settings) -> Platform:
    from bot.core.logs import register_secret
    from bot.settings.config import BLUESKY_DEFAULT_SERVER, XCredentials, credential_variables

    account = settings.accounts[name]
    if account.credentials is not None:
        for secret in account.credentials.model_dump().values():
            register_secret(secret)
    if account.platform == "bluesky":
        from bot.adapters.platforms.bluesky import BlueskyPlatform

        if account.credentials is None or isinstance(account.credentials, XCredentials):
            variable = credential_variables(name, "bluesky")[0]
            raise BotError(f"account {name!r}: no Bluesky app password in the environment ({variable})")
        return BlueskyPlatform(
            account.base_url or BLUESKY_DEFAULT_SERVER,
            account.handle,
            account.credentials.app_password,
            account=name,
        )
    from bot.adapters.platforms.x import X_HOST, XPlatform

    if account.platform == "sandbox":
        if not account.base_url:
            raise BotError(f"account {name!r}: platform sandbox needs base_url (the sandbox's address)")
        import httpx

        try:
            return XPlatform.for_sandbox(account.base_url, account.handle, account=name)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise BotError(f"account {name!r}: cannot reach the X sandbox at {account.base_url}: {exc}") from exc
    if not isinstance(account.credentials, XCredentials):
        raise BotError(f"account {name!r}: no credentials in the environment")
    if account.base_url:
        logger.info("account %s: X API requests go to %s instead of %s", name, account.base_url, X_HOST)
    return XPlatform(account.credentials, base_url=account.base_url, account=name)


class _RecommenderJob:
    """Rebuild the recommender from the store and hand it to the templates; never raises."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, renderer: TemplateRenderer) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.renderer = renderer

    def __call__(self) -> None:
        from bot.core.logs import job_failures

        with job_failures(logger, "recommendations: rebuilding the recommender (templates keep the last one)"):
            from bot.domains.audience.recommend import Recommender, template_function

            recommender = Recommender.from_store(self.store, self.settings, self.clock.now())
            self.renderer.use_recommender(template_function(recommender))


class _PollTimer:
    """A mentions job that also records when each poll finished (Daemon.poll_times, read by bot.app.metrics)."""

    def __init__(self, daemon: Daemon, job_id: str, func: Callable[[], object]) -> None:
        self.daemon = daemon
        self.account = job_id.partition(":")[2]
        self.func = func

    def __call__(self) -> None:
        self.func()
        self.daemon.poll_times[self.account] = self.daemon.clock.now()


class _Wakeup:
    """Wakes every delivery worker at once (a new outbox row, a reload, stop)."""

    def __init__(self) -> None:
        self.events: list[threading.Event] = []

    def set(self) -> None:
        for event in list(self.events):
            event.set()


class _DeliveryWorker:
    """The outbox rows of one account (None: of accounts no longer configured) in a thread of its own, so a slow
    or rate-limited platform holds up no other account; each account stays paced and in order. Waits out
    database outages with a backoff, and after one reconciles the rows it had claimed at once."""

    def __init__(self, daemon: Daemon, account: str | None, settings: Settings) -> None:
        from bot.domains.publishing.outbox import Outbox

        assert daemon.store is not None
        self.daemon = daemon
        self.account = account
        self.wake = threading.Event()
        daemon._wake.events.append(self.wake)
        self.outbox = Outbox(
            daemon.store,
            daemon.platforms,
            delivery=settings.delivery,
            owner=daemon.options.owner,
            clock=daemon.clock.now,
            account=account,
        )
        self.thread = threading.Thread(target=self._loop, name=f"outbox:{account or 'other'}", daemon=True)

    def start(self) -> None:
        if not self.thread.is_alive() and self.thread.ident is None:
            self.thread.start()

    def join(self, timeout: float) -> None:
        if self.thread.ident is not None:
            self.thread.join(timeout=timeout)

    def _loop(self) -> None:
        daemon, outbox = self.daemon, self.outbox
        name = self.account or "accounts no longer configured"
        waiting = 0.0  # seconds between passes while the database is unavailable
        while not daemon.stop_event.is_set():
            self.wake.clear()
            try:
                outbox.deliver_due(stop=daemon.stop_event)
            except AuthError:
                logger.exception("delivery of %s: the credentials were refused; its deliveries are paused", name)
            except StoreError as exc:
                if not waiting:
                    logger.warning("delivery of %s waits for the database: %s", name, exc)
                waiting = min(max(waiting * 2, 0.5), DATABASE_RETRY_MAX_SECONDS)
                daemon._store_trouble.set()
                daemon.stop_event.wait(waiting)
                continue
            except Exception:
                logger.exception("delivery pass of %s failed; retrying shortly", name)
            if waiting:
                # what this worker had claimed when the database went away: reconcile it now, not in lease_seconds
                try:
                    expired = outbox.store.expire_leases(
                        daemon.options.owner, now=daemon.clock.now(), account=self.account, other_than=outbox.other_than
                    )
                except StoreError as exc:
                    logger.warning("delivery of %s waits for the database: %s", name, exc)
                    daemon.stop_event.wait(waiting)
                    continue
                logger.warning(
                    "delivery of %s: the database answers again; %d claimed message(s) to reconcile", name, expired
                )
                waiting = 0.0
                continue
            poll = daemon.settings.delivery.poll_seconds if daemon.settings is not None else 1.0
            self.wake.wait(poll)


class Daemon:
    """One running bot: scheduler jobs from config, a delivery thread draining the outbox, a config watcher."""

    def __init__(self, options: DaemonOptions, *, clock: Clock | None = None) -> None:
        from bot.core.clock import SystemClock

        self.options = options
        self.clock = clock or SystemClock()
        self.stop_event = threading.Event()
        self._stopped = False
        self._wake = _Wakeup()
        self._lock = threading.RLock()
        self._workers: dict[str | None, _DeliveryWorker] = {}  # account (None: accounts no longer configured)
        self._watch_stamp: tuple[tuple[str, float], ...] = ()
        self._refused_stamp: tuple[tuple[str, float], ...] | None = None
        self._sources: dict[str, str] = {}  # the checked templates the daemon renders from
        self.settings: Settings | None = None
        self.store: Store | None = None
        self.platforms: dict[str, Platform] = {}
        self.started_at: datetime | None = None
        self.poll_times: dict[str, datetime] = {}  # account -> when its last mentions poll finished (metrics)
        self.metrics: MetricsServer | None = None
        self.campaigns: CampaignService | None = None
        self._store_trouble = threading.Event()  # a job could not reach the database: repair once it answers

    # ---- configuration -------------------------------------------------------------------------

    def _load(self) -> Settings:
        from bot.settings.config import load_config

        settings = load_config(
            self.options.config_path,
            environ=self.options.environ,
            require_credentials=self.options.require_credentials,
        )
        if self.options.settings_hook is not None:
            settings = self.options.settings_hook(settings)
        return settings

    def _check_templates(self, settings: Settings) -> dict[str, str]:
        """Check the templates as they are now and return that snapshot: the daemon renders from it, so an
        edit on disk is used only after a reload has checked it (the last good templates stay in force)."""
        from bot.adapters.templating import read_templates
        from bot.app.checking import check_settings

        sources = read_templates(Path(settings.templates_dir))
        problems = check_settings(settings, sources=sources)
        if problems:
            raise ConfigError(problems)
        return sources

    def _files_stamp(self, settings: Settings | None = None) -> tuple[tuple[str, float], ...]:
        settings = settings or self.settings
        paths: list[Path] = [self.options.config_path]
        if settings is not None:
            templates = Path(settings.templates_dir)
            if templates.is_dir():
                paths.extend(sorted(p for p in templates.rglob("*") if p.is_file()))
            paths.extend(c.products_csv for c in settings.campaigns.values() if c.products_csv)
        stamp: list[tuple[str, float]] = []
        for path in paths:
            try:
                stamp.append((str(path), path.stat().st_mtime))
            except OSError:
                stamp.append((str(path), -1.0))
        return tuple(stamp)

    # ---- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Load and check config (refusing a bad one), migrate the database, start jobs and delivery."""
        self._stop_requested("before loading the config")
        settings = self._load()
        stamp = self._files_stamp(settings)
        self._sources = self._check_templates(settings)
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
        import time

        from bot.adapters.store import Store

        deadline = time.monotonic() + self.options.database_wait_seconds
        delay = 0.5
        while True:
            try:
                store = Store.open(url)
                try:
                    store.upgrade()
                except BaseException:
                    store.close()
                    raise
                return store
            except StoreUnavailable as exc:
                self._stop_requested("while waiting for the database")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                logger.warning("waiting for the database (%.0f s left): %s", left, exc)
                self.stop_event.wait(min(delay, left))
                delay = min(delay * 2, DATABASE_RETRY_MAX_SECONDS)

    def _open(self, settings: Settings) -> None:
        from bot.adapters.scheduling import Scheduler

        self.store = self._open_store(settings.database_url)
        for account in self.store.resume_all_accounts():
            logger.warning("account %s was paused after a credentials error; trying it again", account)
        for name in settings.accounts:
            self.platforms[name] = build_platform(name, settings, self.store)
        if settings.replies.enabled:
            from bot.adapters.sentiment import warm_up

            warm_up()  # load the sentiment models now, not in the middle of the first poll
        self.scheduler = Scheduler(clock=self.clock)
        self._install_jobs(settings)
        self.scheduler.add_interval_job("socialbot:watch-config", self._watch, self.options.watch_seconds)
        self.scheduler.start()
        self._start_delivery(settings)

    def _start_delivery(self, settings: Settings) -> None:
        """A delivery worker per account not served yet, and one for the rows of accounts no longer configured
        (dead-lettered, as before) that claims around the others."""
        for account in [*self.platforms, None]:
            if account not in self._workers:
                self._workers[account] = _DeliveryWorker(self, account, settings)
        self._workers[None].outbox.other_than = tuple(self.platforms)
        for worker in self._workers.values():
            worker.start()

    def _close_resources(self) -> None:
        for platform in self.platforms.values():
            platform.close()
        self.platforms = {}
        if self.store is not None:
            self.store.close()

    def _install_jobs(self, settings: Settings) -> None:
        """(Re)build the services from `settings` and replace the scheduler's jobs with theirs."""
        from bot.adapters.templating import TemplateRenderer
        from bot.domains.conversations.mentions import MentionService
        from bot.domains.publishing.campaigns import CampaignService

        assert self.store is not None
        renderer = TemplateRenderer(settings, sources=self._sources)
        self.renderer = renderer
        coupons = self._coupon_service(settings, renderer)
        campaigns = CampaignService(
            settings,
            self.store,
            renderer,
            self.clock,
            on_enqueue=self._wake.set,
            on_store_error=self._store_trouble.set,
        )
        campaigns.catch_up(self.clock.now())
        self.campaigns = campaigns
        jobs = list(campaigns.jobs())
        self.mentions = None
        if settings.replies.enabled:
            from bot.domains.conversations.intent import Classifier

            mentions = MentionService(
                settings,
                self.store,
                self.platforms,
                Classifier(settings.replies),
                renderer,
                self.clock,
                on_enqueue=self._wake.set,
                coupons=coupons,
                owner=self.options.owner,
            )
            self.mentions = mentions
            jobs.extend(replace(job, func=_PollTimer(self, job.job_id, job.func)) for job in mentions.jobs())
        jobs.extend(self._graph_jobs(settings))
        jobs.extend(self._audience_jobs(settings, renderer, coupons))
        self.scheduler.replace_all(jobs)
        self._wake.set()

    def _coupon_service(self, settings: Settings, renderer: TemplateRenderer) -> CouponService | None:
        from bot.domains.coupons.issuing import CouponService

        assert self.store is not None
        if not settings.coupons.campaigns:
            return None
        return CouponService(settings, self.store, self.clock, renderer=renderer, owner=self.options.owner)

    def _audience_jobs(
        self, settings: Settings, renderer: TemplateRenderer, coupons: CouponService | None
    ) -> list[Job]:
        """Segments (one daemon at a time), coupon issuance and delivery, the recommender behind templates'
        recommend(user, n), rebuilt as often as the segments."""
        from bot.adapters.scheduling import Job

        jobs: list[Job] = []
        if coupons is not None:
            jobs.extend(coupons.jobs())
        if settings.segments.enabled:
            from bot.domains.audience.segments import SegmentService

            jobs.extend(SegmentService(settings, self.store, self.clock, owner=self.options.owner).jobs())  # type: ignore[arg-type]
        recommender = _RecommenderJob(settings, self.store, self.clock, renderer)  # type: ignore[arg-type]
        jobs.append(
            Job(
                job_id="recommend:refresh",
                func=recommender,
                spec=settings.segments.every.total_seconds(),
                name="recommendations",
                start_at=self.clock.now(),
            )
        )
        self._serve_redemptions(settings)
        return jobs

    def _serve_redemptions(self, settings: Settings) -> None:
        """The redemption webhook (coupons.redemption_webhook_port), on 127.0.0.1, started once."""
        port = settings.coupons.redemption_webhook_port
        if port is None or getattr(self, "redemptions", None) is not None:
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

    def _graph_jobs(self, settings: Settings) -> list[Job]:
        """Engagement collection per account and the graph analysis (one daemon at a time)."""
        from bot.domains.audience.engagement import EngagementService
        from bot.domains.audience.service import AnalysisService

        assert self.store is not None
        if not settings.graph.enabled:
            self.analysis = None
            return []
        self.engagement = EngagementService(settings, self.store, self.platforms, self.clock)
        self.analysis = AnalysisService(
            settings, self.store, self.clock, owner=self.options.owner, platforms=self.platforms
        )
        return [*self.engagement.jobs(), *self.analysis.jobs()]

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
        mentions = getattr(self, "mentions", None)
        return mentions.accounts() if mentions is not None else []

    def reload(self) -> bool:
        """Re-read config and templates; keep the last good config when the new one is invalid."""
        with self._lock:
            if self._stopped:
                return False
            stamp = self._files_stamp()
            try:
                settings = self._load()
                sources = self._check_templates(settings)
            except ConfigError as exc:
                logger.error("config reload refused; keeping the last good config:")
                for problem in exc.problems:
                    logger.error("  %s", problem)
                return False
            if not self._add_new_accounts(settings):
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
            for worker in self._workers.values():
                worker.outbox.delivery = settings.delivery
            self._install_jobs(settings)
            logger.info("config reloaded: %d campaign(s) enabled", sum(c.enabled for c in settings.campaigns.values()))
            return True

    def _add_new_accounts(self, settings: Settings) -> bool:
        """Connect accounts added by a reload, so their campaigns are not dead-lettered for lack of one."""
        added: dict[str, Platform] = {}
        for name in settings.accounts:
            if name in self.platforms:
                continue
            try:
                added[name] = build_platform(name, settings, self.store)
            except BotError as exc:
                logger.error("config reload refused; keeping the last good config:")
                logger.error("  %s", exc)
                for platform in added.values():
                    platform.close()
                return False
        for name, platform in added.items():
            logger.info("account %s added by the reload", name)
            self.platforms[name] = platform
        if added:
            self._start_delivery(settings)
        return True

    def _watch(self) -> None:
        self._repair_after_store_trouble()
        stamp = self._files_stamp()
        if stamp != self._watch_stamp and stamp != self._refused_stamp:
            logger.info("config or templates changed on disk; reloading")
            if not self.reload():
                self._refused_stamp = stamp  # logged once; wait for the next edit

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

    def stop(self) -> None:
        """Stop jobs, let the delivery thread finish its pass, close connections. Safe to call twice.

        A signal handler only sets stop_event; the shutdown itself always runs here (once).
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.stop_event.set()
        self._wake.set()
        scheduler = getattr(self, "scheduler", None)
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        for worker in self._workers.values():
            worker.join(timeout=30)
        mentions = getattr(self, "mentions", None)
        if mentions is not None:
            mentions.release_poll_leases()
        server = getattr(self, "redemptions", None)
        if server is not None:
            server.stop()
        if self.metrics is not None:
            self.metrics.stop()
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


class _StartInterrupted(BotError):
    """SIGTERM/SIGINT arrived while the daemon was starting: nothing to report, just stop."""
