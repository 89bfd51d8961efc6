"""The cluster commands: `submit` a config as a Ray Job, and `jobs list|status|logs|stop`."""

from __future__ import annotations

import argparse
import asyncio
import logging

from rich.table import Table

from pipeline.cli.arguments import add_output, add_overrides, positive_int
from pipeline.console import plain_console

ADDRESS_HELP = (
    "the cluster's dashboard, http://HEAD:8265 (default: RAY_API_SERVER_ADDRESS or RAY_ADDRESS)"
)


def register(commands) -> None:
    submit = commands.add_parser(
        "submit",
        help="run a config as a Ray Job on a cluster",
        description="Validate a pipeline or training config here, then submit it as a Ray Job "
        "with this checkout's code; prints the job's id.",
    )
    submit.add_argument("config", help="pipeline or training config YAML")
    add_output(submit, "output folder or URL, as the cluster sees it")
    add_overrides(submit, "stages.extract.engine=trafilatura")
    submit.add_argument("--address", help=ADDRESS_HELP)
    submit.add_argument(
        "--nproc", type=positive_int, default=1, help="training configs: ranks (Ray Train workers)"
    )
    submit.set_defaults(command=submit_command)

    jobs = commands.add_parser(
        "jobs", help="follow Ray Jobs", description="List, inspect, follow and stop Ray Jobs."
    )
    actions = jobs.add_subparsers(required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every job the cluster knows")
    listing.set_defaults(command=list_command)
    status = actions.add_parser("status", help="a job's status")
    logs = actions.add_parser("logs", help="a job's output")
    logs.add_argument(
        "--follow",
        action="store_true",
        help="keep printing until the job ends, then its status (exit 1 unless it succeeded)",
    )
    stop = actions.add_parser("stop", help="stop a running job")
    status.set_defaults(command=status_command)
    logs.set_defaults(command=logs_command)
    stop.set_defaults(command=stop_command)
    for action in (status, logs, stop):
        action.add_argument("job_id", help="the id `tokenmill submit` printed")
    for action in (listing, status, logs, stop):
        action.add_argument("--address", help=ADDRESS_HELP)


def submit_command(args: argparse.Namespace) -> int:
    from pipeline.submit import submit

    job_id = submit(args.config, args.overrides, args.output, args.address, args.nproc)
    address = f" --address {args.address}" if args.address else ""
    plain_console(stderr=True).print(
        f"submitted: follow it with `tokenmill jobs logs {job_id} --follow{address}`",
        soft_wrap=True,
    )
    print(job_id)
    return 0


def list_command(args: argparse.Namespace) -> int:
    from pipeline.submit import job_client

    rows = [
        (
            job.submission_id or job.job_id or "",
            str(job.status),
            (job.metadata or {}).get("tokenmill", ""),
            (job.metadata or {}).get("config", job.entrypoint),
        )
        for job in job_client(args.address).list_jobs()
    ]
    table = Table(title="Ray Jobs")
    # An id is what `jobs status|logs|stop` take: shorten the config, never the id.
    table.add_column("id", no_wrap=True, min_width=max((len(row[0]) for row in rows), default=2))
    for column in ("status", "kind", "config"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    plain_console().print(table)
    return 0


def status_command(args: argparse.Namespace) -> int:
    from pipeline.submit import job_client

    print(job_client(args.address).get_job_status(args.job_id))
    return 0


def logs_command(args: argparse.Namespace) -> int:
    from ray.job_submission import JobStatus

    from pipeline.submit import job_client

    client = job_client(args.address)
    if not args.follow:
        print(client.get_job_logs(args.job_id), end="")
        return 0

    async def follow() -> None:
        async for lines in client.tail_job_logs(args.job_id):
            print(lines, end="", flush=True)

    # Its "WebSocket closed … with close code 1000" at the end; the status line says more.
    logging.getLogger("ray.dashboard.modules.job.sdk").setLevel(logging.WARNING)
    try:
        asyncio.run(follow())
    except RuntimeError as err:  # Ray's SDK, where the log stream's socket closed under it
        if "WebSocket" not in str(err):
            raise
        raise ConnectionError(
            f"job {args.job_id}: the log stream broke off ({err}); `tokenmill jobs status "
            f"{args.job_id}` tells where the job stands once the cluster answers"
        ) from None
    status = client.get_job_status(args.job_id)
    plain_console(stderr=True).print(f"job {args.job_id}: {status}")
    return 0 if status == JobStatus.SUCCEEDED else 1


def stop_command(args: argparse.Namespace) -> int:
    from pipeline.submit import job_client

    stopped = job_client(args.address).stop_job(args.job_id)
    print("stopping" if stopped else "not running")
    return 0
