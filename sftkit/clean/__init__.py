"""Row cleaning: Gopher quality and repetition rules that count Chinese by character, language ID, PII
masking and toxicity screening. One module per job; ``cleaner`` applies them to a batch."""
