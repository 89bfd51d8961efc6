"""What the service does with jobs, apart from HTTP: validate and submit a config through
`pipeline.submit` (the code `tokenmill submit` runs), remember it in the job store, follow
its status on Ray, stop it, read its logs, and find its report's files.

A job's status is the store's until Ray says otherwise: every read of a job that has not
finished asks Ray, so after a restart the service picks its running jobs up where Ray has
them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from ray.job_submission import JobSubmissionClient

from pipeline.service.roots import AllowedRoots
from pipeline.service.store import TERMINAL, JobRecord, JobStore
from pipeline.submit import prepare, submit_job

ORIGIN = "config"
"""How a submitted config is named in its validation errors (a CLI names its file)."""


class UnknownJob(LookupError):
    """No job of that id (or no file of that name in its report)."""


class RayUnavailable(RuntimeError):
    """The Ray Jobs API did not answer."""


class JobService:
    def __init__(self, store: JobStore, ray_jobs: JobSubmissionClient, roots: AllowedRoots):
        self.store = store
        self.ray_jobs = ray_jobs
        self.roots = roots

    def submit(
        self, data: dict[str, Any], submitter: str, key: str | None, nproc: int = 1
    ) -> tuple[JobRecord, bool]:
        """The job for a config, and whether it is new: a submitter's idempotency key that
        was used before gives the job submitted then."""
        if (earlier := self.store.by_key(submitter, key)) is not None:
            return earlier, False
        job = prepare(data, ORIGIN, nproc, self.roots.problem)
        record = JobRecord(
            id=f"tokenmill_{secrets.token_hex(8)}",
            kind=job.kind,
            name=job.config.name,
            submitter=submitter,
            idempotency_key=key,
            status="PENDING",
            message="",
            output=job.config.output,
            config=job.text,
        )
        stored = self.store.add(record)
        if stored is not record:  # a request with the same key came first
            return stored, False
        metadata = {"submitter": submitter, "name": record.name}
        try:
            submit_job(job, self.ray_jobs, metadata, submission_id=record.id)
        except (RuntimeError, OSError) as err:
            self.store.remove(record.id)
            raise RayUnavailable(f"the Ray Jobs API refused the job: {err}") from None
        return record, True

    def job(self, job_id: str) -> JobRecord:
        """A job, its status as Ray has it now."""
        record = self.store.get(job_id)
        if record is None:
            raise UnknownJob(f"no job {job_id}")
        if record.status not in TERMINAL:
            try:
                info = self.ray_jobs.get_job_info(job_id)
            except (RuntimeError, OSError):  # Ray is away or forgot the job: keep what we know
                return record
            self.store.set_status(job_id, str(info.status), info.message or "")
            record = self.store.get(job_id)
        return record

    def jobs(self) -> list[JobRecord]:
        """Every job, newest first, those not finished as Ray has them now."""
        self.refresh()
        return self.store.jobs()

    def refresh(self) -> None:
        """Take the status of every unfinished job from Ray (one request)."""
        unfinished = {record.id for record in self.store.unfinished()}
        if not unfinished:
            return
        try:
            known = self.ray_jobs.list_jobs()
        except (RuntimeError, OSError):
            return
        for info in known:
            if info.submission_id in unfinished:
                self.store.set_status(info.submission_id, str(info.status), info.message or "")

    def stop(self, job_id: str) -> tuple[JobRecord, bool]:
        """Ask Ray to stop a job; whether it was running."""
        self.job(job_id)
        try:
            stopping = self.ray_jobs.stop_job(job_id)
        except (RuntimeError, OSError) as err:
            raise RayUnavailable(f"the Ray Jobs API did not stop {job_id}: {err}") from None
        return self.job(job_id), stopping

    def logs(self, job_id: str) -> str:
        self.job(job_id)
        try:
            return self.ray_jobs.get_job_logs(job_id)
        except (RuntimeError, OSError) as err:
            raise RayUnavailable(f"the Ray Jobs API has no logs of {job_id}: {err}") from None

    def report_file(self, job_id: str, name: str = "report.html") -> Path:
        """A file of the job's report (OUT/report/NAME), only if it really lies there: a
        name that climbs out, or a link that points out, is no file of the report."""
        output = self.job(job_id).output
        if "://" in output:
            raise UnknownJob(f"{job_id} writes to {output}; the service serves local reports")
        folder = Path(os.path.realpath(output)) / "report"
        path = Path(os.path.realpath(Path(output, "report", name)))
        if not path.is_relative_to(folder) or not path.is_file():
            raise UnknownJob(f"{job_id}: no report file {name}")
        return path
