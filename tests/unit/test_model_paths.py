"""A model named by a path that is not there says so, and never sends the user to the Hub for a folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sftkit.engines.hub import require_model
from sftkit.engines.vllm_offline import cpu_kv_cache
from sftkit.errors import InputError

pytestmark = pytest.mark.unit


def test_a_relative_path_under_an_existing_folder_is_a_missing_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "other-model").mkdir(parents=True)
    with pytest.raises(InputError) as err:
        require_model("models/tiny-model")
    assert str(err.value) == (
        "model folder 'models/tiny-model' does not exist; models/ holds: other-model (a Hub model is named ORG/NAME)"
    )


def test_a_hub_shaped_name_that_is_nowhere_names_both_places(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(InputError) as err:
        require_model("someorg/tiny-model")
    text = str(err.value)
    assert f"no folder here ({tmp_path / 'someorg' / 'tiny-model'}) nor in the Hub cache" in text
    assert "If it is a Hub model" in text and "hf download someorg/tiny-model" in text


def test_vllm_on_cpu_gets_a_kv_cache_that_fits_and_says_so_once(monkeypatch, capsys) -> None:
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    cpu_kv_cache()
    size = int(os.environ["VLLM_CPU_KVCACHE_SPACE"])
    assert 1 <= size <= 8
    cpu_kv_cache()  # set now: not changed, not said again
    assert capsys.readouterr().err.count("VLLM_CPU_KVCACHE_SPACE") == 1


def test_a_kv_cache_the_user_set_is_kept(monkeypatch, capsys) -> None:
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "3")
    cpu_kv_cache()
    assert os.environ["VLLM_CPU_KVCACHE_SPACE"] == "3" and capsys.readouterr().err == ""
