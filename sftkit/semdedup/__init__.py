"""The semdedup stage: embedding vectors per shard, and a k-means-partitioned cosine merge over every shard."""
