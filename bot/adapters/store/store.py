"""The Store: one database (SQLite or PostgreSQL) and its repositories, one per aggregate, as attributes
(store.outbox.claim(...), store.mentions.unit(...), store.coupons.issue(...)). Services type their `store` by
the ports in bot/core/ports.py; only bot/app builds a Store."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.adapters.store import migrate
from bot.adapters.store.accounts import AccountRepository
from bot.adapters.store.base import Database
from bot.adapters.store.costs import CostRepository
from bot.adapters.store.coupons import CouponRepository
from bot.adapters.store.engagement import EngagementRepository
from bot.adapters.store.engine import create_engine, guarded, sqlite_path
from bot.adapters.store.features import FeatureRepository
from bot.adapters.store.graphs import GraphRepository
from bot.adapters.store.health import HealthRepository
from bot.adapters.store.leases import LeaseRepository
from bot.adapters.store.mentions import MentionRepository
from bot.adapters.store.outbox import OutboxRepository
from bot.adapters.store.outcomes import OutcomeRepository
from bot.adapters.store.people import PeopleRepository
from bot.adapters.store.post_metrics import PostMetricRepository
from bot.adapters.store.privacy import PrivacyRepository
from bot.adapters.store.rate_limits import RateLimitRepository
from bot.adapters.store.redemptions import RedemptionRepository
from bot.adapters.store.segments import SegmentRepository
from bot.adapters.store.signals import SignalRepository
from bot.adapters.store.slots import SlotRepository
from bot.adapters.store.wal import WalCheckpointer
from bot.core.clock import Clock, SystemClock

logger = logging.getLogger(__name__)


class Store:
    """A database of the bot's state. Each attribute below is the repository of one aggregate; they share one
    engine and one clock (store.db)."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self.db = Database(engine, clock or SystemClock())
        self.outbox = OutboxRepository(self.db)  # outbox rows: enqueue, claim, attempts, sent / retry / dead
        self.slots = SlotRepository(self.db)  # campaign slots (with their outbox posts)
        self.accounts = AccountRepository(self.db)  # our accounts: paused, platform user ids
        self.rate_limits = RateLimitRepository(self.db)  # rate-limit blocks by account and bucket
        self.mentions = MentionRepository(self.db)  # mentions and DMs, cursors, opt-outs, the inbox
        self.people = PeopleRepository(self.db)  # people we met and the interaction log
        self.engagement = EngagementRepository(self.db)  # likes / reposts / quotes of our posts, read budget
        self.graphs = GraphRepository(self.db)  # graph analysis snapshots
        self.leases = LeaseRepository(self.db)  # one-daemon-at-a-time job leases
        self.segments = SegmentRepository(self.db)  # segmentation runs and members
        self.features = FeatureRepository(self.db)  # per-user features for the segments
        self.signals = SignalRepository(self.db)  # what the recommender reads
        self.coupons = CouponRepository(self.db)  # coupon issuance and delivery
        self.redemptions = RedemptionRepository(self.db)  # redeemed codes
        self.privacy = PrivacyRepository(self.db)  # forgetting a person
        self.health = HealthRepository(self.db)  # what /healthz and /metrics read
        self.post_metrics = PostMetricRepository(self.db)  # how each delivered post did, read at +1 h, +24 h, +7 d
        self.costs = CostRepository(self.db)  # the cost ledger: one row per paid platform call
        self.outcomes = OutcomeRepository(self.db)  # post metric readings and audience activity, as columns
        self.checkpointer: WalCheckpointer | None = None  # a SQLite file opened by Store.open: its WAL's checkpoints

    @property
    def engine(self) -> Engine:
        return self.db.engine

    @property
    def dialect(self) -> str:
        return self.db.dialect

    @property
    def url(self) -> str:
        """The database URL with its password hidden."""
        return self.db.url

    display_url = url

    @property
    def clock(self) -> Clock:
        return self.db.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.db.clock = clock

    @classmethod
    def open(cls, url: str, *, create: bool = True, clock: Clock | None = None, wal_checkpoints: bool = True) -> Store:
        """Connect (and check the connection); raise StoreError with the password hidden. A SQLite file's WAL is
        checkpointed by a thread of the Store's own (bot.adapters.store.wal) unless `wal_checkpoints` is False."""
        engine = create_engine(url, create=create, wal_checkpoints=wal_checkpoints)
        store = cls(engine, clock=clock)
        with guarded(engine.url, "connecting"), engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        path = sqlite_path(engine.url) if engine.dialect.name == "sqlite" else None
        if path is not None and wal_checkpoints:
            store.checkpointer = WalCheckpointer(path).start()
        logger.debug("database %s opened", store.url)
        return store

    def upgrade(self) -> tuple[str | None, str | None]:
        """Apply pending Alembic migrations; returns (revision before, revision after)."""
        with guarded(self.engine.url, "upgrading the database"):
            return migrate.upgrade(self.engine)

    def revision(self) -> str | None:
        with guarded(self.engine.url, "reading the schema revision"):
            return migrate.current_revision(self.engine)

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
