"""The tiny models' on-disk cache (helpers.cached_tiny_model): built once, found again, and a broken entry built
again, never trusted. The builder is replaced by one that writes two files, so nothing trains here."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import MANIFEST, cached_tiny_model

from sftkit.models import tiny

pytestmark = pytest.mark.unit


@pytest.fixture
def builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Where each build went; the cache under tmp_path."""
    made: list[Path] = []

    def build(path: Path, spec: tiny.TinySpec) -> Path:
        made.append(Path(path))
        (Path(path) / "config.json").write_text(f'{{"hidden": {spec.hidden}}}')
        (Path(path) / "model.safetensors").write_bytes(b"w" * 100)
        return Path(path)

    monkeypatch.setenv("SFTKIT_TEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(tiny, "build_tiny_model", build)
    return made


def test_a_model_is_built_once_then_found_by_its_spec(builds: list[Path], tmp_path: Path) -> None:
    first = cached_tiny_model()
    assert cached_tiny_model() == first and len(builds) == 1
    assert first.parent == tmp_path / "cache" / "tiny-models" and (first / MANIFEST).exists()
    assert (first / "config.json").read_text() == '{"hidden": 128}'
    other = cached_tiny_model(tiny.TinySpec(hidden=64, heads=2))
    assert other != first and len(builds) == 2
    assert [p.name for p in first.parent.iterdir() if p.name.startswith(".")] == []  # no build folder left


@pytest.mark.parametrize("damage", ["a file changed", "a file missing", "no manifest", "a manifest cut short"])
def test_a_broken_entry_is_built_again(builds: list[Path], damage: str) -> None:
    entry = cached_tiny_model()
    if damage == "a file changed":
        (entry / "model.safetensors").write_bytes(b"w" * 50)
    elif damage == "a file missing":
        (entry / "config.json").unlink()
    elif damage == "no manifest":
        (entry / MANIFEST).unlink()
    else:
        (entry / MANIFEST).write_text((entry / MANIFEST).read_text()[:20])
    assert cached_tiny_model() == entry and len(builds) == 2
    assert (entry / "model.safetensors").read_bytes() == b"w" * 100 and (entry / "config.json").exists()
    assert cached_tiny_model() == entry and len(builds) == 2


def test_a_build_that_fails_leaves_nothing(builds: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(path: Path, spec: tiny.TinySpec) -> Path:
        (Path(path) / "config.json").write_text("{}")
        raise RuntimeError("killed mid-build")

    monkeypatch.setattr(tiny, "build_tiny_model", crash)
    with pytest.raises(RuntimeError, match="killed mid-build"):
        cached_tiny_model()
    assert list((tmp_path / "cache" / "tiny-models").iterdir()) == []
