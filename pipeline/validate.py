"""`tokenmill validate`: every check a run makes before it works, and the plan it would run.

A job config is validated, its inputs listed, its output folder checked (a folder that is
not a tokenmill run, or holds a run of another config, is refused as `run` would refuse
it), and the plan described: inputs, shards, the segments of per-shard stages and the
global phases between them, the tokens it writes. A training config is validated for the
ranks it would run on, and its runs' token shards and tokenizer are checked as the trainer
would check them. An ablation config is validated with each variant's pipeline config and
its training config, and its variants' runs described. Nothing is written.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pipeline.ablation.config import (
    AblationConfig,
    origin_of,
    read_train_settings,
    shared_tokenizer,
    variant_job,
)
from pipeline.config import InputSpec, JobConfig
from pipeline.console import plural
from pipeline.inputs import input_files, resolve_inputs
from pipeline.output import RunOutput, check_output
from pipeline.plan import shard_plans
from pipeline.schema import ConfigError
from pipeline.state import check_plan, plan_digest
from trainer.config import PosttrainConfig, TrainConfig, TrainConfigError


def describe_ablation(ablation: AblationConfig) -> list[str]:
    """The plan of an ablation config; raises ConfigError where `ablate` would."""
    from pipeline.ablation.comparison import changes

    baseline = variant_job(ablation, ablation.baseline)
    tokenizer = shared_tokenizer(baseline)
    found = Path(tokenizer).is_file()
    lines = [f"variants: {len(ablation.variants)}, compared with the first ({ablation.baseline})"]
    made_by: dict[str, str] = {}  # documents (a plan's digest) → the first variant to make them
    for name in ablation.variants:
        job = (
            baseline
            if name == ablation.baseline
            else variant_job(ablation, name, tokenizer if found else None)
        )
        stages = " → ".join(stage.name for stage in job.stages) or "no stages"
        digest = plan_digest(job)
        twin = made_by.setdefault(digest, name)
        if check_plan(RunOutput(job.output), digest):
            state = "holds its run, which `ablate` resumes"
        elif twin != name:
            state = f"a new run, from {twin}'s documents: only its tokens are made"
        else:
            state = "a new run"
        lines.append(
            f"variant {name} ({changes(ablation, name)}): {stages}; {job.output} ({state})"
        )
    if baseline.tokenizer and baseline.tokenizer.path:
        lines.append(f"tokenizer: {tokenizer}, for every variant")
    else:
        lines.append(
            f"tokenizer: the one the baseline's run trains ({tokenizer}), for every variant"
        )
    training = read_train_settings(ablation)
    seeds = ", ".join(map(str, ablation.seeds))
    lines.append(
        f"training: {origin_of(ablation.training, 'training')}, {training.train.steps:,} steps of "
        f"{training.train.global_batch_tokens:,} tokens, seeds {seeds}: "
        f"{len(ablation.variants) * len(ablation.seeds)} runs"
    )
    per_source = Counter(
        file.source for file in input_files(ablation.eval, ablation.output, "eval")
    )
    held_out = ", ".join(
        f"{source}: {plural(count, 'file')}" for source, count in per_source.items()
    )
    lines.append(f"held out: {held_out}")
    lines.append(f"output: {ablation.output}")
    return lines


def describe_job(config: JobConfig) -> list[str]:
    """The plan of a job config, one line per item; raises ConfigError where `run` would."""
    files = resolve_inputs(config)
    output = RunOutput(config.output)
    check_output(output)
    resumes = check_plan(output, plan_digest(config))
    per_source = Counter(file.spec.source for file in files)
    inputs = ", ".join(f"{spec.source}: {_input_files(spec, per_source)}" for spec in config.inputs)
    lines = [f"inputs: {len(files)} shards ({inputs})"]
    for plan in shard_plans(config):
        if plan.after is not None:
            lines.append(f"phase: {plan.after.name} (global, over every shard)")
        if plan.stages:
            names = " → ".join(stage.name for stage in plan.stages)
            lines.append(f"segment {plan.segment + 1}: {names} (a task per shard)")
    lines.append(_tokens_line(config))
    state = "holds a run of this config, which `run` resumes" if resumes else "a new run"
    lines.append(f"output: {output.url} ({state})")
    return lines


def _tokens_line(config: JobConfig) -> str:
    if config.mixture is None:
        return "tokens: none (no `mixture:` section)"
    tokenizer = config.tokenizer_config()
    if tokenizer.path is not None:
        how = f"tokenizer {tokenizer.path}"
    else:
        how = f"a {tokenizer.train.vocab_size}-token BPE trained on the run's documents"
    mixture = config.mixture
    if rule := mixture.weights or mixture.epochs:
        shares = ", ".join(f"{source} {value:g}" for source, value in rule.items())
        rule = f"{'weights' if mixture.weights else 'epochs'} {shares}"
    return f"tokens: {rule or 'every source once'}; {how}"


def _input_files(spec: InputSpec, per_source: Counter[str]) -> str:
    """`3 warc files`, or with a limit `the first 100 documents of each of 3 warc files`."""
    count = per_source[spec.source]
    files = f"{count} {spec.format} file" + ("s" if count != 1 else "")
    if spec.limit is None:
        return files
    return f"the first {spec.limit:,} documents of {'each of ' if count > 1 else ''}{files}"


def describe_training(config: TrainConfig, nproc: int) -> list[str]:
    """The plan of a validated training config for `nproc` ranks; raises ConfigError when
    a run's token shards or tokenizer would stop the trainer."""
    if isinstance(config, PosttrainConfig):
        return describe_posttraining(config, nproc)
    from trainer.data import check_shards, train_shards
    from trainer.errors import TrainingError
    from trainer.mixture import MixtureError, training_mixture
    from trainer.model import parameter_count
    from trainer.start import StartError
    from trainer.storage import location
    from trainer.train import tokenizer_path

    try:
        lines = []
        for run in training_mixture(config.data, config.init_from):
            folder = location(run.path)
            check_shards(folder, checksums=False)
            lines.append(
                f"run: {run.path} ({len(train_shards(folder))} training shards, "
                f"weight {run.weight:g})"
            )
        vocab = _vocab_size(tokenizer_path(config))
    except (MixtureError, StartError) as err:  # they name their key
        raise ConfigError(str(err)) from None
    except (TrainingError, FileNotFoundError, ValueError) as err:
        raise ConfigError(_keyed(err, "data.runs")) from None
    if config.init_from:
        lines.append(
            f"start: {config.init_from} (weights only; warm-up {config.train.warmup_steps} steps)"
        )
    if config.branch_from:
        lines.append(f"branch of: {config.branch_from}")
    if config.init_from:
        args, shape = _start_args(config), "init_from's shape"
    else:
        try:
            args, shape = config.model.args(vocab), f"{config.model.preset} preset"
        except TrainConfigError as err:
            raise ConfigError(str(err)) from None
    params = parameter_count(args)["total"]
    lines += [
        f"model: {shape}, {params / 1e6:.1f}M parameters, vocabulary {vocab}",
        f"steps: {config.train.steps} × {config.train.global_batch_tokens:,} tokens = "
        f"{config.train.total_tokens:,} tokens, {config.accumulation_steps(nproc)} micro-batches of "
        f"{config.train.micro_batch_size} per rank per step on {nproc} rank"
        + ("s" if nproc != 1 else ""),
        f"output: {Path(config.output)}; checkpoints: {config.checkpoint_folder()}",
    ]
    return lines


def describe_posttraining(config: PosttrainConfig, nproc: int) -> list[str]:
    """The plan of a validated post-training config, with what its data comes to as the run
    reads it; raises ConfigError naming a data file or starting model that is not there, or
    data that leaves nothing to train on."""
    from trainer.storage import location

    data, train = config.data, config.train
    paths = {"data.train": data.train, "data.val": data.val, "data.tokenizer": data.tokenizer}
    paths["init_from"] = config.init_from
    missing = [
        f"{key}: {path}: not found"
        for key, path in paths.items()
        if path is not None and not location(path).exists()
    ]
    if missing:
        raise ConfigError("; ".join(missing))
    if config.init_from:
        _start_args(config)
    read = _posttraining_data(config)
    start = config.init_from or f"a fresh {config.model.preset} model"
    if config.lora:
        start += f", LoRA rank {config.lora.rank} on {', '.join(config.lora.targets)}"
    held_out = data.val or f"{data.val_examples} examples of data.train"
    length = f"{train.steps} steps" if train.steps else f"{train.epochs:g} epoch(s)"
    return [
        f"{config.kind}: {data.train} (held out: {held_out}), seq_len {data.seq_len}",
        f"data: {read.train_count:,} {read.unit} to train on, {read.val_count:,} held out",
        *(f"data: {count:,} {what}" for count, what in read.left_out if count),
        f"start: {start}",
        f"length: {length}, {config.accumulation_steps(nproc)} micro-batches of "
        f"{train.micro_batch_size} per rank per step on {nproc} rank" + ("s" if nproc != 1 else ""),
        f"output: {Path(config.output)}; checkpoints: {config.checkpoint_folder()}",
    ]


def _posttraining_data(config: PosttrainConfig):
    """The config's data read, tokenized and cut as its run will; ConfigError where the run
    would have nothing to train on, or a file cannot be read."""
    from trainer.errors import TrainingError
    from trainer.posttrain_data import load_tokenizer, nothing_to_train_on, read_data

    try:
        read = read_data(config, load_tokenizer(config))
    except (TrainingError, TrainConfigError) as err:
        raise ConfigError(str(err)) from None  # it names its key or file
    if why := nothing_to_train_on(config, read):
        raise ConfigError(f"data.train: {why}")
    return read


def _start_args(config: TrainConfig):
    """The shape of the model `init_from` names; ConfigError where its folder gives none, or
    one that does not fit the run (its tokenizer's tokens, `data.seq_len` positions)."""
    from trainer.errors import TrainingError
    from trainer.posttrain_data import tokenizer_location
    from trainer.start import start_args
    from trainer.train import tokenizer_path

    posttraining = isinstance(config, PosttrainConfig)
    try:
        tokenizer = tokenizer_location(config) if posttraining else tokenizer_path(config)
        return start_args(config, tokenizer)
    except (TrainingError, FileNotFoundError) as err:
        raise ConfigError(_keyed(err, "init_from")) from None


def _keyed(err: Exception, key: str) -> str:
    """`err`'s message, led by `key` unless it names a key of its own."""
    message = str(err)
    return message if message.startswith(("init_from", "data.")) else f"{key}: {message}"


def _vocab_size(path) -> int:
    from tokenizers import Tokenizer

    return Tokenizer.from_str(path.read_text(encoding="utf-8")).get_vocab_size()
