"""Our own accounts' state: paused after refused credentials (and why), their platform user ids."""

from __future__ import annotations

import sqlalchemy as sa

from bot.adapters.store.base import Repository, utc_or_none
from bot.adapters.store.tables import account_state_t
from bot.core.records import AccountState


class AccountRepository(Repository):
    """account_state rows (store.accounts)."""

    def pause(self, account: str, reason: str) -> None:
        now = self._now()
        stmt = self._insert(account_state_t).values(account=account, paused_reason=reason, paused_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["account"], set_={"paused_reason": reason, "paused_at": now})
        with self._tx("pause_account") as conn:
            conn.execute(stmt)

    def resume(self, account: str) -> bool:
        a = account_state_t
        stmt = (
            sa.update(a)
            .where(a.c.account == account, a.c.paused_reason.is_not(None))
            .values(paused_reason=None, paused_at=None)
        )
        with self._tx("resume_account") as conn:
            return conn.execute(stmt).rowcount == 1

    def resume_all(self) -> list[str]:
        """Clear every pause (e.g. at daemon start, after credentials were fixed); returns the accounts."""
        a = account_state_t
        stmt = (
            sa.update(a)
            .where(a.c.paused_reason.is_not(None))
            .values(paused_reason=None, paused_at=None)
            .returning(a.c.account)
        )
        with self._tx("resume_all_accounts") as conn:
            return sorted(conn.execute(stmt).scalars())

    def set_platform_user_id(self, account: str, user_id: str) -> None:
        stmt = self._insert(account_state_t).values(account=account, platform_user_id=user_id)
        stmt = stmt.on_conflict_do_update(index_elements=["account"], set_={"platform_user_id": user_id})
        with self._tx("set_platform_user_id") as conn:
            conn.execute(stmt)

    def states(self) -> list[AccountState]:
        with self._tx("account_states") as conn:
            rows = conn.execute(sa.select(account_state_t).order_by(account_state_t.c.account)).all()
        return [AccountState(r.account, r.platform_user_id, r.paused_reason, utc_or_none(r.paused_at)) for r in rows]

    def paused_reason(self, account: str) -> str | None:
        with self._tx("paused_reason") as conn:
            return conn.execute(
                sa.select(account_state_t.c.paused_reason).where(account_state_t.c.account == account)
            ).scalar()

    def own_user_ids(self) -> dict[str, str]:
        """account -> platform user id of our own accounts (as far as the daemon has learnt them)."""
        a = account_state_t
        stmt = sa.select(a.c.account, a.c.platform_user_id).where(a.c.platform_user_id.isnot(None))
        with self._tx("reading account ids") as conn:
            return {r[0]: r[1] for r in conn.execute(stmt)}
