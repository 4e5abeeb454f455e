"""The uploader: real conversion, real card, real load_dataset; only HfApi's network calls are faked."""

import ast
import json
import os
from pathlib import Path
from typing import ClassVar

import datasets
import httpx2
import pytest
from conftest import run_script
from huggingface_hub import DatasetCard, HfApi
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.hf_api import RepoFile

from sftkit.commands import upload_data
from sftkit.upload import push as push_module
from sftkit.upload.convert import sha256_file

UPLOAD = "upload/upload_data.py"
TOKEN = "hf_FAKEtokenThatMustNeverLeak123"


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    messages = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "答えは 4 です 🎉"}]
    _jsonl(root / "cot" / "a.jsonl", [{"id": f"a{i}", "text": "é" * (i + 1), "score": i, "messages": messages}
                                      for i in range(30)])
    _jsonl(root / "cot" / "b.jsonl", [{"id": f"b{i}", "text": "x" * 500, "score": i + 0.5, "extra": "new"}
                                      for i in range(20)])
    (root / "cot" / "empty.jsonl").write_text("")
    (root / "cot" / "c.json").write_text(json.dumps([{"id": "c0", "text": "array file", "score": 7}]))
    _jsonl(root / "gen" / "g.jsonl", [{"problem": "p", "answer": "a", "n": 1}])
    (root / "cot" / "a.jsonl.stats.json").write_text(json.dumps({"stage": "label_filter", "records": 30}))
    (root / "cot" / "a.jsonl.rejects.jsonl").write_text('{"not": "data"}\n')
    return root


def _load(root: Path, config: str) -> datasets.Dataset:
    """Load the folder as a user loads the Hub repo (never from a stale cache of an earlier run)."""
    cache = root.parent / f"hf-cache-{len(list(root.parent.glob('hf-cache-*')))}"
    return datasets.load_dataset(str(root), config, split="train", cache_dir=str(cache))


def _run(root: Path, *extra: str, check: bool = True):
    return run_script(UPLOAD, "--dataset_path", str(root), "--repo_id", "someone/my-set", "--dry-run", *extra,
                      check=check)


def test_convert_unify_card_and_load_dataset(folder: Path) -> None:
    proc = _run(folder, "--license", "cc-by-4.0", "--tags", "sft", "math")
    assert "would upload" in proc.stdout and "empty" in proc.stdout
    cot = _load(folder, "cot")
    assert len(cot) == 51 and not (folder / "data" / "cot" / "empty.parquet").exists()
    assert cot.features["score"].dtype == "float64"  # int in a.jsonl, float in b.jsonl: widened
    rows = {r["id"]: r for r in cot}
    assert rows["a3"]["score"] == 3.0 and rows["a3"]["extra"] is None and rows["b0"]["messages"] is None
    assert rows["a1"]["messages"][1]["content"] == "答えは 4 です 🎉" and rows["a4"]["text"] == "ééééé"
    assert rows["c0"]["text"] == "array file"
    assert len(_load(folder, "gen")) == 1
    card = DatasetCard.load(folder / "README.md")
    meta = card.data.to_dict()
    assert [c["config_name"] for c in meta["configs"]] == ["cot", "gen"]
    assert meta["license"] == "cc-by-4.0" and meta["size_categories"] == ["n<1K"] and meta["tags"] == ["sft", "math"]
    assert "length_histogram.png" in card.text and (folder / "length_histogram.png").exists()
    assert "label_filter" in card.text  # provenance from a.jsonl.stats.json
    assert "a.jsonl.rejects.jsonl" not in proc.stdout  # side files are neither data nor uploaded
    snippets = [b.split("```", 1)[0] for b in card.text.split("```python\n")[1:]]
    assert len(snippets) == 2
    for code in snippets:
        ast.parse(code)
        local = code.replace("'someone/my-set'", repr(str(folder)))
        namespace: dict = {}
        exec(compile(local, "snippet", "exec"), namespace)  # the card's snippet, run for real
        assert len(namespace["ds"]) in (51, 1)


def test_rerun_is_idempotent_and_only_changed_sources_convert(folder: Path) -> None:
    _run(folder)
    parquet = {p: p.stat().st_mtime_ns for p in (folder / "data").rglob("*.parquet")}
    readme = (folder / "README.md").read_text()
    again = _run(folder)
    assert "converted" not in again.stdout and again.stdout.count("unchanged") == 4
    assert {p: p.stat().st_mtime_ns for p in (folder / "data").rglob("*.parquet")} == parquet
    assert (folder / "README.md").read_text() == readme
    messages = [{"role": "user", "content": "hi"}]  # same columns and types: only a.jsonl is redone
    _jsonl(folder / "cot" / "a.jsonl", [{"id": "a0", "text": "changed", "score": 1, "messages": messages}])
    (folder / "cot" / "c.json").unlink()
    changed = _run(folder)
    assert "cot/a.jsonl" in changed.stdout and changed.stdout.count("converted") == 1
    assert not (folder / "data" / "cot" / "c.parquet").exists()
    cot = _load(folder, "cot")
    assert len(cot) == 21 and "changed" in cot["text"]


def test_bad_jsonl_line_is_a_clear_error(folder: Path) -> None:
    with open(folder / "gen" / "g.jsonl", "a") as fh:
        fh.write('{"problem": "q", "answer": \n')
    proc = _run(folder, check=False)
    assert proc.returncode == 2 and f"{folder / 'gen' / 'g.jsonl'}:2: malformed JSON" in proc.stderr


def test_true_type_conflict_names_file_and_column(folder: Path) -> None:
    _jsonl(folder / "gen" / "h.jsonl", [{"problem": {"nested": 1}, "answer": "a", "n": 2}])
    proc = _run(folder, check=False)
    assert proc.returncode == 2
    assert "column 'problem' is string in gen/g.jsonl but struct<nested: int64> in gen/h.jsonl" in proc.stderr


def test_a_config_of_empty_files_is_reported_and_left_off_the_card(folder: Path) -> None:
    (folder / "nothing").mkdir()
    (folder / "nothing" / "empty.jsonl").write_text("")
    proc = _run(folder)
    assert "nothing/empty.jsonl" in proc.stdout and "empty" in proc.stdout
    configs = [c["config_name"] for c in DatasetCard.load(folder / "README.md").data.to_dict()["configs"]]
    assert configs == ["cot", "gen"]


def test_original_readme_supplies_the_body(folder: Path) -> None:
    (folder / "original_README.log").write_text("# Hand written\n\nOur own words.\n")
    _run(folder)
    card = DatasetCard.load(folder / "README.md")
    assert card.text.strip() == "# Hand written\n\nOur own words."
    assert [c["config_name"] for c in card.data.to_dict()["configs"]] == ["cot", "gen"]


class FakeHub(HfApi):
    """HfApi with its network calls replaced; everything else is the real class."""

    remote: ClassVar[dict] = {}
    calls: ClassVar[list] = []
    failures: ClassVar[dict] = {}  # method name -> HTTP statuses to answer before succeeding

    def _fail(self, method: str) -> None:
        if FakeHub.failures.get(method):
            status = FakeHub.failures[method].pop(0)
            request = httpx2.Request("POST", "https://huggingface.co/api")
            raise HfHubHTTPError(f"{status} error", response=httpx2.Response(status, request=request))

    def create_repo(self, repo_id, **kwargs):
        FakeHub.calls.append(("create_repo", repo_id, kwargs))
        self._fail("create_repo")

    def list_repo_tree(self, repo_id, **kwargs):
        FakeHub.calls.append(("list_repo_tree", repo_id, kwargs))
        return list(FakeHub.remote.values())

    def hf_hub_download(self, repo_id, filename, **kwargs):
        FakeHub.calls.append(("hf_hub_download", repo_id, filename))
        return FakeHub.readme_path

    def create_commit(self, repo_id, operations, **kwargs):
        FakeHub.calls.append(("create_commit", repo_id, [(type(o).__name__, o.path_in_repo) for o in operations]))
        self._fail("create_commit")
        return type("Info", (), {"commit_url": f"https://hub/{repo_id}/commit/1"})()


def _remote_entry(root: Path, rel: str) -> RepoFile:
    data = (root / rel).read_bytes()
    """An entry shaped like the Hub's tree API answer for a file we hold locally."""
    if rel.endswith(".parquet"):
        lfs = {"size": len(data), "oid": sha256_file(root / rel), "pointerSize": 130}
        return RepoFile(type="file", path=rel, size=len(data), oid="x", lfs=lfs)
    return RepoFile(type="file", path=rel, size=len(data), oid=push_module._git_blob_sha1(data))


def test_push_sends_only_changed_files_merges_front_matter_and_never_leaks_the_token(
        folder: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(upload_data, "HfApi", FakeHub)
    monkeypatch.setattr(push_module.time, "sleep", lambda s: None)
    upload_data.main(["--dataset_path", str(folder), "--repo_id", "someone/my-set", "--dry-run"])
    hub_readme = tmp_path / "hub_README.md"
    hub_readme.write_text("---\nlicense: mit\ncustom_key: keep me\nconfigs:\n- config_name: old\n  data_files: x\n"
                          "---\n# old card\n")
    FakeHub.readme_path = str(hub_readme)
    FakeHub.remote = {rel: _remote_entry(folder, rel) for rel in ("data/cot/a.parquet", "cot/b.jsonl")}
    FakeHub.remote["README.md"] = RepoFile(type="file", path="README.md", size=1, oid="old")
    FakeHub.remote["data/old/gone.parquet"] = RepoFile(type="file", path="data/old/gone.parquet", size=1, oid="y")
    FakeHub.calls, FakeHub.failures = [], {"create_repo": [429], "create_commit": [503]}
    upload_data.main(["--dataset_path", str(folder), "--repo_id", "someone/my-set"])
    create_repo = next(c for c in FakeHub.calls if c[0] == "create_repo")
    assert create_repo[2]["private"] is True and create_repo[2]["exist_ok"] is True
    commits = [c for c in FakeHub.calls if c[0] == "create_commit"]
    assert [c[0] for c in FakeHub.calls].count("create_repo") == 2  # a 429, retried
    assert len(commits) == 2  # a 503, retried
    ops = dict((path, kind) for kind, path in commits[-1][2])
    assert "data/cot/a.parquet" not in ops and "cot/b.jsonl" not in ops  # unchanged on the Hub
    assert ops["data/cot/b.parquet"] == "CommitOperationAdd" and ops["README.md"] == "CommitOperationAdd"
    assert ops["data/old/gone.parquet"] == "CommitOperationDelete"
    assert not any(p.endswith((".rejects.jsonl", ".sftkit-upload.json", "original_readme.log")) for p in ops)
    meta = DatasetCard.load(folder / "README.md").data.to_dict()
    assert meta["license"] == "mit" and meta["custom_key"] == "keep me"
    assert [c["config_name"] for c in meta["configs"]] == ["cot", "gen"]
    out = capsys.readouterr()
    leaked = [str(p) for p in folder.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert not leaked and TOKEN not in out.out + out.err and TOKEN not in repr(FakeHub.calls)


def test_client_errors_are_not_retried(folder: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(upload_data, "HfApi", FakeHub)
    FakeHub.calls, FakeHub.failures, FakeHub.remote = [], {"create_repo": [403]}, {}
    with pytest.raises(upload_data.InputError, match="creating the Hub repo failed: HTTP 403"):
        upload_data.main(["--dataset_path", str(folder), "--repo_id", "someone/my-set"])
    assert [c[0] for c in FakeHub.calls] == ["create_repo"]
    assert os.environ["HF_TOKEN"] == TOKEN
