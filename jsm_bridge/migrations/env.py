"""Alembic's entry point: runs migrations on the connection `Store.migrate()` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from jsm_bridge.store import metadata

config = context.config


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    # Run by the alembic command line with -x url=...: open a connection of our own.
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("pass the database URL: alembic -x url=postgresql+psycopg://... upgrade head")
    engine = create_engine(url)
    with engine.connect() as own:
        context.configure(connection=own, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run Store.migrate()")
run_online()
