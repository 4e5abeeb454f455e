"""The generate stage: a prompt over each seed row, a model's completions, parsed into new rows (seed.py)."""
