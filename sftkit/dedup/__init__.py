"""Exact and near-duplicate detection, and benchmark decontamination."""
