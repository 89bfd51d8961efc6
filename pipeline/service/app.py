"""The HTTP API (FastAPI): routes, authentication, and what each failure answers.

Every route but `/healthz` needs a bearer token; its name is the submitter of the jobs it
submits. A config is the request body, YAML or JSON, validated as `tokenmill submit`
validates a file: a bad one is a 422 whose detail names the key, as is a path outside the
allowed roots. `/docs` and `/openapi.json` describe the API and hold no jobs, so they are
open like `/healthz`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from ray.job_submission import JobSubmissionClient
from starlette.concurrency import run_in_threadpool

import pipeline
from pipeline.schema import TOO_DEEP, ConfigError, parse_yaml
from pipeline.service.auth import caller
from pipeline.service.body_limit import BodyLimit
from pipeline.service.jobs import JobService, RayUnavailable, UnknownJob
from pipeline.service.metrics import metrics_text
from pipeline.service.page import jobs_page
from pipeline.service.roots import AllowedRoots
from pipeline.service.store import JobStore

CONFIG_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


@dataclass(frozen=True)
class ServiceSettings:
    store: str
    """SQLAlchemy URL of the job store."""
    roots: list[str]
    """Where jobs may read and write (folders, or URL prefixes)."""
    tokens: dict[str, str]
    """Bearer token → the name recorded as submitter."""
    max_body_bytes: int = 1 << 20


bearer = HTTPBearer(auto_error=False)


def submitter(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """The name of the caller's token; 401 without a known one."""
    name = caller(request.app.state.tokens, credentials.credentials) if credentials else None
    if name is None:
        raise HTTPException(401, "a valid bearer token is needed", {"WWW-Authenticate": "Bearer"})
    return name


Submitter = Annotated[str, Depends(submitter)]


def create_app(settings: ServiceSettings, ray_jobs: JobSubmissionClient) -> FastAPI:
    """The service over one job store and one Ray Jobs API; unfinished jobs in the store
    take their status from Ray at once (a restarted service re-attaches to them)."""
    service = JobService(JobStore(settings.store), ray_jobs, AllowedRoots(settings.roots))
    service.refresh()
    app = FastAPI(
        title="tokenmill",
        version=pipeline.__version__,
        summary="Pipeline and training jobs on a Ray cluster, their status and their reports.",
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.state.tokens = settings.tokens

    @app.exception_handler(ConfigError)
    def config_error(request: Request, err: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=422)

    @app.exception_handler(UnknownJob)
    def unknown_job(request: Request, err: UnknownJob) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=404)

    @app.exception_handler(RayUnavailable)
    def ray_unavailable(request: Request, err: RayUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=503)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    api = APIRouter(dependencies=[Depends(submitter)])

    @api.get("/", response_class=HTMLResponse, summary="the jobs as a web page")
    def page() -> str:
        return jobs_page(service.jobs())

    @api.post("/jobs", status_code=201, openapi_extra=CONFIG_BODY, summary="submit a config")
    async def submit(
        request: Request,
        response: Response,
        name: Submitter,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
        nproc: Annotated[int, Query(ge=1, description="training configs: ranks")] = 1,
    ) -> dict[str, Any]:
        """Validate a pipeline or training config (YAML or JSON) and run it as a Ray Job.
        The same `Idempotency-Key` from the same submitter gives the job submitted first
        (200) instead of a new one (201)."""
        data = parse_config(await request.body(), request.headers.get("content-type", ""))
        record, created = await run_in_threadpool(
            service.submit, data, name, idempotency_key, nproc
        )
        if not created:
            response.status_code = 200
        return record.as_dict()

    @api.get("/jobs", summary="every job, newest first")
    def jobs() -> list[dict[str, Any]]:
        return [record.as_dict() for record in service.jobs()]

    @api.get("/jobs/{job_id}", summary="a job, its status as Ray has it")
    def job(job_id: str) -> dict[str, Any]:
        return service.job(job_id).as_dict()

    @api.get("/jobs/{job_id}/logs", response_class=PlainTextResponse, summary="a job's output")
    def logs(job_id: str) -> str:
        return service.logs(job_id)

    @api.post("/jobs/{job_id}/stop", summary="stop a job")
    def stop(job_id: str) -> dict[str, Any]:
        record, stopping = service.stop(job_id)
        return {**record.as_dict(), "stopping": stopping}

    @api.get("/jobs/{job_id}/report", response_class=FileResponse, summary="a run's report.html")
    def report(job_id: str) -> FileResponse:
        return FileResponse(service.report_file(job_id))

    @api.get("/jobs/{job_id}/report/{name:path}", summary="a file of a run's report")
    def report_file(job_id: str, name: str) -> FileResponse:
        return FileResponse(service.report_file(job_id, name))

    @api.get("/metrics", summary="jobs by status, for Prometheus")
    def metrics() -> Response:
        service.refresh()
        return Response(metrics_text(service.store), media_type=CONTENT_TYPE_LATEST)

    app.include_router(api)
    return app


def parse_config(body: bytes, content_type: str) -> dict[str, Any]:
    """A request body as a config mapping: JSON by its content type, else YAML (safely)."""
    if "json" not in content_type:
        data = parse_yaml(body, "the body")
    else:
        try:
            data = json.loads(body)
        except ValueError as err:
            raise ConfigError(f"the body is not a JSON config: {err}") from None
        except RecursionError:
            raise ConfigError(f"the body: {TOO_DEEP}") from None
    if not isinstance(data, dict):
        raise ConfigError("the body is not a mapping (a config's top level is one)")
    return data
