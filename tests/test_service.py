"""The job service's parts that need neither HTTP nor Ray: API tokens, the allowed roots, and
the store's Alembic migrations. tests/test_service_cluster.py runs the service itself, on
a loopback port over a real Ray head."""

from __future__ import annotations

import io

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from pipeline.schema import ConfigError
from pipeline.service.auth import caller, load_tokens
from pipeline.service.roots import AllowedRoots
from pipeline.service.store import Base, JobStore, alembic_config, migrate


def test_tokens_come_from_a_file_or_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "tokens"
    path.write_text("# name=token\nalice = a1\nbob=b2\n")
    assert load_tokens(str(path)) == {"a1": "alice", "b2": "bob"}
    monkeypatch.setenv("TOKENMILL_SERVICE_TOKENS", "carol=c3,dave=d4")
    tokens = load_tokens(None)
    assert caller(tokens, "d4") == "dave" and caller(tokens, "d") is None


def test_a_tokens_file_it_cannot_read_is_named(tmp_path):
    for path, problem in [(tmp_path / "none", "No such file"), (tmp_path, "Is a directory")]:
        with pytest.raises(ConfigError, match=f"^--tokens-file {path}: {problem}"):
            load_tokens(str(path))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("jobs.db", "not a database URL (e.g. sqlite:///jobs.db or postgresql://"),
        ("sqlite:////no/such/folder/jobs.db", "cannot open the database (unable to open"),
        ("postgresql://tokenmill@127.0.0.1:1/jobs", "cannot open the database (connection"),
        ("mysql://tokenmill@db/jobs", "its database driver (MySQLdb) is not installed"),
    ],
)
def test_a_store_it_cannot_open_is_one_line_naming_it(url, problem):
    """A traceback each: from SQLAlchemy's URL parser, SQLite, psycopg, a missing driver."""
    with pytest.raises(ConfigError) as raised:
        JobStore(url)
    assert str(raised.value).startswith(f"--store {url}: {problem}")
    assert "\n" not in str(raised.value)


def test_allowed_roots_resolve_links_and_admit_url_prefixes(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "escape").symlink_to(tmp_path / "elsewhere")
    roots = AllowedRoots([str(tmp_path / "root"), "s3://bucket/team"])
    assert roots.problem(str(tmp_path / "root" / "runs" / "x")) is None
    outside = str(tmp_path / "root" / "escape" / "x")
    assert roots.problem(outside) == f"{outside} is outside the allowed roots"
    assert roots.problem(str(tmp_path / "rootless")) is not None  # a prefix, not a folder
    assert roots.problem("s3://bucket/team/runs") is None
    assert roots.problem("s3://bucket/teammate/runs") is not None
    assert roots.problem("runs/web") == "runs/web is not an absolute path"
    with pytest.raises(ConfigError, match="--allow-root"):
        AllowedRoots([])


def test_migrations_build_the_schema_the_models_describe(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate(url)  # `alembic upgrade head`
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version", "jobs"}
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    migrate(url)  # at head already: nothing to do


def test_migrations_render_for_postgresql():
    """`alembic upgrade head --sql` for PostgreSQL: the DDL it would run (no server here)."""
    config = alembic_config("postgresql://tokenmill@db/jobs")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    ddl = config.output_buffer.getvalue()
    assert "CREATE TABLE jobs" in ddl and "TIMESTAMP WITH TIME ZONE" in ddl
    assert "CONSTRAINT uq_jobs_submitter_key UNIQUE (submitter, idempotency_key)" in ddl
