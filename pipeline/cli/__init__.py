"""`tokenmill`: the one entry point. Each command group registers its subcommands
(`curation`: run, report; `validate`; `jobs`: submit, jobs; `service`: serve; `training`:
train, export, generate; `models`: lm, classifier; `tools`: tokenizer, eval-extraction), and
every command has --help. A command imports the engines it uses when it runs, so `tokenmill
train --help` loads no extraction or PII engine, and the trainer's commands none of the
pipeline's stages."""

from __future__ import annotations

import argparse

from rich.text import Text

import pipeline
from pipeline.cli import ablation, curation, jobs, models, service, tools, training, validate
from pipeline.cli.arguments import log_console
from pipeline.cli.run_from import run_from_hint
from pipeline.console import labelled
from pipeline.schema import ConfigError
from pipeline.termination import sigterm_as_ctrl_c
from trainer.errors import TrainingError

GROUPS = (curation, ablation, validate, jobs, service, training, tools, models)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = log_console(args)
    try:
        with sigterm_as_ctrl_c():
            return args.command(args)
    except (ConfigError, OSError, TrainingError) as err:
        if args.debug:
            raise
        console.print(
            _one_line(err, getattr(args, "config", None)), highlight=False, soft_wrap=True
        )
        return 2 if isinstance(err, ConfigError) else 1
    except KeyboardInterrupt:  # finished shards, phases and checkpoints are kept
        console.print("interrupted: rerun the same command to resume", highlight=False)
        return 130


def _one_line(err: Exception, config: str | None) -> Text:
    """An error the user can act on, as one line naming the key or file (and, for a path of
    the command's config that is not found, the folder to run it from)."""
    message = str(err)
    if isinstance(err, ConfigError):
        label = "config error"
        if config and (hint := run_from_hint(message, config)):
            message += ("\n" if "\n" in message else "; ") + hint
    elif isinstance(err, TrainingError):  # bad token shards or checkpoints
        label = "training error"
    else:  # OSError: the machine's doing (a full disk), not a bug's
        label = "error"
    return labelled(label, message)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="tokenmill",
        description="Curate web crawls into training data on Ray, and train on it.",
    )
    root.add_argument("--version", action="version", version=f"tokenmill {pipeline.__version__}")
    root.add_argument(
        "--debug", action="store_true", help="show the traceback of an error, not one line"
    )
    commands = root.add_subparsers(required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return root
