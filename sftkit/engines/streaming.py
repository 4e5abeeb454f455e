"""Engine calls that keep each request as it finishes and stop between requests on a stop signal.

Each engine streams: it hands every finished request to ``on_done`` at once (vLLM from its step
loop, the OpenAI client as replies arrive, transformers per internal batch) and returns early,
abandoning what is unfinished, once ``stopping.requested()``. ``streamed`` saves each one to the
shard's journal (``sftkit.data.journal``), answers requests the journal already holds without
sending them, and raises ``Interrupted`` when a stop left some unfinished.
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from collections.abc import Callable

import orjson
from tqdm import tqdm

from sftkit import stopping
from sftkit.data import journal
from sftkit.engines.base import Completion, Conversation, Engine, Sampling
from sftkit.errors import Interrupted

OnDone = Callable[[int, Completion], None]
Stream = Callable[[list[Conversation], OnDone], None]


# how a request reaches the model, not what it answers: a requeued job may find its server elsewhere
TRANSPORT = ("base_url", "concurrency", "gpu_memory_utilization")


def request_keys(engine: Engine, sampling: Sampling, conversations: list[Conversation]) -> list[str]:
    """What determines each request's answer: the engine and its settings (but ``TRANSPORT``), the
    sampling (seed included) and the conversation; ``#k`` numbers repeats of one conversation."""
    settings = {k: v for k, v in engine.describe().items() if k not in TRANSPORT}
    base = orjson.dumps({"engine": settings, "sampling": sampling.to_json()}, option=orjson.OPT_SORT_KEYS, default=str)
    seen: Counter = Counter()
    keys = []
    for conversation in conversations:
        digest = hashlib.sha256(base + orjson.dumps(conversation, option=orjson.OPT_SORT_KEYS)).hexdigest()
        keys.append(f"{digest}#{seen[digest]}")
        seen[digest] += 1
    return keys


def streamed(engine: Engine, conversations: list[Conversation], sampling: Sampling, stream: Stream) -> list[Completion]:
    """The completions of ``conversations`` in order: from the journal where it has them, else from
    ``stream``, each saved to the journal as it finishes."""
    saved, keys = journal.active(), request_keys(engine, sampling, conversations)
    done: dict[int, Completion] = {}
    if saved is not None:
        done = {i: Completion.from_json(hit) for i, key in enumerate(keys) if (hit := saved.get(key)) is not None}
    todo = [i for i in range(len(conversations)) if i not in done]
    if todo and not stopping.requested():
        with tqdm(
            total=len(conversations),
            initial=len(done),
            desc=f"{engine.name} {engine.model}",
            unit="req",
            leave=False,
            file=sys.stderr,
            mininterval=1.0,
        ) as bar:

            def on_done(j: int, completion: Completion) -> None:
                i = todo[j]
                if saved is not None:
                    saved.append(keys[i], completion.to_json())
                done[i] = completion
                bar.update(1)

            stream([conversations[i] for i in todo], on_done)
    if len(done) < len(conversations):
        signal = stopping.requested()
        if signal is None:
            raise RuntimeError(f"{engine.name} engine returned {len(done)} of {len(conversations)} completions")
        finished = len(done) - (len(conversations) - len(todo))
        raise Interrupted(f"{finished} of {len(todo)} requests of the call finished and saved before {signal}")
    return [done[i] for i in range(len(conversations))]
