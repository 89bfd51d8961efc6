"""Exact and MinHash-LSH deduplication: hashing, signatures, banding, clustering, survivor choice."""
