"""Running an ablation: each variant's pipeline run, its training runs (one per seed), and
each final checkpoint's loss on the held-out text."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import ray
import torch
import yaml
from rich.console import Console

from pipeline.ablation.comparison import VariantResult, compare
from pipeline.ablation.config import (
    COMPARISON,
    MARKER,
    AblationConfig,
    shared_tokenizer,
    variant_job,
    variant_training,
)
from pipeline.ablation.contamination import Contamination, HeldOutNgrams, contamination
from pipeline.ablation.held_out import HeldOutSource, read_held_out
from pipeline.cluster import cluster_address, joined
from pipeline.config import JobConfig
from pipeline.console import labelled
from pipeline.launch import launch, launch_at_once, schedule_changes
from pipeline.output import RUN_MARKER, RunOutput
from pipeline.plan import run_job
from pipeline.ray_train import rank_device, short_of_ranks, trainings_the_cluster_holds
from pipeline.schema import ConfigError
from pipeline.state import plan_digest
from trainer.checkpoint import complete_checkpoints, load_model, read_meta
from trainer.config import TrainConfig
from trainer.evaluate import summed_loss
from trainer.storage import Location


class VariantFailed(Exception):
    """A variant's pipeline run failed shards or stages; its output says which."""


def run_ablation(
    ablation: AblationConfig,
    address: str | None = None,
    nproc: int = 1,
    fresh: bool = False,
    console: Console | None = None,
) -> dict:
    """Run what is left of the ablation: every variant's pipeline run, then the trainings
    (several at once on a cluster), then the scores; write and return
    OUT/report/comparison.json's content."""
    console = console or Console(stderr=True)
    claim_folder(ablation)
    address = cluster_address(address)
    with joined(address) if address else contextlib.nullcontext():  # one connection for all
        made = made_data(ablation, address, fresh, console)
        trainings = {
            (name, seed): variant_training(ablation, name, seed, nproc)
            for name in ablation.variants
            for seed in ablation.seeds
        }
        train(ablation, trainings, nproc, address, fresh, console)
        nats = scores(trainings, made.held_out, address, console)
    results = {
        name: VariantResult(
            report,
            trainings[name, ablation.seeds[0]].train.total_tokens,
            {seed: nats[name, seed] for seed in ablation.seeds},
            made.contamination[name],
        )
        for name, report in made.reports.items()
    }
    comparison = compare(ablation, results, made.held_out)
    RunOutput(ablation.output).write_json(comparison, *COMPARISON)
    return comparison


@dataclass
class MadeData:
    """What the variants' pipeline runs made: their reports, the held-out text encoded with
    their one tokenizer, and what of it each variant's training documents hold."""

    reports: dict[str, dict] = field(default_factory=dict)
    held_out: list[HeldOutSource] = field(default_factory=list)
    contamination: dict[str, Contamination] = field(default_factory=dict)


def made_data(
    ablation: AblationConfig, address: str | None, fresh: bool, console: Console
) -> MadeData:
    """Each variant's pipeline run, done or resumed, in turn."""
    made = MadeData()
    tokenizer: str | None = None
    ngrams: HeldOutNgrams | None = None
    made_by: dict[str, str] = {}  # documents (a plan's digest) → the first variant to make them
    for number, name in enumerate(ablation.variants, start=1):
        console.print(f"variant {name} ({number} of {len(ablation.variants)}): pipeline run")
        job = variant_job(ablation, name, tokenizer)
        twin = made_by.setdefault(plan_digest(job), name)
        twin_run = ablation.run_folder(twin) if twin != name else None
        made.reports[name] = pipeline_run(job, name, twin_run, address, fresh, console)
        if tokenizer is None:  # the baseline's, which every other variant encodes with
            tokenizer = shared_tokenizer(job)
            made.held_out = read_held_out(ablation.eval, tokenizer, "eval", ablation.output)
            ngrams = HeldOutNgrams.of(made.held_out, ablation.contamination_ngram)
        made.contamination[name] = held_out_in_training(name, ngrams, job, console)
    return made


def claim_folder(ablation: AblationConfig) -> None:
    """Refuse a folder that holds files and no ablation; record this ablation's config."""
    folder = Path(ablation.output)
    if folder.is_file():
        raise ConfigError(f"output: {folder} is a file; give the ablation a folder of its own")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).is_file():
        raise ConfigError(
            f"output: {folder} holds files that are not an ablation's; give the ablation a "
            "folder of its own (e.g. runs/ablate-NAME)"
        )
    with RunOutput(ablation.output).atomic(MARKER) as marker:
        marker.write(yaml.safe_dump(ablation.model_dump(mode="json"), sort_keys=False).encode())


def pipeline_run(
    job: JobConfig,
    name: str,
    twin_run: str | None,
    address: str | None,
    fresh: bool,
    console: Console,
) -> dict:
    """The variant's pipeline run, done or resumed; its report. A new run whose documents an
    earlier variant's run (`twin_run`) made already starts as a copy of that run."""
    if twin_run is not None and (fresh or not RunOutput(job.output).exists(*RUN_MARKER)):
        console.print(
            f"variant {name}: the documents of {twin_run} (the same inputs and stages), copied",
            soft_wrap=True,
        )
        RunOutput(job.output).remove_run()
        RunOutput(twin_run).copy_run(job.output)
        fresh = False
    summary = run_job(job, address=address, fresh=fresh, console=console)
    if summary.problems:
        raise VariantFailed(
            f"variant {name}: its pipeline run in {job.output} did not finish: "
            f"{'; '.join(summary.problems)}; rerun the ablation to retry"
        )
    return summary.report


def held_out_in_training(
    name: str, ngrams: HeldOutNgrams, job: JobConfig, console: Console
) -> Contamination:
    console.print(f"variant {name}: checking its training documents for held-out text")
    seen = contamination(ngrams, RunOutput(job.output))
    console.print(
        f"variant {name}: {sum(seen.held_out_documents.values())} held-out documents share "
        f"{ngrams.n}-word sequences with {seen.training_documents} of its training documents",
        soft_wrap=True,
    )
    return seen


def train(
    ablation: AblationConfig,
    trainings: dict[tuple[str, int], TrainConfig],
    nproc: int,
    address: str | None,
    fresh: bool,
    console: Console,
) -> None:
    """Train each run (by variant and seed) to its final checkpoint, resume it, or find it
    finished: on a cluster several at once, on this machine one after another."""
    resume = "none" if fresh else "auto"
    for config in trainings.values():
        if changed := schedule_changes(config, resume):
            raise ConfigError(
                f"training: {'; '.join(changed)}: the training config changed since that run "
                "trained; `tokenmill ablate --fresh` starts every run over"
            )
    todo = {
        key: config
        for key, config in trainings.items()
        if fresh or not trained_already(config, console)
    }
    if not todo:
        return

    def started(key: tuple[str, int]) -> None:
        name, seed = key
        console.print(f"variant {name}: training seed {seed} in {todo[key].output}")

    if not address:
        for key, config in todo.items():
            started(key)
            launch(config, nproc, None, resume)
            if error := unfinished(config):
                raise error
        return
    at_once = ablation.max_concurrent_trainings or trainings_the_cluster_holds(nproc)
    console.print(f"trainings: {len(todo)} on the cluster, up to {at_once} at a time")
    if short := short_of_ranks(nproc):
        console.print(labelled("warning", short, "yellow"), soft_wrap=True)
    failures = []
    for (name, seed), error in launch_at_once(todo, nproc, resume, at_once, started):
        error = error or unfinished(todo[name, seed])
        if error is None:
            console.print(f"variant {name}: seed {seed} trained")
        else:
            console.print(f"variant {name}: training seed {seed} failed: {error}", soft_wrap=True)
            failures.append(error)
    if failures:  # the others have trained on: a rerun trains only these
        raise failures[0]


def trained_already(config: TrainConfig, console: Console) -> bool:
    if (final := final_checkpoint(config)) is not None:
        console.print(f"trained already: {final}", soft_wrap=True)
    return final is not None


def unfinished(config: TrainConfig) -> ConfigError | None:
    """What is wrong with a training that ended without its final checkpoint."""
    if final_checkpoint(config) is not None:
        return None
    return ConfigError(
        f"training: {config.output} holds no checkpoint of step {config.train.steps}"
    )


def final_checkpoint(config: TrainConfig) -> Location | None:
    found = complete_checkpoints(config.checkpoint_folder())
    if found and read_meta(found[-1]).get("step") == config.train.steps:
        return found[-1]
    return None


def scores(
    trainings: dict[tuple[str, int], TrainConfig],
    held_out: list[HeldOutSource],
    address: str | None,
    console: Console,
) -> dict[tuple[str, int], dict[int, dict[str, float]]]:
    """Each checkpoint every run kept, by run and step: its summed loss on each held-out
    source. On a cluster each checkpoint is scored in a Ray task of its own, on a GPU where
    the cluster has them; here, one after another."""
    checkpoints = {
        (key, read_meta(checkpoint)["step"]): (checkpoint, config.data.seq_len)
        for key, config in trainings.items()
        for checkpoint in complete_checkpoints(config.checkpoint_folder())
    }
    console.print(f"scoring {len(checkpoints)} checkpoints on the held-out text")
    if address:
        gpus = 1 if rank_device() == "GPU" else 0
        score = ray.remote(num_gpus=gpus, max_retries=0)(held_out_nats)
        text = ray.put(held_out)
        tasks = [
            score.remote(checkpoint, seq_len, text) for checkpoint, seq_len in checkpoints.values()
        ]
        nats = dict(zip(checkpoints, ray.get(tasks), strict=True))
    else:
        nats = {at: held_out_nats(*checkpoint, held_out) for at, checkpoint in checkpoints.items()}
    by_run: dict[tuple[str, int], dict[int, dict[str, float]]] = {key: {} for key in trainings}
    for (key, step), at_step in sorted(nats.items()):
        by_run[key][step] = at_step
    return by_run


def held_out_nats(
    checkpoint: Location, seq_len: int, held_out: list[HeldOutSource]
) -> dict[str, float]:
    """The checkpoint's summed loss on each held-out source (on the GPU where there is one)."""
    model = load_model(checkpoint).to("cuda" if torch.cuda.is_available() else "cpu")
    return {source.name: summed_loss(model, source.documents, seq_len)[0] for source in held_out}
