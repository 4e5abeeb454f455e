"""The score stage: several LLM judges grade each row against a rubric, and rows are kept by votes.

A rubric (rubric.py) names the dimensions, each with a description, a scale and a weight, and the
judge prompt over the row's fields. Each judge answers once at temperature 0 in a strict format, one
``NAME: score`` line per dimension or one JSON object, read after any ``<think>`` block (parse.py). An
answer with a dimension missing, a score out of its scale or no scores at all is undecided for that
judge, never a zero, and is kept with its reason: a judge that rambles must not sink a good row.
A judge's total is its weighted mean normalised to [0, 1]; a row is kept when at least ``min_votes``
judges gave a total of at least ``min_score`` (aggregate.py), and a row no judge decided never is.

It runs as passes (passes.py, on sftkit.runner.passes), one model at a time: an optional length pass
(rows whose rendered conversation is over a token limit go no further), one pass per judge, then a
join that aggregates. The summary (summary.py) reads every shard's rows: a table per judge and
dimension, a histogram of totals per judge, and the agreement between judges (Spearman per pair).
"""
