"""`tokenmill ablate`: which curation choice makes the better model, measured.

An ablation config names a pipeline config, the variants of it to compare (values `set` as
`--set` sets them, stages left out `without`), a training config, and held-out text. Each
variant's pipeline run makes its token shards with one tokenizer, the first variant's (the
baseline, whose run trains it unless the pipeline config gives a `tokenizer.path`); the same
model is trained on each, for the same steps, once per seed; and each final checkpoint is
scored on the held-out text in bits per byte, beside the count of held-out documents each
variant's training shards quote (shared 13-word sequences). As in FineWeb's ablations, one
thing changes, the model and its token budget stay fixed, and several seeds show the noise a
difference must clear; the score is held-out text (any the user gives) rather than benchmark
tasks, which a machine without a hub cannot fetch.

OUT/<variant>/run/ is the variant's pipeline run, OUT/<variant>/seed-<S>/ its training run;
both resume as `tokenmill run` and `tokenmill train` do, so a rerun does only what is left. A
variant whose documents an earlier variant's run made already (the same inputs and stages: a
mixture's change) starts its run as a copy of that one, whose files are hard links
(`RunOutput.copy_run`), so only its tokens are made. The pipeline runs go first, one after
another; then the trainings, on a cluster several at once (`max_concurrent_trainings`, by
default as many as its GPUs hold), each fitted from a Ray task of its own
(`pipeline.ray_train`); then the scores, on a cluster each checkpoint in a Ray task (on a
GPU where it has them).
OUT/report/comparison.json holds the result (the job service serves it as
/jobs/ID/report/comparison.json).
"""
