"""Alembic environment: always run programmatically by bot.adapters.store.migrate with a live connection."""

from __future__ import annotations

from alembic import context

from bot.adapters.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via bot.adapters.store.migrate
    raise RuntimeError("run migrations through `socialbot db upgrade`, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
