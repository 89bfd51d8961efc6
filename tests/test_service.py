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
from pipeline.service.store import Base, alembic_config, migrate


def test_tokens_come_from_a_file_or_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "tokens"
    path.write_text("# name=token\nalice = a1\nbob=b2\n")
    assert load_tokens(str(path)) == {"a1": "alice", "b2": "bob"}
    monkeypatch.setenv("TOKENMILL_SERVICE_TOKENS", "carol=c3,dave=d4")
    tokens = load_tokens(None)
    assert caller(tokens, "d4") == "dave" and caller(tokens, "d") is None


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
