"""The dedup stage: exact and MinHash near-duplicate detection, clustered across shards by its merge."""
