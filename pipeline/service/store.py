"""The job store: every job the service submitted, who submitted it and its last known
status, in any database SQLAlchemy reaches (a SQLite file by default, PostgreSQL by URL).

The schema is Alembic's (`pipeline/service/migrations`, shipped in the package); the service
upgrades the database to the newest revision when it starts, so a store written by an older
version keeps its jobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, String, Text, UniqueConstraint, create_engine, func, select
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from pipeline.schema import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
"""Ray's job statuses after which nothing changes."""


class Base(DeclarativeBase):
    """The declarative base of the job store's tables (what Alembic compares against)."""


class JobRecord(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("submitter", "idempotency_key", name="uq_jobs_submitter_key"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The Ray Job's submission id."""
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    submitter: Mapped[str] = mapped_column(String(100), index=True)
    """The name of the token the job was submitted with."""
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    output: Mapped[str] = mapped_column(Text)
    config: Mapped[str] = mapped_column(Text)
    """The config as validated and submitted (YAML)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def as_dict(self) -> dict[str, str | None]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "submitter": self.submitter,
            "status": self.status,
            "message": self.message,
            "output": self.output,
            "created_at": utc(self.created_at).isoformat(),
            "updated_at": utc(self.updated_at).isoformat(),
        }


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """`alembic upgrade head` on the database at `url`."""
    command.upgrade(alembic_config(url), "head")


def now() -> datetime:
    return datetime.now(UTC)


def utc(moment: datetime) -> datetime:
    """A stored time in UTC (SQLite keeps no time zone; the store writes UTC only)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class JobStore:
    def __init__(self, url: str) -> None:
        try:
            migrate(url)
        except ArgumentError:
            raise ConfigError(
                f"--store {url}: not a database URL (e.g. sqlite:///jobs.db or "
                "postgresql://user@host/jobs)"
            ) from None
        except ModuleNotFoundError as err:
            raise ConfigError(
                f"--store {url}: its database driver ({err.name}) is not installed; for "
                "PostgreSQL: pip install 'tokenmill[postgres]'"
            ) from None
        except OperationalError as err:
            cause = " ".join(str(err.orig).split())
            raise ConfigError(f"--store {url}: cannot open the database ({cause})") from None
        self.engine = create_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    def add(self, record: JobRecord) -> JobRecord:
        """Store a new job; if its submitter already used its idempotency key, the job
        stored then instead."""
        record.created_at = record.updated_at = now()
        try:
            with self.session() as session:
                session.add(record)
        except IntegrityError:
            existing = self.by_key(record.submitter, record.idempotency_key)
            if existing is None:
                raise
            return existing
        return record

    def by_key(self, submitter: str, key: str | None) -> JobRecord | None:
        if key is None:
            return None
        with self.session() as session:
            return session.scalar(
                select(JobRecord).where(
                    JobRecord.submitter == submitter, JobRecord.idempotency_key == key
                )
            )

    def get(self, job_id: str) -> JobRecord | None:
        with self.session() as session:
            return session.get(JobRecord, job_id)

    def jobs(self) -> list[JobRecord]:
        """Every job, newest first."""
        with self.session() as session:
            return list(session.scalars(select(JobRecord).order_by(JobRecord.created_at.desc())))

    def unfinished(self) -> list[JobRecord]:
        with self.session() as session:
            return list(session.scalars(select(JobRecord).where(JobRecord.status.not_in(TERMINAL))))

    def set_status(self, job_id: str, status: str, message: str) -> None:
        with self.session() as session:
            record = session.get(JobRecord, job_id)
            if record is not None and (record.status, record.message) != (status, message):
                record.status, record.message, record.updated_at = status, message, now()

    def remove(self, job_id: str) -> None:
        with self.session() as session:
            if (record := session.get(JobRecord, job_id)) is not None:
                session.delete(record)

    def counts(self) -> dict[str, int]:
        """Jobs by status."""
        with self.session() as session:
            rows = session.execute(
                select(JobRecord.status, func.count()).group_by(JobRecord.status)
            )
            return {status: count for status, count in rows}
