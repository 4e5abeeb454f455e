"""The filter stage: solve-and-judge filtering: k solutions per problem, math-verify first, LLM judges second.

Correctness is never a substring match. A candidate's final answer is checked with math-verify
against the gold ``expected_answer`` (not against a reference solution). A candidate cut at the token
limit, or whose ``<think>`` never closed, has no final answer: it is incorrect and recorded as
truncated, and no judge sees it. When math-verify cannot parse the candidate (or with
``judge="always"``), each judge reads the question, the gold answer and the candidate at temperature
0 and must end with ``VERDICT: yes`` or ``VERDICT: no``; anything else is recorded as unparseable,
truncated or refused, never as yes or no. With several judges a candidate is correct once
``min_votes`` say yes, incorrect once that many can no longer be reached even if every unusable vote
had been a yes, and undecided otherwise. The pass rate is correct / decided candidates; a row with
no decided candidate has ``pass_rate: null`` and is never kept. math-verify uses ``signal.alarm``,
so this runs in the main thread.

It runs as passes (passes.py, on sftkit.runner.passes), one model at a time: the solver answers every row of the shard,
is released, then each judge reads the candidates that need it, then a join counts the votes.
"""
