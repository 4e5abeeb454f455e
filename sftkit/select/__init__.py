"""Seed selection: by answer length, by precomputed pass-rate labels, and by difficulty score."""
