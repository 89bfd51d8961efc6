"""Run state in OUT/_state/: what finished, so a rerun skips it.

`plan.json` holds the digest of everything that decides the documents (inputs, stages,
keep_removed). A per-file shard is finished when `shards/<shard>.json` exists for the same
input path: it is written only after the shard's Parquet files were renamed into place.
In a plan with global stages, the segments before the last record theirs in
`segment-<n>/<shard>.json` the same way. Global phases (dedup, mixture, shuffle) record
`phases/<name>.json` when complete, so a phase is either done or redone from its inputs.
A rerun refuses to build on a shard that is no longer what the run wrote (`damaged_shards`),
and on an input that changed since it was read (`check_inputs`).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from pipeline.checksums import content_checksum, file_changed
from pipeline.config import JobConfig
from pipeline.documents import SCHEMA_VERSION
from pipeline.inputs import InputShard
from pipeline.output import OWN_FOLDERS, RunOutput
from pipeline.phase import Phase, PhaseContext, PhaseSummary
from pipeline.schema import ConfigError, files_in
from pipeline.shard import ShardResult


def damaged_shards(output: RunOutput) -> list[str]:
    """The shards finished work stands on (documents and removed of finished shards, the
    token shards once they are complete) that are missing or not what the run wrote: what a
    rerun and `tokenmill report` check."""
    written = [
        path
        for folder in output.list("_state")
        if folder == "shards" or folder.startswith("segment-")
        for name in output.list("_state", folder, suffix=".json")
        for path in output.read_json("_state", folder, name).get("files", {})
        if path.split("/")[0] not in OWN_FOLDERS
    ]
    if output.exists("_state", "phases", "shuffle.json"):
        written += ["/".join(entry) for entry in output.owned("tokens")]
    return output.damaged(written)


def plan_digest(config: JobConfig) -> str:
    """What decides the documents: inputs, stages, keep_removed, the schema, and the content
    of every file a stage reads (a model replaced at the same path is another plan)."""
    data = config.to_dict()
    decisive = {key: data[key] for key in ("inputs", "stages", "keep_removed")}
    decisive["schema_version"] = SCHEMA_VERSION
    decisive["files"] = {
        path: content_checksum(path) for spec in config.stages for path in files_in(spec.params)
    }
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()


def check_plan(output: RunOutput, digest: str) -> bool:
    """Whether `output` holds a run of the plan `digest`: True to resume it, False when the
    folder holds no run yet; a run of another plan is a ConfigError."""
    if not output.exists("_state", "plan.json"):
        return False
    recorded = output.read_json("_state", "plan.json")["digest"]
    if recorded != digest:
        raise ConfigError(
            f"output: {output.url} holds a run of a different config "
            f"(plan {recorded[:12]}, this one {digest[:12]}); "
            "choose another --output or rerun with --fresh"
        )
    return True


class RunState:
    def __init__(self, output: RunOutput, digest: str) -> None:
        self.output = output
        self.digest = digest
        """The plan's digest (`plan_digest`), computed once: it reads every model file."""

    @classmethod
    def open(cls, output: RunOutput, config: JobConfig, fresh: bool = False) -> RunState:
        """The state of `output`; refuses a folder that holds a different plan's run.
        `fresh` first removes what an earlier run wrote there (and only that)."""
        digest = plan_digest(config)
        if fresh:
            output.remove_run()
        if not check_plan(output, digest):
            output.write_json({"digest": digest}, "_state", "plan.json")
        if damaged := damaged_shards(output):
            more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
            raise ConfigError(
                f"output: {damaged[0]}{more} is missing or not what this run wrote; "
                "rerun with --fresh to redo the run"
            )
        for folder in ("documents", "removed"):
            output.remove_temporaries(folder)
        for folder in output.list("_work"):
            output.remove_temporaries("_work", folder)
        return cls(output, digest)

    def finished(self, shard: InputShard, folder: str = "shards") -> ShardResult | None:
        """`shard`'s result in `folder` (`shards`, or `segment-<n>` before the last segment),
        if it read the same files."""
        if not self.output.exists("_state", folder, f"{shard.name}.json"):
            return None
        result = ShardResult.from_json(
            self.output.read_json("_state", folder, f"{shard.name}.json")
        )
        return result if list(result.inputs) == shard.paths else None

    def check_inputs(self, shards: list[InputShard], first_folder: str) -> None:
        """Refuse to resume over an input that changed since this run read it: the documents
        it became would no longer be the input's (`first_folder`: where the segment that
        reads the inputs records its shards)."""
        for shard in shards:
            read = self.finished(shard, first_folder)
            if read is None:
                continue
            for path, info in read.inputs.items():
                if file_changed(info, path):
                    raise ConfigError(
                        f"inputs: {path} changed since this run read it into shard "
                        f"{shard.name} (size, date or checksum differ); rerun with --fresh to "
                        "start over from the inputs as they are now"
                    )

    def record(self, result: ShardResult, folder: str = "shards") -> None:
        self.output.write_json(result.to_json(), "_state", folder, f"{result.shard}.json")

    def forget(self, shards: list[str]) -> None:
        """Unrecord these shards in every segment, and every global phase, so that the next
        run redoes them and the phases that depend on them."""
        for folder in self.output.list("_state"):
            if folder == "shards" or folder.startswith("segment-"):
                for shard in shards:
                    self.output.remove("_state", folder, f"{shard}.json")
        if shards:
            self.output.remove("_state", "phases")

    def run_phase(self, phase: Phase, context: PhaseContext) -> PhaseSummary:
        """`phase`'s summary: recorded, if it finished with the same digest; else run now and
        recorded, with the seconds it took."""
        digest = phase.digest()
        recorded = self.phase(phase.name)
        if recorded and recorded.get("digest") == digest and "summary" in recorded:
            context.console.print(f"resuming: phase {phase.name} already finished")
            return phase.Summary.from_json(recorded["summary"])
        clock = time.perf_counter()
        summary = phase.run(context)
        elapsed = round(time.perf_counter() - clock, 3)
        record = {"digest": digest, "elapsed_s": elapsed, "summary": summary.to_json()}
        self.record_phase(phase.name, record)
        return summary

    def phase(self, name: str) -> dict[str, Any] | None:
        if not self.output.exists("_state", "phases", f"{name}.json"):
            return None
        return self.output.read_json("_state", "phases", f"{name}.json")

    def phase_seconds(self) -> dict[str, float]:
        """Each finished phase's wall time (the global stages' and the tokens')."""
        names = self.output.list("_state", "phases", suffix=".json")
        return {
            name.removesuffix(".json"): self.phase(name.removesuffix(".json"))["elapsed_s"]
            for name in names
        }

    def record_phase(self, name: str, summary: dict[str, Any]) -> None:
        self.output.write_json(summary, "_state", "phases", f"{name}.json")
