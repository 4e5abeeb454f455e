"""Which API key goes to which endpoint: the real key lookup, the real OpenAI engine, a scripted server."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from helpers import run_command

from sftkit import secrets
from sftkit.cli.engines import add_engine_args, make_engine
from sftkit.engines.base import ChatOptions, Sampling
from sftkit.errors import InputError

pytestmark = pytest.mark.stages

REAL_KEY = "sk-real-openai-account-key"
ENDPOINT_KEY = "key-for-this-endpoint-only"


@pytest.fixture
def keys(tmp_path: Path, monkeypatch) -> Path:
    """An empty keys.json of our own; no key from the environment of whoever runs the tests."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "keys.json"
    path.write_text("{}")
    path.chmod(0o600)
    monkeypatch.setenv("SFTKIT_KEYS", str(path))
    return path


def _write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    from servers import scripted

    entries = [{"match": ["ping"], "choices": [{"content": "pong"}]}]
    with scripted(entries, tmp_path_factory.mktemp("keys")) as (url, log):
        yield url, log


def _sent(url: str, log: Path, *flags: str) -> str | None:
    """Run one request through the engine the openai flags describe; the Authorization the server saw."""
    parser = argparse.ArgumentParser()
    add_engine_args(parser)
    args = parser.parse_args(["--model", "scripted", "--engine", "openai", "--base-url", url, *flags])
    before = len(log.read_text().splitlines()) if log.exists() else 0
    completion = make_engine(args, ChatOptions()).generate([[{"role": "user", "content": "ping"}]], Sampling())
    assert completion[0].samples[0].text == "pong"
    return json.loads(log.read_text().splitlines()[before])["authorization"]


def test_the_endpoints_own_key_wins_over_the_global_key(keys: Path, server, monkeypatch) -> None:
    url, log = server
    monkeypatch.setenv("OPENAI_API_KEY", REAL_KEY)
    _write(keys, {"openai_api_key": "sk-other", "endpoints": {url + "/": ENDPOINT_KEY}})
    assert _sent(url, log) == f"Bearer {ENDPOINT_KEY}"


def test_the_global_key_goes_only_where_it_belongs(keys: Path, server, monkeypatch, capsys) -> None:
    url, log = server
    monkeypatch.setenv("OPENAI_API_KEY", REAL_KEY)
    assert _sent(url, log) is None
    assert f"not sent to {url}: it belongs to https://api.openai.com/v1" in capsys.readouterr().err
    assert secrets.api_key("https://api.openai.com/v1/").reveal() == REAL_KEY
    monkeypatch.setenv("OPENAI_BASE_URL", url)  # the user names this endpoint for it
    assert _sent(url, log) == f"Bearer {REAL_KEY}"
    monkeypatch.delenv("OPENAI_API_KEY")
    _write(keys, {"openai_api_key": "sk-from-keys-json"})  # the same rule for keys.json's global key
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert _sent(url, log) is None
    _write(keys, {"openai_api_key": "sk-from-keys-json", "openai_base_url": url})
    assert _sent(url, log) == "Bearer sk-from-keys-json"


@pytest.mark.parametrize("url", ["http://10.1.2.3:8000/v1", "http://gpu-node-7:8000/v1"])
def test_no_key_goes_over_plain_http_to_another_host_without_the_flag(keys: Path, url: str) -> None:
    _write(keys, {"endpoints": {url: ENDPOINT_KEY}})
    with pytest.raises(
        InputError,
        match=f"refusing to send the key from .*keys.json:endpoints to {url} over plain http.*--allow-http-key",
    ):
        secrets.api_key(url)
    assert secrets.api_key(url, allow_http=True).reveal() == ENDPOINT_KEY
    https = url.replace("http:", "https:")
    _write(keys, {"endpoints": {https: ENDPOINT_KEY}})
    assert secrets.api_key(https).reveal() == ENDPOINT_KEY
    for local in ("http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1"):
        _write(keys, {"endpoints": {local: ENDPOINT_KEY}})
        assert secrets.api_key(local).reveal() == ENDPOINT_KEY
    _write(keys, {})
    assert secrets.api_key(url) is None  # no key, nothing to protect


def test_the_cli_refuses_in_one_line_naming_the_flag(keys: Path, tmp_path: Path) -> None:
    _write(keys, {"endpoints": {"http://10.1.2.3:8000/v1": ENDPOINT_KEY}})
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "problem": "What is 1 + 1?", "expected_answer": "2"}\n')
    proc = run_command(
        "hpc/generate.py",
        "--engine",
        "openai",
        "--base-url",
        "http://10.1.2.3:8000/v1",
        "--model",
        "scripted",
        "--input",
        str(data),
        "--output",
        str(tmp_path / "o.jsonl"),
        env={"SFTKIT_KEYS": str(keys)},
        check=False,
    )
    assert proc.returncode == 2 and ENDPOINT_KEY not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: refusing to send the key from ")
    assert "--allow-http-key" in proc.stderr and "Traceback" not in proc.stderr


def test_a_server_quoting_the_key_in_its_error_never_gets_it_printed(keys: Path, tmp_path: Path) -> None:
    """Servers that refuse a key may quote it back; the error the user sees (and a refused prompt's reason,
    which goes into rejects files) says *** instead."""
    from servers import scripted

    entries = [
        {"match": ["too long"], "status": 400, "error": f"context length exceeded for key {ENDPOINT_KEY}"},
        {"match": ["ping"], "status": 401, "error": f"Incorrect API key provided: {ENDPOINT_KEY}"},
    ]
    with scripted(entries, tmp_path) as (url, _):
        _write(keys, {"endpoints": {url: ENDPOINT_KEY}})
        data = tmp_path / "in.jsonl"
        data.write_text('{"id": "a", "problem": "ping", "expected_answer": "2"}\n')
        args = ["--engine", "openai", "--base-url", url, "--model", "scripted", "--input", str(data)]
        proc = run_command("generate", *args, "--output", str(tmp_path / "o.jsonl"), check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "HTTP 401: " in proc.stderr and "Incorrect API key provided: ***" in proc.stderr
        assert ENDPOINT_KEY not in proc.stderr + proc.stdout
        parser = argparse.ArgumentParser()
        add_engine_args(parser)
        engine = make_engine(
            parser.parse_args(["--model", "scripted", "--engine", "openai", "--base-url", url]), ChatOptions()
        )
        (refused,) = engine.generate([[{"role": "user", "content": "too long"}]], Sampling())
        assert "key ***" in refused.refused and ENDPOINT_KEY not in refused.refused
