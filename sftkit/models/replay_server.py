"""A scripted OpenAI-compatible chat server on 127.0.0.1, for replaying realistic completions.

    python -m sftkit.models.replay_server SCRIPT.json PORT LOG.jsonl [--rendezvous FILE --model NAME]

The tests use it, and so does the demo's generation step: a tiny model trained for seconds writes no
problem worth reading, and a newcomer should see what a stage makes of what a real model writes.

Tiny random models show that an engine runs; they never write what a 32B reasoning model writes.
This server answers each request with completions written out in the script, with their
``finish_reason``, so the real stages (engine client, parsing, math-verify) meet realistic text.

SCRIPT is a JSON list of entries: ``{"match": [substrings], "choices": [{"content", "finish_reason",
"reasoning_content"?}], "status"?, "error"?}``. The first entry whose substrings all occur in the
request's messages answers (an entry with ``model`` answers only requests for that model: two judges
on one server); ``n`` choices are taken from its list in turn. An entry with
``status`` answers that HTTP status and ``error`` text instead; one with ``delay`` waits that many
seconds before it answers (a slow model). A request that matches nothing gets HTTP 404, so a test
never passes on text nobody wrote. Every request is logged as one JSON line, with the Authorization
header it carried (so tests see which key was sent where).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sftkit.engines.rendezvous import publish


def matching(script: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any] | None:
    """The first entry whose substrings all occur in the request's messages (and whose ``model``, if it
    names one, is the request's)."""
    text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    return next(
        (
            e
            for e in script
            if all(s in text for s in e["match"]) and e.get("model", body.get("model")) == body.get("model")
        ),
        None,
    )


def answer(script: list[dict[str, Any]], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON reply for one chat request."""
    text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    entry = matching(script, body)
    if entry is None:
        return 404, {"error": {"message": f"no scripted completion for: {text[:200]!r}"}}
    if "status" in entry:
        return entry["status"], {"error": {"message": entry["error"], "type": "BadRequestError"}}
    n = int(body.get("n") or 1)
    picked = [entry["choices"][k % len(entry["choices"])] for k in range(n)]
    choices = [
        {
            "index": k,
            "finish_reason": c.get("finish_reason", "stop"),
            "message": {
                "role": "assistant",
                "content": c.get("content"),
                **({"reasoning_content": c["reasoning_content"]} if "reasoning_content" in c else {}),
            },
        }
        for k, c in enumerate(picked)
    ]
    tokens = sum(len(str(c.get("content") or "").split()) for c in picked)
    return 200, {
        "id": "scripted",
        "object": "chat.completion",
        "model": body.get("model"),
        "choices": choices,
        "usage": {"prompt_tokens": len(text.split()), "completion_tokens": tokens},
    }


def serve(
    script: list[dict[str, Any]], port: int, log_path: str, rendezvous: str | None = None, model: str = "replay"
) -> None:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            time.sleep((matching(script, body) or {}).get("delay", 0))
            status, payload = answer(script, body)
            with lock, open(log_path, "a") as log:
                log.write(
                    json.dumps({"request": body, "status": status, "authorization": self.headers.get("Authorization")})
                    + "\n"
                )
            self._reply(status, payload)

        def log_message(self, *args: Any) -> None:  # the JSON log says it all
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if rendezvous:  # as slurm/run_server.sh publishes a server: stages find it with --server-file
        publish(rendezvous, {"url": f"http://127.0.0.1:{server.server_port}/v1", "model": model, "job_id": "replay"})
    try:
        server.serve_forever()
    finally:
        if rendezvous:
            Path(rendezvous).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("script", help="JSON list of scripted entries")
    p.add_argument("port", type=int, help="0: any free port (with --rendezvous)")
    p.add_argument("log", help="JSONL log of every request")
    p.add_argument("--rendezvous", help="write a server rendezvous file here once listening (--server-file)")
    p.add_argument("--model", default="replay", help="the model name the rendezvous file gives")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a terminate removes the rendezvous file
    with open(args.script) as fh:
        serve(json.load(fh), args.port, args.log, args.rendezvous, args.model)


if __name__ == "__main__":
    main()
