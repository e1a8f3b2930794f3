"""Numbered schema migrations of the PostgreSQL store (its own numbers, not SQLite's).

Everything lives in the schema `gridsync` of the database the URL names (PostGIS in `public`). Each
migration is recorded in `gridsync.migrations` in the transaction that runs it, under an
advisory lock, so several server processes starting at once migrate once; the whole run is one
transaction, so a crash mid-migration leaves the previous version. `migrate` runs, in number order, every migration not yet recorded.
Never edit a released migration: add the next one.

The tables are the SQLite store's, column for column (what `migrate-store` copies), with PostgreSQL
types and tools: `cases.place` is a geography point with a GiST index (duplicate candidates by
`ST_DWithin`, the Open311 box), the admin audit refuses UPDATE and DELETE by trigger.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

from sync_server.store.incarnation import new_incarnation

SCHEMA = "gridsync"
# pg_advisory_xact_lock key of schema migrations (any constant; the other keys are in store.py)
MIGRATION_LOCK = 0x67726964_0001

Migration = Callable[[psycopg.Connection], None]
MIGRATIONS: list[tuple[int, str, Migration]] = []


def migration(version: int, name: str) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        MIGRATIONS.append((version, name, fn))
        return fn

    return register


def _run(db: psycopg.Connection, script: str) -> None:
    for statement in script.split(";\n"):
        if statement.strip():
            db.execute(statement)  # type: ignore[call-overload]  # our own literal DDL


@migration(1, "initial schema: the SQLite store's tables, PostGIS places")
def _initial(db: psycopg.Connection) -> None:
    _run(db, _SCHEMA_V1)
    db.execute(
        "INSERT INTO store_meta (name, value) VALUES ('incarnation', %s) ON CONFLICT DO NOTHING",
        (new_incarnation(),),
    )


_SCHEMA_V1 = """
CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public;
CREATE TABLE workers (
    worker_id text PRIMARY KEY, name text NOT NULL, role text NOT NULL, department text,
    grids text NOT NULL DEFAULT '[]', all_grids integer NOT NULL DEFAULT 0);
CREATE TABLE devices (
    device_id text PRIMARY KEY, worker_id text NOT NULL REFERENCES workers(worker_id),
    signing_key bytea NOT NULL, encryption_key bytea NOT NULL, name text NOT NULL,
    enrolled_at bigint NOT NULL, revoked_at bigint,
    last_seq bigint NOT NULL DEFAULT 0, last_hash bytea NOT NULL);
CREATE TABLE enrollment_codes (
    code_hash text PRIMARY KEY, worker_id text NOT NULL REFERENCES workers(worker_id),
    expires_at bigint NOT NULL, used_at bigint);
CREATE TABLE cases (
    case_id text PRIMARY KEY, case_no text NOT NULL, status text NOT NULL, category text NOT NULL,
    grid_code text NOT NULL, department text, handler text, reporter text NOT NULL,
    lat double precision, lon double precision, reported_at bigint NOT NULL, closed_at bigint,
    deadline bigint, overdue integer NOT NULL DEFAULT 0, open_conflicts integer NOT NULL DEFAULT 0,
    version bigint NOT NULL, change_seq bigint NOT NULL, doc text NOT NULL,
    place geography(Point, 4326) GENERATED ALWAYS AS (
        CASE WHEN lat IS NULL OR lon IS NULL THEN NULL
        ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography END) STORED);
CREATE INDEX cases_change_seq ON cases(change_seq);
CREATE INDEX cases_case_no ON cases(case_no);
CREATE INDEX cases_place ON cases USING gist (place);
CREATE INDEX cases_place_box ON cases USING gist ((place::geometry));
CREATE INDEX cases_public ON cases(reported_at DESC, case_id DESC);
CREATE INDEX cases_deadline ON cases(deadline) WHERE deadline IS NOT NULL AND overdue = 0;
CREATE INDEX cases_conflicts ON cases(open_conflicts) WHERE open_conflicts > 0;
CREATE TABLE photo_refs (sha256 text NOT NULL, case_id text NOT NULL, PRIMARY KEY (sha256, case_id));
CREATE TABLE op_log (
    id bigserial PRIMARY KEY, device_id text NOT NULL, seq bigint NOT NULL, op_id text NOT NULL,
    actor text NOT NULL, case_id text NOT NULL, kind text NOT NULL, outcome text NOT NULL, code text,
    version bigint, detail text NOT NULL, change_seq bigint NOT NULL, received_at bigint NOT NULL,
    applied_at bigint NOT NULL, flags text NOT NULL DEFAULT '');
CREATE INDEX op_log_feed ON op_log(device_id, change_seq);
CREATE INDEX op_log_case ON op_log(case_id);
CREATE UNIQUE INDEX op_log_once ON op_log(device_id, seq) WHERE seq > 0;
CREATE TABLE applied_segments (
    device_id text NOT NULL, first_seq bigint NOT NULL, last_seq bigint NOT NULL,
    hash bytea NOT NULL, receipt text, first_change bigint, last_change bigint,
    PRIMARY KEY (device_id, first_seq));
CREATE TABLE backlog (
    device_id text NOT NULL, first_seq bigint NOT NULL, last_seq bigint NOT NULL,
    hash bytea NOT NULL, bytes bytea NOT NULL, received_at bigint NOT NULL,
    PRIMARY KEY (device_id, first_seq));
CREATE TABLE quarantine (
    id bigserial PRIMARY KEY, device_id text NOT NULL, first_seq bigint NOT NULL,
    last_seq bigint NOT NULL, hash bytea NOT NULL, reason text NOT NULL,
    received_at bigint NOT NULL, bytes bytea NOT NULL);
CREATE TABLE nonces (
    device_id text NOT NULL, nonce text NOT NULL, ts bigint NOT NULL, PRIMARY KEY (device_id, nonce));
CREATE INDEX nonces_ts ON nonces(ts);
CREATE TABLE photos (
    sha256 text PRIMARY KEY, size bigint NOT NULL, received bigint NOT NULL,
    complete integer NOT NULL DEFAULT 0, uploader text);
CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL);
CREATE TABLE catalogue_docs (name text PRIMARY KEY, doc text NOT NULL, updated bigint NOT NULL);
CREATE TABLE conflict_resolutions (
    case_id text NOT NULL, conflict_id text NOT NULL, choice text NOT NULL, actor text NOT NULL,
    at bigint NOT NULL, PRIMARY KEY (case_id, conflict_id));
CREATE TABLE segments_seen (
    device_id text NOT NULL, first_seq bigint NOT NULL, hash bytea NOT NULL, seen_at bigint NOT NULL,
    PRIMARY KEY (device_id, first_seq, hash));
CREATE TABLE admin_audit (
    id bigserial PRIMARY KEY, at bigint NOT NULL, os_user text NOT NULL, action text NOT NULL,
    target text NOT NULL, before text NOT NULL DEFAULT 'null', after text NOT NULL DEFAULT 'null');
CREATE INDEX admin_audit_action ON admin_audit(action, at);
CREATE INDEX admin_audit_target ON admin_audit(target, at);
CREATE INDEX admin_audit_at ON admin_audit(at);
CREATE FUNCTION admin_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the admin audit is append-only'; END $$;
CREATE TRIGGER admin_audit_no_change BEFORE UPDATE OR DELETE ON admin_audit
    FOR EACH ROW EXECUTE FUNCTION admin_audit_append_only();
CREATE TRIGGER admin_audit_no_truncate BEFORE TRUNCATE ON admin_audit
    FOR EACH STATEMENT EXECUTE FUNCTION admin_audit_append_only();
CREATE TABLE store_meta (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE api_keys (
    key_id text PRIMARY KEY, secret_hash text NOT NULL, name text NOT NULL,
    rate_per_minute bigint NOT NULL, issued_at bigint NOT NULL, issued_by text NOT NULL,
    revoked_at bigint, revoked_by text);
CREATE TABLE public_texts (
    id bigserial PRIMARY KEY, case_id text NOT NULL, text text NOT NULL, before text,
    edited_by text NOT NULL, edited_at bigint NOT NULL);
CREATE INDEX public_texts_case ON public_texts(case_id, id)
"""


@migration(2, "the changes feed by visibility")
def _feed_by_visibility(db: psycopg.Connection) -> None:
    """As the SQLite store's migration 12: each case's change number under what makes it visible
    (grid, reporter, department, handler), so a person's pull reads her cases' index entries after
    the cursor (a bitmap OR of these indexes), not the whole city's."""
    _run(db, _SCHEMA_V2)


_SCHEMA_V2 = """
CREATE INDEX cases_feed_grid ON cases(grid_code, change_seq);
CREATE INDEX cases_feed_reporter ON cases(reporter, change_seq);
CREATE INDEX cases_feed_department ON cases(department, change_seq) WHERE department IS NOT NULL;
CREATE INDEX cases_feed_handler ON cases(handler, change_seq) WHERE handler IS NOT NULL
"""


def migrate(db: psycopg.Connection) -> int:
    """Bring the schema up to date; returns the highest version recorded. `db` is in autocommit
    mode; several processes may call this at once (an advisory lock makes them take turns)."""
    db.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")  # type: ignore[call-overload]
    db.execute(f"SET search_path TO {SCHEMA}, public")  # type: ignore[call-overload]
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.execute(
            "CREATE TABLE IF NOT EXISTS migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at bigint NOT NULL)"
        )
        done = {int(row[0]) for row in db.execute("SELECT version FROM migrations")}
        for number, name, fn in sorted(MIGRATIONS, key=lambda m: m[0]):
            if number in done:
                continue
            with db.transaction():
                fn(db)
                db.execute(
                    "INSERT INTO migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (number, name, int(time.time())),
                )
            done.add(number)
    return max(done, default=0)
