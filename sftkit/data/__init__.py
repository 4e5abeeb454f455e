"""Data plumbing shared by every stage: input, shards, checkpointed output, merge."""
