"""Publish a results folder as a Hub dataset: Parquet per config, a dataset card, one commit."""
