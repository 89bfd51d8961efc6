"""The global phases after the documents are final, in order: `tokenizer`, `encode`,
`mixture`, `shuffle`, each a `Phase` (pipeline/phase.py) that the run state records and
resumes; `tokens.build_tokens` runs them. They compose two libraries that do not import
each other: `tokenizer/` (BPE, encoding, the token shard format) and `mixing/` (weights,
budgets, the plan, seeded keys)."""
