"""sftkit: build curated SFT datasets from large Hugging Face datasets on SLURM clusters."""

__version__ = "0.1.0"
