"""`validate`: check a pipeline or training config and print its plan, without running it."""

from __future__ import annotations

import argparse

import yaml

from pipeline.cli.arguments import add_output, add_overrides, positive_int
from pipeline.console import plain_console


def register(commands) -> None:
    validate = commands.add_parser(
        "validate",
        help="check a config and print its plan",
        description="Check a pipeline, training or ablation config as `run`, `train`, `ablate` and `submit` "
        "would before any work (keys, values, paths, inputs, models, tokenizers, the output "
        "folder), print the resolved config (paths absolute, defaults filled in) on stdout "
        "and the plan on stderr. Exits 2 on the first problem, naming its key or file.",
    )
    validate.add_argument("config", help="pipeline, training or ablation config YAML")
    add_output(validate, "output folder or URL")
    add_overrides(validate, "execution.workers=2")
    validate.add_argument(
        "--nproc",
        type=positive_int,
        default=1,
        help="training and ablation configs: ranks the batch must split over",
    )
    validate.set_defaults(command=validate_command)


def validate_command(args: argparse.Namespace) -> int:
    from pipeline.ablation.config import load_ablation
    from pipeline.config import validate_config
    from pipeline.config_kind import config_kind
    from pipeline.launch import load_train_config, resolved_text
    from pipeline.schema import read_config
    from pipeline.validate import describe_ablation, describe_job, describe_training

    data = read_config(args.config, args.overrides, args.output)
    kind = config_kind(data, args.config)
    if kind == "ablation":
        ablation = load_ablation(args.config, args.overrides, args.output, args.nproc)
        text = yaml.safe_dump(ablation.model_dump(mode="json"), sort_keys=False)
        plan = describe_ablation(ablation)
    elif kind == "pipeline":
        job = validate_config(data, origin=args.config)
        text, plan = yaml.safe_dump(job.to_dict(), sort_keys=False), describe_job(job)
    else:
        posttrain = None if kind == "train" else kind
        training = load_train_config(
            args.config, args.overrides, args.output, args.nproc, posttrain
        )
        text, plan = resolved_text(training), describe_training(training, args.nproc)
    print(text, end="")
    console = plain_console(stderr=True)
    for line in plan:
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"{args.config}: valid", highlight=False, soft_wrap=True)
    return 0
