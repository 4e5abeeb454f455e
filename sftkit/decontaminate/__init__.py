"""The decontaminate stage: rows that overlap benchmark problems (word n-grams, optionally MinHash), flagged or
dropped (index.py)."""
