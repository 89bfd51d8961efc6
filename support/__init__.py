"""What tests, benchmarks and the data scripts share: hand-built WARCs (`warcs`), the shared
corpora's pages through the extract stage (`extracted_pages`), labelled PII cases
(`pii_cases`) and token runs written to the shard contract (`token_runs`)."""
