"""A stop signal mid-chunk: what finished is kept, the exit code asks for a requeue, the rerun sends only the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import DELAY, GENERATE, REPO, SEEDS, generate_args, log_lines, run_command, slow_script, write_seeds
from servers import scripted

from sftkit.data.journal import JOURNAL_NAME, Journal

pytestmark = pytest.mark.stages


def test_usr1_mid_chunk_keeps_finished_requests_and_the_rerun_sends_only_the_rest(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    out, reference = tmp_path / "gen.jsonl", tmp_path / "reference.jsonl"
    journal = Path(f"{out}.parts") / "part-00000-of-00001.ckpt" / JOURNAL_NAME
    with scripted(slow_script(), tmp_path) as (url, log):
        worker = subprocess.Popen(
            [sys.executable, str(REPO / GENERATE), *generate_args(seeds, url, out)],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        while not (journal.exists() and journal.read_bytes().count(b"\n") >= 3) and worker.poll() is None:
            time.sleep(0.02)
        worker.send_signal(signal.SIGUSR1)
        _, err = worker.communicate(timeout=30)
        assert worker.returncode == 75, err
        kept = len(Journal(journal))  # fewer than all: it did not wait for the chunk to end
        assert 3 <= kept < SEEDS and f"{kept} finished requests beyond it after SIGUSR1" in err
        assert not out.exists() and not list(journal.parent.glob("chunk-*.json"))  # the chunk never finished
        time.sleep(DELAY + 0.5)  # the server logs a request cancelled mid-delay once its delay is over
        first_run = len(log_lines(log))

        resumed = run_command(GENERATE, *generate_args(seeds, url, out))
        second_run = log_lines(log)[first_run:]
        assert f"{kept} finished requests of the chunk at row 0 are saved" in resumed.stderr
        assert len(second_run) == SEEDS - kept  # journaled requests are never sent again
        assert not journal.parent.exists()  # the shard completed: checkpoints and journal are gone
        run_command(GENERATE, *generate_args(seeds, url, reference))
    assert out.read_bytes() == reference.read_bytes()
    assert len(out.read_text().splitlines()) == 2 * SEEDS
