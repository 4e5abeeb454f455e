"""Any OpenAI-compatible chat endpoint: `vllm serve`, SGLang, `transformers serve`, hosted APIs.

Requests run concurrently (asyncio, ``concurrency`` at once); each reply is saved as it arrives,
and a stop signal cancels the requests still out (``sftkit.engines.streaming``). They retry with
jittered exponential backoff on 429, 5xx, timeouts and connection errors, and fail at once with the
server's message on other 4xx answers, except a prompt over the model's context: that one request
comes back refused, so one long prompt never takes its chunk down. Servers differ: some return fewer
choices than ``n`` (the rest are requested one at a time), some no logprobs, some keep the stop
string; each case is detected and reported in the completion's warnings, never assumed away. Greedy
``n > 1`` is decoded once and repeated (``vllm serve`` refuses it).
"""

from __future__ import annotations

import asyncio
import random
import re
import sys
from functools import cached_property
from typing import Any

import httpx

from sftkit import stopping
from sftkit.engines import rendezvous
from sftkit.engines.base import (
    ChatOptions,
    Completion,
    Conversation,
    Sample,
    Sampling,
    prompt_lengths,
    request_seed,
)
from sftkit.engines.hub import model_files, one_line
from sftkit.engines.streaming import OnDone, streamed
from sftkit.errors import InputError
from sftkit.secrets import Secret, redact

STOP_POLL = 0.5  # seconds between looks at the stop request while replies are awaited
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
# how vLLM, SGLang and OpenAI word "this prompt does not fit the context"
_OVER_CONTEXT = re.compile(
    r"context length|context_length_exceeded|maximum model length|max_model_len|"
    r"prompt is too long|too many tokens|context size|exceed_context_size",
    re.IGNORECASE,
)


class Refused(Exception):
    """The server will not take this one prompt (it is over the model's context)."""


class ServerGone(Exception):
    """A server job's model server is gone (its rendezvous file no longer names it, or its /health fails once
    a request's retries are spent): that job is being requeued, so this run saves what finished and is
    requeued too. A request that fails against a server that is still there is that request's error."""


class OpenAIEngine:
    name = "openai"

    def __init__(
        self,
        model: str,
        chat: ChatOptions,
        base_url: str,
        api_key: Secret | None = None,
        concurrency: int = 16,
        timeout: float = 3600.0,
        retries: int = 6,
        server_file: str | None = None,
        served_model: str | None = None,
    ) -> None:
        self.model, self.chat = model, chat
        self.served_model = served_model or model  # the name requests carry: a server's --served-model-name
        self.base_url = base_url.rstrip("/")
        self.api_key, self.concurrency, self.timeout, self.retries = api_key, concurrency, timeout, retries
        self.server_file = server_file  # the server job's rendezvous file, when it was found through one

    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Completion]:
        completions = streamed(
            self,
            conversations,
            sampling,
            lambda todo, on_done: asyncio.run(self._generate_all(todo, sampling, on_done)),
        )
        if len(completions) > 1 and all(c.refused for c in completions):  # not one long prompt: a setting
            raise InputError(
                f"every prompt of this chunk was refused: {completions[0].refused}. Is --max-tokens "
                "over the server's context?"
            )
        return completions

    async def _generate_all(self, conversations: list[Conversation], sampling: Sampling, on_done: OnDone) -> None:
        """Hand each reply over as it arrives; on a stop, cancel the requests still out and return."""
        headers = {"Authorization": f"Bearer {self.api_key.reveal()}"} if self.api_key else {}
        limit = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=self.timeout) as client:

            async def one(i: int, conv: Conversation) -> None:
                async with limit:
                    completion = await self._complete(client, conv, sampling)
                on_done(i, completion)

            pending = {asyncio.ensure_future(one(i, c)) for i, c in enumerate(conversations)}
            try:
                while pending and not stopping.requested():
                    finished, pending = await asyncio.wait(
                        pending, timeout=STOP_POLL, return_when=asyncio.FIRST_EXCEPTION
                    )
                    for task in finished:
                        try:
                            task.result()  # a request that failed for good fails the call
                        except ServerGone as exc:  # the stage saves what finished and exits to be requeued
                            stopping.request(str(exc))
            finally:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    def _body(self, conv: Conversation, sampling: Sampling, n: int, seed: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.served_model,
            "messages": self.chat.messages(conv),
            "n": n,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if seed is not None:
            body["seed"] = seed
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if sampling.logprobs:
            body["logprobs"] = True
        if self.chat.template_kwargs():
            body["chat_template_kwargs"] = self.chat.template_kwargs()
        return body

    async def _complete(self, client: httpx.AsyncClient, conv: Conversation, sampling: Sampling) -> Completion:
        # greedy decoding gives n identical samples: decode once, repeat
        repeat = sampling.n if sampling.temperature == 0 else 1
        wanted = sampling.n // repeat
        try:
            # seeded per prompt as the local engines seed it (--seed-mode request), so a server draws what they draw
            seed = request_seed(sampling.seed, conv)
            reply = await self._post(client, self._body(conv, sampling, wanted, seed))
        except Refused as exc:
            return Completion([], refused=str(exc))
        choices = list(reply.get("choices") or [])
        warnings = []
        if len(choices) < wanted:
            warnings.append(f"server returned {len(choices)} of n={wanted} choices; requested the rest one at a time")
            while len(choices) < wanted:
                more_seed = None if seed is None else seed + len(choices)
                more = (await self._post(client, self._body(conv, sampling, 1, more_seed))).get("choices") or []
                if not more:
                    raise InputError(f"{self.base_url}: the server returned no choices")
                choices.extend(more[: wanted - len(choices)])
        samples = [self._sample(c, sampling, warnings) for c in choices for _ in range(repeat)]
        if len(choices) == 1 and repeat == 1 and (reply.get("usage") or {}).get("completion_tokens") is not None:
            samples[0].tokens = reply["usage"]["completion_tokens"]
        return Completion(samples, sorted(set(warnings)))

    @staticmethod
    def _sample(choice: dict[str, Any], sampling: Sampling, warnings: list[str]) -> Sample:
        message = choice.get("message") or {}
        logprob = None
        if sampling.logprobs:
            content = (choice.get("logprobs") or {}).get("content")
            if content:
                logprob = sum(t["logprob"] for t in content)
            else:
                warnings.append("server returned no logprobs")
        text = message.get("content") or ""
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if reasoning:  # a server-side reasoning parser split it off: put the block back, parse as one text;
            # reasoning with no content means the model never left it
            text = f"<think>\n{reasoning.strip()}" + (f"\n</think>\n\n{text}" if text.strip() else "")
        return Sample.from_text(text, sampling.stop, logprob=logprob, finish_reason=choice.get("finish_reason"))

    async def _post(self, client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(1, self.retries + 1):
            try:
                response = await client.post("/chat/completions", json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempt == self.retries:
                    raise await self._failed(f"{type(exc).__name__} after {attempt} attempts") from None
                reason = type(exc).__name__
            else:
                if response.status_code < 400:
                    return response.json()
                if response.status_code == 400 and _OVER_CONTEXT.search(response.text):
                    raise Refused(f"{self.base_url} refused the prompt: {self._answer(response, 300)}")
                if response.status_code in RETRY_STATUS and attempt == self.retries:
                    raise await self._failed(
                        f"HTTP {response.status_code} after {attempt} attempts: {self._answer(response, 300)}"
                    )
                if response.status_code not in RETRY_STATUS:
                    raise InputError(f"{self.base_url}: HTTP {response.status_code}: {self._answer(response, 500)}")
                reason = f"HTTP {response.status_code}"
            if self.server_file and not self._still_served():
                raise ServerGone(self._gone_message(f"{reason}, and {self.server_file} no longer names it"))
            delay = min(60.0, 2 ** (attempt - 1)) * (0.5 + random.random())
            print(f"{self.base_url}: {reason}, retry {attempt}/{self.retries} in {delay:.1f}s", file=sys.stderr)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _answer(self, response: httpx.Response, limit: int) -> str:
        """The server's error text for our message, without our key: a server that refuses a key may quote it
        ("Incorrect API key provided: ..."), and this text goes into errors, rejects files and rows."""
        return redact(response.text, self.api_key)[:limit]

    async def _failed(self, why: str) -> Exception:
        """The error for a request whose retries are spent: the requeue path only for a server job's server
        that is gone; against a server still there (one prompt's 500, one request over the timeout) the
        same error as with --base-url, or every requeued run would fail on it again, forever."""
        if self.server_file and not (
            self._still_served() and await asyncio.to_thread(rendezvous.healthy, self.base_url)
        ):
            return ServerGone(self._gone_message(f"{why}; its /health or {self.server_file} says it is gone"))
        return InputError(
            f"{self.base_url}: {why}"
            + (
                f" (each request may take {self.timeout:.0f}s: raise it with the engine's --request-timeout)"
                if "Timeout" in why
                else ""
            )
        )

    def _gone_message(self, why: str) -> str:
        return f"the model server {self.base_url} stopped answering ({why})"

    def _still_served(self) -> bool:
        """Whether the rendezvous file still names this server (its job removes it when the server stops)."""
        try:
            info = rendezvous.read(self.server_file)
        except InputError:
            return False
        return info is not None and info.get("url", "").rstrip("/") == self.base_url

    @cached_property
    def tokenizer(self) -> Any:
        """The model's tokenizer, where this machine has it (a local folder or the Hub cache)."""
        from transformers import AutoTokenizer

        needs = " (its tokenizer, to count prompt tokens)"
        try:
            with model_files(self.model, "tokenizer_config.json", needs, " --include '*.json' '*.model'"):
                return AutoTokenizer.from_pretrained(self.model)
        except ValueError as exc:
            raise InputError(
                f"{self.model}: counting prompt tokens needs the model's tokenizer, but: {one_line(exc)}"
            ) from None

    def prompt_lengths(self, conversations: list[Conversation]) -> list[int]:
        return prompt_lengths(self.tokenizer, self.chat, conversations)

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "model": self.model,
            "base_url": self.base_url,
            "concurrency": self.concurrency,
            **self.chat.__dict__,
        }
