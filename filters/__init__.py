"""Document-level decisions and annotations: AI opt-out and licence signals, language ID, quality rules, perplexity, classifiers, PII."""
