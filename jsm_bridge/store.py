"""Durable state: the webhook inbox, the action ledger, the ticket cache, sweep runs and leases.

SQLite (one instance) or PostgreSQL (several instances); the schema is managed by Alembic migrations."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import lz4.frame
import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from jsm_bridge.actions import Action, action_from_dict
from jsm_bridge.clock import Clock, SystemClock

log = logging.getLogger(__name__)

DATABASE_URL_ENV = "JSM_BRIDGE_DATABASE_URL"
DEFAULT_SQLITE_PATH = Path("var") / "jsm-bridge.db"
DEFAULT_DEDUPE_WINDOW = timedelta(minutes=10)
_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound on parameters
SQLITE_BUSY_TIMEOUT_MS = 15_000
SQLITE_SYNCHRONOUS_ENV = "JSM_BRIDGE_SQLITE_SYNCHRONOUS"
# FULL: a commit is on disk before it returns, so an acknowledged webhook survives a power cut or a
# kernel crash. NORMAL (WAL): it survives a crash of the process only (see docs/store.md).
SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")

INBOX_STATES = ("pending", "processing", "done", "dead")
LEDGER_STATES = ("pending", "done", "failed")


# --- errors ---------------------------------------------------------------------------------------


class StoreError(Exception):
    """Something went wrong in the store; the message says what and, where it can, what to do."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or opened right now (a webhook should be answered with 503)."""


class UnknownEntry(StoreError):
    """An operation named an inbox event, ledger key or sweep run that does not exist."""


# --- values ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxEntry:
    """A webhook delivery as received, before it is stored."""

    delivery_id: str | None  # X-Atlassian-Webhook-Identifier, when Jira sent one
    content_hash: str  # sha256 of the raw body, for duplicates without an identifier ("" with one)
    event_type: str  # webhookEvent
    issue_key: str | None
    payload: str | bytes  # the raw JSON text, or its UTF-8 bytes as received (stored as text)
    received_at: datetime
    flavor: str = "cloud"


def content_hash(body: bytes | str) -> str:
    """The sha256 hex digest of a raw webhook body, as `InboxEntry.content_hash` expects."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class InboxEvent:
    """A stored inbox entry with its processing state: pending, processing, done or dead."""

    id: int
    delivery_id: str | None
    content_hash: str
    event_type: str
    issue_key: str | None
    payload: str
    received_at: datetime
    flavor: str
    state: str
    attempts: int
    error: str | None
    next_attempt_at: datetime
    holder: str | None = None
    lease_until: datetime | None = None

    @property
    def entry(self) -> InboxEntry:
        return InboxEntry(
            delivery_id=self.delivery_id,
            content_hash=self.content_hash,
            event_type=self.event_type,
            issue_key=self.issue_key,
            payload=self.payload,
            received_at=self.received_at,
            flavor=self.flavor,
        )


@dataclass(frozen=True)
class LedgerEntry:
    """One action's row in the ledger: pending (claimed, outcome unknown), done, or failed."""

    key: str
    ticket: str
    rule: str
    kind: str
    action: dict[str, Any]
    state: str
    attempts: int
    error: str | None
    holder: str | None
    claimed_at: datetime | None
    done_at: datetime | None
    retry_at: datetime | None

    def to_action(self) -> Action:
        return action_from_dict(self.action)


@dataclass(frozen=True)
class SweepRun:
    id: int
    policy: str
    started_at: datetime
    finished_at: datetime | None
    tickets: int | None
    actions: int | None
    error: str | None


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    expires_at: datetime


# --- schema ---------------------------------------------------------------------------------------


class UTCDateTime(TypeDecorator[datetime]):
    """Datetimes stored in UTC and returned time-zone aware; naive values are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps time-zone-aware instants only")
        value = value.astimezone(UTC)
        # SQLite has no time zones: keep naive UTC, whose text form sorts in time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Every LZ4 frame starts with these four bytes; a webhook body stored as text never does.
LZ4_FRAME_MAGIC = b"\x04\x22\x4d\x18"


def compress_payload(payload: str | bytes) -> bytes:
    """A webhook body as SQLite stores it: an LZ4 frame (the standard format `lz4 -d` reads). Jira's
    JSON shrinks to about a third (7.7 KB to 2.8 KB in 5.6 µs), so an event fits in one database page
    instead of a page and an overflow page: fewer pages to write to the WAL, copy at each checkpoint
    and sync (docs/store.md)."""
    frame: bytes = lz4.frame.compress(payload.encode("utf-8") if isinstance(payload, str) else payload)
    return frame


def payload_text(stored: str | bytes) -> str:
    """A stored payload as text: LZ4 frames are decompressed; text (PostgreSQL, and SQLite rows
    written before payloads were compressed) is returned as it is."""
    if isinstance(stored, str):
        return stored
    if stored.startswith(LZ4_FRAME_MAGIC):
        try:
            data: bytes = lz4.frame.decompress(stored)
            return data.decode("utf-8")
        except (RuntimeError, UnicodeDecodeError) as error:
            log.warning("inbox_payload_unreadable bytes=%d error=%s", len(stored), error)
            return f"<unreadable payload: {len(stored)} bytes that are not a valid LZ4 frame of UTF-8 text>"
    return stored.decode("utf-8", errors="replace")


class InboxPayload(TypeDecorator[str]):
    """A webhook body: compressed on SQLite (`compress_payload`), text on PostgreSQL (which compresses
    large values itself), always returned as text."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | bytes | None, dialect: sa.Dialect) -> str | bytes | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return compress_payload(value)
        return _payload_text(value)

    def process_result_value(self, value: str | bytes | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else payload_text(value)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(200), nullable=True, unique=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("issue_key", sa.String(100), nullable=True),
    sa.Column("flavor", sa.String(20), nullable=False),
    sa.Column("payload", InboxPayload(), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("holder", sa.String(200), nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_inbox_state_next_attempt_at", "state", "next_attempt_at"),
    # Only deliveries without an identifier are compared by content: identified ones stay out of
    # this index, one random page fewer to write per webhook (migration 0002).
    sa.Index(
        "ix_inbox_content_hash",
        "content_hash",
        sqlite_where=sa.text("delivery_id IS NULL"),
        postgresql_where=sa.text("delivery_id IS NULL"),
    ),
)

ledger = sa.Table(
    "action_ledger",
    metadata,
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("ticket", sa.String(100), nullable=False, index=True),
    sa.Column("rule", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("action", sa.JSON, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("holder", sa.String(200), nullable=True),
    sa.Column("claimed_at", UTCDateTime(), nullable=True),
    sa.Column("done_at", UTCDateTime(), nullable=True),
    sa.Column("retry_at", UTCDateTime(), nullable=True),
    sa.Index("ix_action_ledger_state_claimed_at", "state", "claimed_at"),
)

ticket_cache = sa.Table(
    "ticket_cache",
    metadata,
    sa.Column("ticket", sa.String(100), primary_key=True),
    sa.Column("policy", sa.String(200), primary_key=True),
    sa.Column("snapshot", sa.JSON, nullable=True),
    sa.Column("next_due", UTCDateTime(), nullable=True, index=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

sweep_runs = sa.Table(
    "sweep_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("policy", sa.String(200), nullable=False, index=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("tickets", sa.Integer, nullable=True),
    sa.Column("actions", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)


_INBOX_COLUMNS = (
    "delivery_id",
    "content_hash",
    "event_type",
    "issue_key",
    "flavor",
    "payload",
    "received_at",
    "state",
    "attempts",
    "next_attempt_at",
    "updated_at",
)
# The payload is passed compressed (`compress_payload`), as InboxPayload stores it on SQLite.
_SQLITE_INBOX_ROW = "({})".format(", ".join("?" for _ in _INBOX_COLUMNS))
_SQLITE_INBOX_INSERT = f"INSERT INTO inbox ({', '.join(_INBOX_COLUMNS)}) VALUES {_SQLITE_INBOX_ROW}"
_INSERT_ROWS = 256  # rows per multi-row INSERT: 11 parameters each, well under SQLite's 32,766
# PostgreSQL: one statement whatever the batch's size, one array per column. Its text never changes, so
# it is parsed once and then prepared by the driver; a multi-row VALUES statement built by SQLAlchemy
# was compiled anew for every batch (3.7 ms of client CPU for 8 rows, measured).
_PG_INBOX_INSERT = (
    f"INSERT INTO inbox ({', '.join(_INBOX_COLUMNS)}) SELECT * FROM unnest("
    "%b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::text[], "
    "%b::timestamptz[], %b::varchar[], %b::integer[], %b::timestamptz[], %b::timestamptz[]) "
    "ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id"
)


@functools.lru_cache(maxsize=_INSERT_ROWS)
def _sqlite_multi_insert(rows: int) -> str:
    """`INSERT ... VALUES (...), (...) ON CONFLICT (delivery_id) DO NOTHING` for `rows` rows."""
    return (
        f"{_SQLITE_INBOX_INSERT}{f', {_SQLITE_INBOX_ROW}' * (rows - 1)} ON CONFLICT (delivery_id) DO NOTHING"
    )


# --- engine ---------------------------------------------------------------------------------------


def database_url(url: str | None = None) -> str:
    """The database URL to use: the one given, else JSM_BRIDGE_DATABASE_URL, else ./var/jsm-bridge.db."""
    if url:
        return url
    from_env = os.environ.get(DATABASE_URL_ENV, "").strip()
    if from_env:
        return from_env
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, frozenset | set | tuple):
        return sorted(value) if isinstance(value, frozenset | set) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, sort_keys=True)


def sqlite_synchronous(value: str | None = None) -> str:
    """The SQLite `synchronous` level to use: the one given, else JSM_BRIDGE_SQLITE_SYNCHRONOUS, else FULL."""
    chosen = (value or os.environ.get(SQLITE_SYNCHRONOUS_ENV, "") or "FULL").strip().upper()
    if chosen not in SQLITE_SYNCHRONOUS:
        raise StoreError(
            f"{SQLITE_SYNCHRONOUS_ENV}={chosen!r} is not a synchronous level: use FULL (the default) or NORMAL"
        )
    return chosen


def _create_engine(url: str, synchronous: str = "FULL", autocheckpoint: bool = True) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(url, synchronous, autocheckpoint)
    elif backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if parsed.get_driver_name() == "psycopg" and "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = 5
        engine = sa.create_engine(url, pool_pre_ping=True, json_serializer=_dumps, connect_args=connect_args)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True, json_serializer=_dumps)
    _never_share_connections_across_fork(engine)
    return engine


def _never_share_connections_across_fork(engine: Engine) -> None:
    """A pooled connection opened before a fork (gunicorn --preload) is not reused in the child."""

    @event.listens_for(engine, "connect")
    def _remember_pid(_dbapi_connection: Any, record: Any) -> None:
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _check_pid(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.get("pid") != os.getpid():
            record.dbapi_connection = proxy.dbapi_connection = None
            raise exc.DisconnectionError("connection opened in another process; opening a new one")


def _sqlite_engine(url: str, synchronous: str, autocheckpoint: bool) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    memory = database in ("", ":memory:")
    if not memory:
        # A folder that cannot be made is reported as StoreUnavailable on first use, in SQLite's words.
        with suppress(OSError):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        json_serializer=_dumps,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **({"poolclass": StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transactions out of the driver's hands so that BEGIN IMMEDIATE below is what runs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not memory:
            _enable_wal(cursor)
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            if not autocheckpoint:
                # Someone else checkpoints (the receiver's checkpointer thread): a commit that crosses
                # 1,000 WAL pages must not copy the WAL into the database while requests wait on it.
                cursor.execute("PRAGMA wal_autocheckpoint = 0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: two processes cannot both read-then-write the same rows.
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch a SQLite file to WAL. The switch needs an exclusive lock and SQLite does not wait for it
    (the busy timeout does not apply), so two processes opening a new file at once retry here."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _lock_id(name: str) -> int:
    """A signed 64-bit advisory lock id for a name, the same in every process."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# --- the store ------------------------------------------------------------------------------------


class Store:
    """All durable state behind one object. Thread-safe; every method is one short transaction."""

    def __init__(
        self,
        url: str | None = None,
        clock: Clock | None = None,
        *,
        dedupe_window: timedelta = DEFAULT_DEDUPE_WINDOW,
        synchronous: str | None = None,
        autocheckpoint: bool = True,
    ) -> None:
        """`synchronous` (SQLite): FULL or NORMAL, default JSM_BRIDGE_SQLITE_SYNCHRONOUS or FULL.
        `autocheckpoint=False` (SQLite): commits never checkpoint the WAL; call `wal_checkpoint()`."""
        self.url = database_url(url)
        self.clock: Clock = clock or SystemClock()
        self.dedupe_window = dedupe_window
        self.synchronous = sqlite_synchronous(synchronous)
        self.autocheckpoint = autocheckpoint
        try:
            self.engine = _create_engine(self.url, self.synchronous, autocheckpoint)
        except (exc.ArgumentError, ImportError) as error:
            raise StoreError(f"cannot use database URL {self._safe_url()}: {error}") from error
        self.dialect = self.engine.dialect.name
        self._sqlite_file = self.dialect == "sqlite" and make_url(self.url).database not in (
            None,
            "",
            ":memory:",
        )
        self._writer_lock = threading.Lock()
        self._writer: tuple[int, Any] | None = None

    def __repr__(self) -> str:
        return f"Store({self._safe_url()})"

    def _safe_url(self) -> str:
        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except exc.ArgumentError:
            return "<unparseable URL>"

    def close(self) -> None:
        with self._writer_lock:
            if self._writer is not None and self._writer[0] == os.getpid():
                with suppress(Exception):
                    # Closed, not handed back to the pool: on PostgreSQL it is in autocommit mode.
                    self._writer[1].invalidate()
            self._writer = None
        self.engine.dispose()

    # -- transactions --

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except exc.OperationalError as error:
            raise self._unavailable(error.orig or error) from error
        except exc.DBAPIError as error:
            if error.connection_invalidated:
                raise StoreUnavailable(f"lost the connection to {self._safe_url()}: {error.orig}") from error
            raise StoreError(f"database error on {self._safe_url()}: {error.orig or error}") from error
        except exc.SQLAlchemyError as error:
            raise StoreError(f"database error on {self._safe_url()}: {error}") from error

    def _unavailable(self, error: object) -> StoreUnavailable:
        return StoreUnavailable(
            f"database {self._safe_url()} is unavailable: {error}; "
            f"check that it is running and reachable, or set {DATABASE_URL_ENV}"
        )

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction: BEGIN IMMEDIATE on SQLite, an ordinary transaction on PostgreSQL."""
        with self._errors(), self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    def _now(self) -> datetime:
        now = self.clock.now()
        if now.tzinfo is None:
            raise ValueError("the store's clock returned a naive datetime")
        return now.astimezone(UTC)

    # -- lifecycle --

    def ping(self) -> None:
        """Check that the database answers; raises StoreUnavailable when it does not."""
        with self._read() as conn:
            conn.execute(sa.text("SELECT 1"))

    def wal_checkpoint(self, restart: bool = False) -> tuple[int, int] | None:
        """Copy committed WAL pages into a SQLite database file. PASSIVE by default: never blocks a
        writer, copies what it can. `restart=True` (RESTART): waits for readers (the busy timeout),
        copies everything, and makes the next commit write the WAL from its start again, over the
        file's existing blocks (the file keeps its size: syncing overwritten blocks costs half what
        syncing a growing file does); hold off writers first, or they wait on it.
        Returns (pages in the WAL, pages copied), or None when there is no WAL to checkpoint
        (PostgreSQL, in-memory SQLite) or another checkpoint is running."""
        if not self._sqlite_file:
            return None
        mode = "RESTART" if restart else "PASSIVE"
        with self._errors():
            raw = self.engine.raw_connection()
            try:
                # Outside any transaction (the driver runs in autocommit): SQLite refuses a checkpoint
                # from a connection with one open.
                busy, log_pages, copied = raw.driver_connection.execute(  # type: ignore[union-attr]
                    f"PRAGMA wal_checkpoint({mode})"
                ).fetchone()
            finally:
                raw.close()
        return None if busy else (int(log_pages), int(copied))

    def migrate(self) -> None:
        """Bring the schema up to date. Safe when several processes start at once."""
        from jsm_bridge.migrations import upgrade

        with self._write() as conn:
            if self.dialect == "postgresql":
                # Migrations wait for each other; the second finds the schema current and does nothing.
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_id("jsm-bridge:migrate"))))
            upgrade(conn)
        log.info("store.migrated url=%s", self._safe_url())

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at, or None before the first migration."""
        from jsm_bridge.migrations import current_revision

        with self._read() as conn:
            return current_revision(conn)

    # -- inbox --

    def inbox_add(self, entry: InboxEntry) -> bool:
        """Store a delivery; False when it was already seen (same delivery id, or same body lately)."""
        return self.inbox_add_many([entry])[0]

    def inbox_add_many(self, entries: Sequence[InboxEntry]) -> list[bool]:
        """Store a batch in one transaction; one flag per entry, False for a duplicate (also within the batch)."""
        if not entries:
            return []
        now = self._now()
        if self._sqlite_file:
            return self._inbox_add_many_sqlite(entries, now)
        if self.dialect == "postgresql":
            return self._inbox_add_many_postgresql(entries, now)
        with self._write() as conn:
            # The webhook hot path: one query per kind of duplicate for the whole batch, then one
            # executemany, instead of two statements per delivery (see docs/webhooks.md, performance).
            received_at = [_aware(e.received_at) for e in entries]
            seen_ids = self._deliveries_seen(
                conn, [e.delivery_id for e in entries if e.delivery_id is not None]
            )
            recent = self._contents_seen(
                conn,
                {e.content_hash for e in entries if e.delivery_id is None},
                received_at,
            )
            results, rows = self._new_inbox_rows(entries, received_at, seen_ids, recent, now)
            if rows:
                conn.execute(inbox.insert(), [dict(zip(_INBOX_COLUMNS, row, strict=True)) for row in rows])
        return results

    def _inbox_add_many_postgresql(self, entries: Sequence[InboxEntry], now: datetime) -> list[bool]:
        """On PostgreSQL, a batch is one `INSERT ... SELECT * FROM unnest(...) ON CONFLICT (delivery_id)
        DO NOTHING RETURNING`, one array per column:
        the unique index settles identifiers already stored, also against other instances writing at
        the same moment, and what the statement returns says which rows it added. Deliveries without an
        identifier are first compared with the bodies received within the window, under one advisory
        lock per body (taken in one statement, in a fixed order) so that the window holds across
        instances. A batch without such deliveries needs neither: see _pg_insert_identified."""
        received_at = [_aware(e.received_at) for e in entries]
        digests = {e.content_hash for e in entries if e.delivery_id is None}
        if not digests:
            return self._pg_insert_identified(entries, received_at, now)
        with self._write() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_advisory_xact_lock(k) FROM "
                    "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered"
                ),
                {"keys": sorted({_lock_id("inbox:" + digest) for digest in digests})},
            )
            recent = self._contents_seen(conn, digests, received_at)
            results, rows = self._new_inbox_rows(entries, received_at, set(), recent, now)
            if not rows:
                return results
            columns = tuple(list(column) for column in zip(*rows, strict=True))
            found = conn.exec_driver_sql(_PG_INBOX_INSERT, columns)
            added = {row[0] for row in found if row[0] is not None}
        # Entries whose identifier the statement did not add were already in the inbox.
        return [
            flag and (entry.delivery_id is None or entry.delivery_id in added)
            for flag, entry in zip(results, entries, strict=True)
        ]

    def _pg_insert_identified(
        self, entries: Sequence[InboxEntry], received_at: list[datetime], now: datetime
    ) -> list[bool]:
        """Deliveries that all carry an identifier, on PostgreSQL: the one statement in autocommit, on
        a connection this process keeps for inbox writes. A single statement is a transaction of its
        own, so the batch costs one round trip instead of three (BEGIN, INSERT, COMMIT)."""
        import psycopg

        results, rows = self._new_inbox_rows(entries, received_at, set(), {}, now)
        if not rows:
            return results
        columns = tuple(list(column) for column in zip(*rows, strict=True))
        with self._writer_lock:
            try:
                db = self._inbox_writer()
                if not db.autocommit:
                    db.autocommit = True  # this connection never goes back to the pool
                added = {row[0] for row in db.execute(_PG_INBOX_INSERT, columns).fetchall()}
            except (psycopg.OperationalError, exc.OperationalError) as error:
                self._drop_inbox_writer()  # a fresh connection next time
                raise self._unavailable(error) from error
            except (psycopg.Error, exc.SQLAlchemyError) as error:
                self._drop_inbox_writer()
                raise StoreError(f"database error on {self._safe_url()}: {error}") from error
        return [flag and entry.delivery_id in added for flag, entry in zip(results, entries, strict=True)]

    def _new_inbox_rows(
        self,
        entries: Sequence[InboxEntry],
        received_at: list[datetime],
        seen_ids: set[str],
        recent: dict[str, list[datetime]],
        now: Any,
    ) -> tuple[list[bool], list[tuple[Any, ...]]]:
        """Which entries are new (not seen before, nor earlier in the batch), and their rows in
        _INBOX_COLUMNS order; `now` as the rows' driver wants it (a datetime through SQLAlchemy and on
        PostgreSQL, where a payload is passed as text; SQLite's text form straight to the driver, where
        a payload is passed compressed, as InboxPayload stores it)."""
        results: list[bool] = []
        rows: list[tuple[Any, ...]] = []
        for entry, received in zip(entries, received_at, strict=True):
            if entry.delivery_id is not None:
                if entry.delivery_id in seen_ids:
                    results.append(False)
                    continue
                seen_ids.add(entry.delivery_id)
            else:
                if any(abs(received - t) < self.dedupe_window for t in recent.get(entry.content_hash, ())):
                    results.append(False)
                    continue
                recent.setdefault(entry.content_hash, []).append(received)
            rows.append(
                (
                    entry.delivery_id,
                    entry.content_hash,
                    entry.event_type,
                    entry.issue_key,
                    entry.flavor,
                    _payload_text(entry.payload) if isinstance(now, datetime) else compress_payload(entry.payload),
                    received if isinstance(now, datetime) else _sqlite_text(received),
                    "pending",
                    0,
                    now,
                    now,
                )
            )
            results.append(True)
        return results, rows

    def _inbox_add_many_sqlite(self, entries: Sequence[InboxEntry], now: datetime) -> list[bool]:
        """The webhook hot path on a SQLite file: straight to the driver, on a connection this process
        keeps for inbox writes (SQLAlchemy's checkout, events and bind processing cost more than the
        statements themselves: docs/webhooks.md, performance). Same checks as the SQLAlchemy path.

        When every delivery has an identifier (Jira Cloud always sends one), the batch is a single
        statement, `INSERT ... ON CONFLICT (delivery_id) DO NOTHING`, which SQLite runs as one
        transaction: the driver gives up the GIL once per batch rather than once per row and query."""
        received_at = [_aware(e.received_at) for e in entries]
        with self._writer_lock, self._errors():
            db = self._inbox_writer()
            try:
                if all(e.delivery_id is not None for e in entries):
                    return self._inbox_insert_identified(db, entries, received_at, now)
                return self._inbox_insert_checked(db, entries, received_at, now)
            except sqlite3.OperationalError as error:
                self._drop_inbox_writer()  # a fresh connection next time (the file may have been replaced)
                raise self._unavailable(error) from error
            except sqlite3.Error as error:
                raise StoreError(f"database error on {self._safe_url()}: {error}") from error

    def _inbox_insert_identified(
        self, db: Any, entries: Sequence[InboxEntry], received_at: list[datetime], now: datetime
    ) -> list[bool]:
        """Deliveries that all carry an identifier: one INSERT that skips identifiers already stored.
        Its row count says whether all were new (the usual case); when not, the rows it added (their
        ids are consecutive: the statement held the write lock) say which."""
        results, rows = self._new_inbox_rows(entries, received_at, set(), {}, _sqlite_text(now))
        if not rows:
            return results
        for start in range(0, len(rows), _INSERT_ROWS):
            chunk = rows[start : start + _INSERT_ROWS]
            cursor = db.execute(_sqlite_multi_insert(len(chunk)), [value for row in chunk for value in row])
            if cursor.rowcount == len(chunk):
                continue
            added: set[str] = set()
            if cursor.rowcount > 0:
                last = cursor.lastrowid
                found = db.execute(
                    "SELECT delivery_id FROM inbox WHERE id > ? AND id <= ?", (last - cursor.rowcount, last)
                )
                added = {row[0] for row in found}
            stored_ids = {row[0] for row in chunk if row[0] not in added}
            # Mark the entries whose identifier was already in the inbox as duplicates.
            for index, entry in enumerate(entries):
                if results[index] and entry.delivery_id in stored_ids:
                    results[index] = False
        return results

    def _inbox_insert_checked(
        self, db: Any, entries: Sequence[InboxEntry], received_at: list[datetime], now: datetime
    ) -> list[bool]:
        """A batch with deliveries without an identifier: their bodies are compared with those received
        within the window, in one transaction with the insert."""
        db.execute("BEGIN IMMEDIATE")
        try:
            ids = [e.delivery_id for e in entries if e.delivery_id is not None]
            seen_ids: set[str] = set()
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                found = db.execute(f"SELECT delivery_id FROM inbox WHERE delivery_id IN ({marks})", chunk)
                seen_ids.update(row[0] for row in found)
            recent: dict[str, list[datetime]] = {}
            digests = sorted({e.content_hash for e in entries if e.delivery_id is None})
            low = _sqlite_text(min(received_at) - self.dedupe_window)
            high = _sqlite_text(max(received_at) + self.dedupe_window)
            for start in range(0, len(digests), _IN_CHUNK):
                chunk = digests[start : start + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                found = db.execute(
                    "SELECT content_hash, received_at FROM inbox WHERE delivery_id IS NULL AND "
                    f"content_hash IN ({marks}) AND received_at > ? AND received_at < ?",
                    [*chunk, low, high],
                )
                for digest, received in found:
                    recent.setdefault(digest, []).append(_from_db(received))  # type: ignore[arg-type]
            results, rows = self._new_inbox_rows(entries, received_at, seen_ids, recent, _sqlite_text(now))
            if rows:
                db.executemany(_SQLITE_INBOX_INSERT, rows)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                with suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
        return results

    def _inbox_writer(self) -> Any:
        """This process's DB-API connection for inbox batches (checked out of the pool once, so it has
        the pool's settings: WAL, synchronous, busy timeout). Call with _writer_lock held."""
        if self._writer is None or self._writer[0] != os.getpid():  # never a connection from before a fork
            self._writer = (os.getpid(), self.engine.raw_connection())
        return self._writer[1].driver_connection

    def _drop_inbox_writer(self) -> None:
        if self._writer is not None and self._writer[0] == os.getpid():
            with suppress(Exception):
                self._writer[1].invalidate()
        self._writer = None

    def _deliveries_seen(self, conn: Connection, delivery_ids: list[str]) -> set[str]:
        seen: set[str] = set()
        for start in range(0, len(delivery_ids), _IN_CHUNK):
            chunk = delivery_ids[start : start + _IN_CHUNK]
            found = conn.execute(sa.select(inbox.c.delivery_id).where(inbox.c.delivery_id.in_(chunk)))
            seen.update(row[0] for row in found)
        return seen

    def _contents_seen(
        self, conn: Connection, digests: set[str], received_at: list[datetime]
    ) -> dict[str, list[datetime]]:
        """When each of these bodies was received, among the deliveries without an identifier near the
        batch's arrival times (one with an identifier is compared by it, never by content)."""
        recent: dict[str, list[datetime]] = {}
        if not digests:
            return recent
        ordered = sorted(digests)
        low, high = min(received_at) - self.dedupe_window, max(received_at) + self.dedupe_window
        for start in range(0, len(ordered), _IN_CHUNK):
            found = conn.execute(
                sa.select(inbox.c.content_hash, inbox.c.received_at).where(
                    inbox.c.delivery_id.is_(None),
                    inbox.c.content_hash.in_(ordered[start : start + _IN_CHUNK]),
                    inbox.c.received_at > low,
                    inbox.c.received_at < high,
                )
            )
            for digest, received in found:
                recent.setdefault(digest, []).append(_aware(received))
        return recent

    def inbox_claim(
        self, worker: str, limit: int = 10, lease: timedelta = timedelta(seconds=60)
    ) -> list[InboxEvent]:
        """Claim up to `limit` events for a worker, oldest first: pending ones that are due, and ones
        whose previous worker's lease ran out. No event is handed to two workers at once."""
        now = self._now()
        due = sa.or_(
            sa.and_(inbox.c.state == "pending", inbox.c.next_attempt_at <= now),
            sa.and_(inbox.c.state == "processing", inbox.c.lease_until <= now),
        )
        with self._write() as conn:
            query = (
                sa.select(inbox.c.id, inbox.c.state, inbox.c.holder)
                .where(due)
                .order_by(inbox.c.id)
                .limit(limit)
            )
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            found = conn.execute(query).all()
            if not found:
                return []
            ids = [row.id for row in found]
            conn.execute(
                inbox.update()
                .where(inbox.c.id.in_(ids))
                .values(state="processing", holder=worker, lease_until=now + lease, updated_at=now)
            )
            # A lease that ran out means its worker died or hung on this event: count that as an
            # attempt, so an event that kills workers ends up dead instead of looping for ever.
            for row in found:
                if row.state == "processing":
                    conn.execute(
                        inbox.update()
                        .where(inbox.c.id == row.id)
                        .values(
                            attempts=inbox.c.attempts + 1,
                            error=f"lease of worker {row.holder} ran out before it finished",
                        )
                    )
            rows = conn.execute(sa.select(inbox).where(inbox.c.id.in_(ids)).order_by(inbox.c.id))
            return [_inbox_event(row) for row in rows]

    def inbox_done(self, event_id: int, holder: str | None = None) -> bool:
        """Mark an event processed. With `holder` (the worker that claimed it), only while that worker
        still holds it: when its lease ran out and another worker claimed the event, nothing changes
        (logged `not acting: lease lost`) and False is returned."""
        return self._inbox_set(event_id, holder, state="done", holder=None, lease_until=None, error=None)

    def inbox_retry(self, event_id: int, error: str, at: datetime, holder: str | None = None) -> bool:
        """Count a failed attempt and put the event back in the queue, due at `at`. With `holder`, only
        while that worker still holds the event (see inbox_done)."""
        return self._inbox_set(
            event_id,
            holder,
            state="pending",
            attempts=inbox.c.attempts + 1,
            error=error,
            next_attempt_at=_aware(at),
            holder=None,
            lease_until=None,
        )

    def inbox_dead(self, event_id: int, error: str, holder: str | None = None) -> bool:
        """Give up on an event: it stays in the inbox, state dead, until someone replays it. With
        `holder`, only while that worker still holds the event (see inbox_done)."""
        return self._inbox_set(
            event_id,
            holder,
            state="dead",
            attempts=inbox.c.attempts + 1,
            error=error,
            holder=None,
            lease_until=None,
        )

    def inbox_replay(self, event_id: int) -> None:
        """Put a dead or done event back in the queue, due now, with its attempts reset."""
        now = self._now()
        with self._write() as conn:
            row = conn.execute(sa.select(inbox.c.state).where(inbox.c.id == event_id)).first()
            if row is None:
                raise UnknownEntry(f"no inbox event {event_id}")
            if row.state not in ("dead", "done"):
                raise StoreError(
                    f"inbox event {event_id} is {row.state}; only dead or done events are replayed"
                )
            conn.execute(
                inbox.update()
                .where(inbox.c.id == event_id)
                .values(
                    state="pending",
                    attempts=0,
                    error=None,
                    next_attempt_at=now,
                    holder=None,
                    lease_until=None,
                    updated_at=now,
                )
            )

    def _inbox_set(self, event_id: int, worker: str | None, **values: Any) -> bool:
        """Update an event; with `worker`, only while that worker holds it (state processing)."""
        now = self._now()
        where = [inbox.c.id == event_id]
        if worker is not None:
            where += [inbox.c.holder == worker, inbox.c.state == "processing"]
        with self._write() as conn:
            result = conn.execute(inbox.update().where(*where).values(updated_at=now, **values))
            if result.rowcount == 1:
                return True
            row = conn.execute(sa.select(inbox.c.state, inbox.c.holder).where(inbox.c.id == event_id)).first()
        if row is None:
            raise UnknownEntry(f"no inbox event {event_id}")
        log.info(
            "not acting: lease lost event=%s worker=%s state=%s holder=%s",
            event_id,
            worker,
            row.state,
            row.holder,
        )
        return False

    def inbox_list(self, state: str | None = None, limit: int = 100) -> list[InboxEvent]:
        """Events, newest first, optionally of one state."""
        query = sa.select(inbox).order_by(inbox.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(inbox.c.state == state)
        with self._read() as conn:
            return [_inbox_event(row) for row in conn.execute(query)]

    def inbox_get(self, event_id: int) -> InboxEvent | None:
        with self._read() as conn:
            row = conn.execute(sa.select(inbox).where(inbox.c.id == event_id)).first()
        return None if row is None else _inbox_event(row)

    def inbox_depth(self) -> dict[str, int]:
        """How many events are in each state (every state present, zero when empty)."""
        with self._read() as conn:
            rows = conn.execute(sa.select(inbox.c.state, sa.func.count()).group_by(inbox.c.state))
            counts = {state: 0 for state in INBOX_STATES}
            counts.update({row[0]: int(row[1]) for row in rows})
        return counts

    def inbox_purge(self, older_than: datetime, chunk: int = 500) -> int:
        """Delete the done events received before `older_than`; returns how many. Pending, processing
        and dead events stay. The rows go `chunk` at a time, each in a transaction of its own, so the
        webhook receiver's commits never wait long behind the purge of a large inbox. A delivery whose
        row is gone is no longer recognised as a duplicate: keep events longer than Jira retries them."""
        cutoff = _aware(older_than)
        deleted = 0
        while True:
            with self._write() as conn:
                oldest = (
                    sa.select(inbox.c.id)
                    .where(inbox.c.state == "done", inbox.c.received_at < cutoff)
                    .order_by(inbox.c.id)
                    .limit(chunk)
                )
                count = int(conn.execute(inbox.delete().where(inbox.c.id.in_(oldest))).rowcount or 0)
            deleted += count
            if count < chunk:
                return deleted

    # -- ledger --

    def ledger_claim(self, action: Action, holder: str) -> bool:
        """Claim an action's key before carrying it out. True when the caller now owns it: a new key,
        or a failed one whose retry time has come. False when it is done, failed for good, or pending
        (another claim whose outcome is unknown: only reconcile, which asks Jira, may release it)."""
        now = self._now()
        data = action.to_dict()
        with self._write() as conn:
            inserted = conn.execute(
                self._insert(ledger)
                .values(
                    key=action.key,
                    ticket=action.ticket,
                    rule=action.rule,
                    kind=action.kind,
                    action=data,
                    state="pending",
                    attempts=1,
                    holder=holder,
                    claimed_at=now,
                )
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(ledger.c.key)
            )
            if inserted.first() is not None:
                return True
            query = sa.select(ledger).where(ledger.c.key == action.key)
            if self.dialect == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).one()
            if row.state != "failed" or row.retry_at is None or _aware(row.retry_at) > now:
                return False
            conn.execute(
                ledger.update()
                .where(ledger.c.key == action.key, ledger.c.state == "failed")
                .values(
                    state="pending",
                    attempts=ledger.c.attempts + 1,
                    holder=holder,
                    claimed_at=now,
                    retry_at=None,
                    action=data,
                )
            )
            return True

    def ledger_done(self, key: str) -> None:
        self._ledger_set(key, state="done", done_at=self._now(), error=None, retry_at=None)

    def ledger_failed(self, key: str, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt. With `retry_at` the action stays owed and may be claimed again from
        then; with None it is given up for good."""
        self._ledger_set(
            key, state="failed", error=error, retry_at=None if retry_at is None else _aware(retry_at)
        )

    def ledger_release(self, key: str, holder: str | None, error: str, retry_at: datetime) -> bool:
        """Release a claim a crash left pending: failed, retry at `retry_at`. Only while it is still
        pending under the same holder: an outcome recorded meanwhile (the claim was alive after all)
        is never overwritten. True when it was released."""
        holder_is = ledger.c.holder.is_(None) if holder is None else ledger.c.holder == holder
        with self._write() as conn:
            result = conn.execute(
                ledger.update()
                .where(ledger.c.key == key, ledger.c.state == "pending", holder_is)
                .values(state="failed", error=error, retry_at=_aware(retry_at))
            )
            return result.rowcount == 1

    def ledger_retry(self, key: str) -> LedgerEntry:
        """Make a given-up action owed again (an operator's decision): failed, retry now, attempts
        reset. Only a failed action can be retried; raises UnknownEntry or StoreError otherwise."""
        now = self._now()
        with self._write() as conn:
            row = conn.execute(sa.select(ledger.c.state).where(ledger.c.key == key)).first()
            if row is None:
                raise UnknownEntry(f"no ledger entry {key!r}")
            if row.state != "failed":
                raise StoreError(f"ledger entry {key!r} is {row.state}; only failed actions are retried")
            conn.execute(ledger.update().where(ledger.c.key == key).values(attempts=0, retry_at=now))
        entry = self.ledger_get(key)
        assert entry is not None
        return entry

    def _ledger_set(self, key: str, **values: Any) -> None:
        with self._write() as conn:
            result = conn.execute(ledger.update().where(ledger.c.key == key).values(**values))
            if result.rowcount == 0:
                raise UnknownEntry(f"no ledger entry {key!r}")

    def ledger_get(self, key: str) -> LedgerEntry | None:
        with self._read() as conn:
            row = conn.execute(sa.select(ledger).where(ledger.c.key == key)).first()
        return None if row is None else _ledger_entry(row)

    def ledger_pending(self, older_than: datetime) -> list[LedgerEntry]:
        """Claims still pending that were made before `older_than`: left behind by a crash."""
        query = (
            sa.select(ledger)
            .where(ledger.c.state == "pending", ledger.c.claimed_at < _aware(older_than))
            .order_by(ledger.c.claimed_at)
        )
        with self._read() as conn:
            return [_ledger_entry(row) for row in conn.execute(query)]

    def ledger_done_keys(self, ticket: str) -> frozenset[str]:
        query = sa.select(ledger.c.key).where(ledger.c.ticket == ticket, ledger.c.state == "done")
        with self._read() as conn:
            return frozenset(row.key for row in conn.execute(query))

    def ledger_entries(
        self, ticket: str | None = None, *, state: str | None = None, limit: int | None = None
    ) -> list[LedgerEntry]:
        """Ledger rows, oldest claim first; of one ticket, of one state, at most `limit` when given."""
        query = sa.select(ledger).order_by(ledger.c.claimed_at, ledger.c.key)
        if ticket is not None:
            query = query.where(ledger.c.ticket == ticket)
        if state is not None:
            query = query.where(ledger.c.state == state)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_ledger_entry(row) for row in conn.execute(query)]

    def ledger_next_retry(self, ticket: str, after: datetime | None = None) -> datetime | None:
        """The earliest time (later than `after`, when given) a failed action of this ticket may be
        retried, or None."""
        query = sa.select(sa.func.min(ledger.c.retry_at)).where(
            ledger.c.ticket == ticket, ledger.c.state == "failed", ledger.c.retry_at.is_not(None)
        )
        if after is not None:
            query = query.where(ledger.c.retry_at > _aware(after))
        with self._read() as conn:
            value = conn.execute(query).scalar()
        return _from_db(value)

    # -- ticket cache --

    def cache_put(
        self, ticket: str, policy: str, next_due: datetime | None, snapshot: dict[str, Any] | None
    ) -> None:
        """Remember when a ticket needs looking at again under a policy (None: only when it changes)."""
        now = self._now()
        values = {
            "snapshot": snapshot,
            "next_due": None if next_due is None else _aware(next_due),
            "updated_at": now,
        }
        with self._write() as conn:
            conn.execute(
                self._insert(ticket_cache)
                .values(ticket=ticket, policy=policy, **values)
                .on_conflict_do_update(index_elements=["ticket", "policy"], set_=values)
            )

    def cache_get(self, ticket: str, policy: str) -> tuple[datetime | None, dict[str, Any] | None] | None:
        """(next_due, snapshot) for a ticket under a policy, or None when it is not cached."""
        query = sa.select(ticket_cache.c.next_due, ticket_cache.c.snapshot).where(
            ticket_cache.c.ticket == ticket, ticket_cache.c.policy == policy
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (_from_db(row.next_due), row.snapshot)

    def cache_due(self, now: datetime) -> list[tuple[str, str]]:
        """(ticket, policy) pairs whose next_due has come, soonest first."""
        query = (
            sa.select(ticket_cache.c.ticket, ticket_cache.c.policy)
            .where(ticket_cache.c.next_due <= _aware(now))
            .order_by(ticket_cache.c.next_due, ticket_cache.c.ticket)
        )
        with self._read() as conn:
            return [(row.ticket, row.policy) for row in conn.execute(query)]

    def earliest_due(self) -> datetime | None:
        with self._read() as conn:
            value = conn.execute(sa.select(sa.func.min(ticket_cache.c.next_due))).scalar()
        return _from_db(value)

    def cache_wake(self, ticket: str, at: datetime) -> int:
        """Bring a cached ticket's next_due forward to `at` (under every policy it is cached for);
        returns how many rows changed. Later times are left as they are."""
        at = _aware(at)
        with self._write() as conn:
            result = conn.execute(
                ticket_cache.update()
                .where(
                    ticket_cache.c.ticket == ticket,
                    sa.or_(ticket_cache.c.next_due.is_(None), ticket_cache.c.next_due > at),
                )
                .values(next_due=at, updated_at=self._now())
            )
            return int(result.rowcount or 0)

    def cache_forget(self, ticket: str) -> None:
        with self._write() as conn:
            conn.execute(ticket_cache.delete().where(ticket_cache.c.ticket == ticket))

    # -- leases and locks --

    def acquire_lease(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Hold a named lease until now + ttl. True when `holder` has it: it was free, expired, or
        already theirs (then it is renewed); False while someone else holds it."""
        now = self._now()
        with self._write() as conn:
            inserted = conn.execute(
                self._insert(leases)
                .values(name=name, holder=holder, expires_at=now + ttl)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(leases.c.name)
            )
            if inserted.first() is not None:
                return True
            taken = conn.execute(
                leases.update()
                .where(leases.c.name == name, sa.or_(leases.c.holder == holder, leases.c.expires_at <= now))
                .values(holder=holder, expires_at=now + ttl)
            )
            return taken.rowcount == 1

    def release_lease(self, name: str, holder: str) -> None:
        """Give a lease up; does nothing when `holder` does not hold it."""
        with self._write() as conn:
            conn.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))

    def lease_holder(self, name: str) -> Lease | None:
        """The current, unexpired holder of a lease, or None."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(leases).where(leases.c.name == name, leases.c.expires_at > self._now())
            ).first()
        return None if row is None else Lease(row.name, row.holder, _aware(row.expires_at))

    @contextmanager
    def advisory_lock(self, name: str, ttl: timedelta = timedelta(minutes=10)) -> Iterator[bool]:
        """Try to take a named lock without waiting; yields whether it was taken, releases it on exit.

        On PostgreSQL this is a session advisory lock, freed by the server if the process dies. On
        SQLite it is a lease that lapses after `ttl` if the process dies without releasing it."""
        if self.dialect != "postgresql":
            holder = f"lock:{uuid.uuid4()}"
            taken = self.acquire_lease(name, holder, ttl)
            try:
                yield taken
            finally:
                if taken:
                    self.release_lease(name, holder)
            return
        lock_id = _lock_id(name)
        with self._errors():
            conn = self.engine.connect()
        try:
            with self._errors():
                taken = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(lock_id))).scalar())
                conn.commit()
            try:
                yield taken
            finally:
                if taken:
                    with self._errors():
                        conn.execute(sa.select(sa.func.pg_advisory_unlock(lock_id)))
                        conn.commit()
        finally:
            conn.close()

    # -- sweep runs --

    def sweep_started(self, policy: str) -> int:
        with self._write() as conn:
            result = conn.execute(
                sweep_runs.insert().values(policy=policy, started_at=self._now()).returning(sweep_runs.c.id)
            )
            return int(result.scalar_one())

    def sweep_finished(self, run_id: int, tickets: int, actions: int, error: str | None = None) -> None:
        with self._write() as conn:
            result = conn.execute(
                sweep_runs.update()
                .where(sweep_runs.c.id == run_id)
                .values(finished_at=self._now(), tickets=tickets, actions=actions, error=error)
            )
            if result.rowcount == 0:
                raise UnknownEntry(f"no sweep run {run_id}")

    def sweep_runs(self, policy: str | None = None, limit: int = 50) -> list[SweepRun]:
        """Recent sweep runs, newest first."""
        query = sa.select(sweep_runs).order_by(sweep_runs.c.id.desc()).limit(limit)
        if policy is not None:
            query = query.where(sweep_runs.c.policy == policy)
        with self._read() as conn:
            return [
                SweepRun(
                    id=row.id,
                    policy=row.policy,
                    started_at=_aware(row.started_at),
                    finished_at=_from_db(row.finished_at),
                    tickets=row.tickets,
                    actions=row.actions,
                    error=row.error,
                )
                for row in conn.execute(query)
            ]

    # -- dialect specifics --

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL both do)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        raise StoreError(f"unsupported database {self.dialect!r}: use SQLite or PostgreSQL")


def _sqlite_text(value: Any) -> Any:
    """A bind value as SQLite stores it through UTCDateTime: datetimes as naive UTC text."""
    if not isinstance(value, datetime):
        return value
    v = _aware(value).astimezone(UTC)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"


def _payload_text(payload: str | bytes) -> str:
    return payload if isinstance(payload, str) else payload.decode("utf-8")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass time-zone-aware instants to the store")
    return value.astimezone(UTC)


def _from_db(value: Any) -> datetime | None:
    """Aggregates (MIN) bypass the column type on SQLite and come back as text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _inbox_event(row: Any) -> InboxEvent:
    return InboxEvent(
        id=row.id,
        delivery_id=row.delivery_id,
        content_hash=row.content_hash,
        event_type=row.event_type,
        issue_key=row.issue_key,
        payload=row.payload,
        received_at=row.received_at,
        flavor=row.flavor,
        state=row.state,
        attempts=row.attempts,
        error=row.error,
        next_attempt_at=row.next_attempt_at,
        holder=row.holder,
        lease_until=row.lease_until,
    )


def _ledger_entry(row: Any) -> LedgerEntry:
    return LedgerEntry(
        key=row.key,
        ticket=row.ticket,
        rule=row.rule,
        kind=row.kind,
        action=dict(row.action),
        state=row.state,
        attempts=row.attempts,
        error=row.error,
        holder=row.holder,
        claimed_at=row.claimed_at,
        done_at=row.done_at,
        retry_at=row.retry_at,
    )


__all__ = [
    "DATABASE_URL_ENV",
    "InboxEntry",
    "InboxEvent",
    "Lease",
    "LedgerEntry",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "SweepRun",
    "UnknownEntry",
    "content_hash",
    "database_url",
]
