"""The `dedup` stage's config: exact and URL matching, MinHash LSH, the incremental index."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator, model_validator

from dedup.banding import candidate_probability, default_banding
from pipeline.output import RunOutput
from pipeline.schema import AbsolutePath, StrictModel


class MinHashParams(StrictModel):
    threshold: float = Field(default=0.8, gt=0, lt=1)
    """Jaccard similarity of word n-gram sets above which two documents are one."""
    num_perm: int = Field(default=256, ge=2, le=4096)
    """Hash functions per signature: more finds near duplicates more reliably, slower."""
    ngram: int = Field(default=5, ge=1)
    """Words per shingle."""
    bands: int | None = Field(default=None, gt=0)
    """LSH bands (with `rows`); bands × rows hashes of the signature are used."""
    rows: int | None = Field(default=None, gt=0)
    """LSH banding; default: chosen from threshold and num_perm (see dedup.banding)."""
    seed: int = Field(default=1, ge=0)
    """Seeds the hash functions; runs compared against each other's index must share it."""
    per_language: bool = True
    """Shingle Chinese, Japanese, Thai, Lao, Khmer and Burmese documents (by the `language`
    stage's label) as n-grams of their words, as the quality stage splits them and as
    FineWeb-2 shingles them, not of their space-separated runs, which are whole clauses
    there. `false`: space-separated runs for every language, as runs before this option
    (and their indexes) did."""

    @model_validator(mode="after")
    def _banding_fits(self) -> MinHashParams:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands × rows = {self.bands * self.rows} exceeds num_perm")
        return self

    def banding(self) -> tuple[int, int]:
        if self.bands is not None:
            return self.bands, self.rows
        return default_banding(self.threshold, self.num_perm)

    def describe(self) -> dict[str, float | int]:
        bands, rows = self.banding()
        return {
            "bands": bands,
            "rows": rows,
            "p_candidate_at_0.9": round(candidate_probability(0.9, bands, rows), 4),
            "p_candidate_at_0.5": round(candidate_probability(0.5, bands, rows), 6),
        }


ID_SCHEME = "input-url+position"
"""How the index's document ids were made (pipeline.documents.document_id). Indexes from
before it knew documents by the ids their inputs gave, which repeat."""


class DedupParams(StrictModel):
    exact: bool = True
    """Documents whose normalised text is identical are one."""
    url: bool = False
    """Documents with the same URL are one."""
    minhash: MinHashParams | None = None
    """Near duplicates by MinHash LSH; null to match exact copies only."""
    partitions: int = Field(default=8, gt=0, le=1024)
    """Bucket partitions grouped in parallel (Ray tasks) in the global step; at most 1024, as
    each signature task holds a file open per partition (100,000 ran out of them)."""
    write_index: bool = False
    """Keep this run's signature index in OUT/dedup/index/ for later runs."""
    against: list[AbsolutePath] = Field(default_factory=list)
    """Indexes of earlier runs (their OUT/dedup/index): documents matching them are removed.
    Each must have been built with this run's minhash settings (checked with the config)."""

    @field_validator("against")
    @classmethod
    def _indexes_fit_this_run(cls, against: list[str], info: ValidationInfo) -> list[str]:
        """Checked with the config: the dedup step comes after every shard's earlier stages."""
        if "minhash" in info.data:  # else its own error says what is wrong
            settings = index_settings(info.data["minhash"])
            for location in against:
                if problem := unfit_index(location, settings):
                    raise ValueError(f"{location} {problem}")
        return against

    @model_validator(mode="after")
    def _something_to_match(self) -> DedupParams:
        if not (self.exact or self.url or self.minhash):
            raise ValueError("nothing to deduplicate on: set exact, url or minhash")
        return self

    def index_settings(self) -> dict:
        return index_settings(self.minhash)


def index_settings(minhash: MinHashParams | None) -> dict:
    """What must agree between a run and an index it is checked against: the band keys, and
    the id scheme the index's documents are known by."""
    if minhash is None:
        return {"ids": ID_SCHEME, "minhash": None}
    shape = minhash.model_dump(include={"num_perm", "seed", "ngram"})
    shape["banding"] = list(minhash.banding())
    if minhash.per_language:  # absent from indexes built before the option
        shape["words"] = "per_language"
    return {"ids": ID_SCHEME, "minhash": shape}


def unfit_index(location: str, settings: dict) -> str | None:
    """Why the earlier run's index at `location` cannot be matched against by a run of
    `settings`; None when it can."""
    index = RunOutput(location)
    if not index.exists("index.json"):
        if index.exists("dedup", "index", "index.json"):
            return f"is a run's output folder; did you mean {index.url_of('dedup', 'index')}?"
        return "holds no dedup index (index.json missing)"
    theirs = index.read_json("index.json")
    if theirs.get("ids") != ID_SCHEME:
        return (
            "was built by an older tokenmill whose document ids could repeat; rebuild it with "
            "this version (write_index: true)"
        )
    if theirs != settings:
        return (
            "was built with other minhash settings "
            f"({_differences(theirs['minhash'], settings['minhash'])})"
        )
    return None


def _differences(theirs: dict | None, ours: dict | None) -> str:
    """What an index's minhash settings and this run's differ in, for the error."""
    if theirs is None or ours is None:
        return "minhash on in one, off in the other"
    if "words" in ours and "words" not in theirs:
        return "its shingles are space-separated runs: set minhash.per_language: false to use it"
    keys = sorted(key for key in {*theirs, *ours} if theirs.get(key) != ours.get(key))
    return ", ".join(f"{key}: {theirs.get(key)} there, {ours.get(key)} here" for key in keys)
