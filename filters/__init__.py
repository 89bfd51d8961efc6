"""Document-level decisions and annotations: language ID, quality rules, perplexity, classifiers, PII."""
