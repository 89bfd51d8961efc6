"""Source weights, token budgets, up/down-sampling and the mixture manifest."""
