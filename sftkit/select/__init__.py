"""Seed selection: by answer length, by precomputed pass-rate labels, and (later) by difficulty."""
