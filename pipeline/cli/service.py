"""`tokenmill serve`: the HTTP job service (pipeline/service/) on uvicorn."""

from __future__ import annotations

import argparse

from pipeline.cli.arguments import positive_int, whole_number_from
from pipeline.cli.jobs import ADDRESS_HELP


def register(commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="the HTTP job service",
        description="Accept pipeline and training configs over HTTP, run them as Ray Jobs, "
        "remember them in a job store and serve their reports. API docs at /docs.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument(
        "--port", type=whole_number_from(0, 65535), default=8000, help="port to listen on"
    )
    serve.add_argument(
        "--store",
        default="sqlite:///tokenmill-jobs.db",
        help="SQLAlchemy URL of the job store (default: a SQLite file in this folder)",
    )
    serve.add_argument("--address", help=ADDRESS_HELP)
    serve.add_argument(
        "--allow-root",
        dest="roots",
        action="append",
        required=True,
        metavar="FOLDER_OR_URL",
        help="jobs may read and write only under these (repeatable)",
    )
    serve.add_argument(
        "--tokens-file",
        help="API tokens, one name=token a line (default: TOKENMILL_SERVICE_TOKENS, "
        "name=token,name=token)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=positive_int,
        default=1 << 20,
        help="largest config accepted (413 above)",
    )
    serve.set_defaults(command=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    import uvicorn

    from pipeline.service.app import ServiceSettings, create_app
    from pipeline.service.auth import load_tokens
    from pipeline.submit import job_client

    settings = ServiceSettings(
        store=args.store,
        roots=args.roots,
        tokens=load_tokens(args.tokens_file),
        max_body_bytes=args.max_body_bytes,
    )
    uvicorn.run(create_app(settings, job_client(args.address)), host=args.host, port=args.port)
    return 0
