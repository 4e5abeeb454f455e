"""The uploader: real conversion, real card, real load_dataset; only HfApi's network calls are faked."""

import ast
import json
import os
from pathlib import Path
from typing import ClassVar

import datasets
import httpx2
import pytest
import yaml
from helpers import run_command
from huggingface_hub import DatasetCard, DatasetCardData, HfApi
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.hf_api import RepoFile

from sftkit.commands import upload as upload_data
from sftkit.data.hashing import file_sha256
from sftkit.upload import push as push_module

pytestmark = pytest.mark.stages

UPLOAD = "upload/upload_data.py"
TOKEN = "hf_FAKEtokenThatMustNeverLeak123"


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    messages = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "答えは 4 です 🎉"}]
    _jsonl(
        root / "cot" / "a.jsonl",
        [{"id": f"a{i}", "text": "é" * (i + 1), "score": i, "messages": messages} for i in range(30)],
    )
    _jsonl(
        root / "cot" / "b.jsonl",
        [{"id": f"b{i}", "text": "x" * 500, "score": i + 0.5, "extra": "new"} for i in range(20)],
    )
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
    license_ = () if "--license" in extra else ("--license", "cc-by-4.0")
    return run_command(
        UPLOAD, "--dataset_path", str(root), "--repo_id", "someone/my-set", "--dry-run", *license_, *extra, check=check
    )


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
    for config in ("cot", "gen"):  # a length histogram per config
        assert f"plots/{config}.lengths.png" in card.text and (folder / "plots" / f"{config}.lengths.png").exists()
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
    licenses: ClassVar[dict] = {}  # Hub dataset id -> the license its card states

    def _fail(self, method: str) -> None:
        if FakeHub.failures.get(method):
            status = FakeHub.failures[method].pop(0)
            request = httpx2.Request("POST", "https://huggingface.co/api")
            raise HfHubHTTPError(f"{status} error", response=httpx2.Response(status, request=request))

    def repo_exists(self, repo_id, **kwargs):
        FakeHub.calls.append(("repo_exists", repo_id, kwargs))
        return bool(FakeHub.remote)

    def create_repo(self, repo_id, **kwargs):
        FakeHub.calls.append(("create_repo", repo_id, kwargs))
        self._fail("create_repo")

    def list_repo_tree(self, repo_id, **kwargs):
        FakeHub.calls.append(("list_repo_tree", repo_id, kwargs))
        return list(FakeHub.remote.values())

    def hf_hub_download(self, repo_id, filename, **kwargs):
        FakeHub.calls.append(("hf_hub_download", repo_id, filename))
        return FakeHub.readme_path

    def dataset_info(self, repo_id, **kwargs):
        FakeHub.calls.append(("dataset_info", repo_id))
        self._fail("dataset_info")
        return type("Info", (), {"card_data": DatasetCardData(license=FakeHub.licenses.get(repo_id))})()

    def create_commit(self, repo_id, operations, **kwargs):
        FakeHub.calls.append(("create_commit", repo_id, [(type(o).__name__, o.path_in_repo) for o in operations]))
        self._fail("create_commit")
        FakeHub.sent = {}
        for op in operations:
            if hasattr(op, "as_file"):
                with op.as_file() as fh:
                    FakeHub.sent[op.path_in_repo] = fh.read()
        return type("Info", (), {"commit_url": f"https://hub/{repo_id}/commit/1"})()


def _remote_entry(root: Path, rel: str) -> RepoFile:
    data = (root / rel).read_bytes()
    """An entry shaped like the Hub's tree API answer for a file we hold locally."""
    if rel.endswith(".parquet"):
        lfs = {"size": len(data), "oid": file_sha256(root / rel), "pointerSize": 130}
        return RepoFile(type="file", path=rel, size=len(data), oid="x", lfs=lfs)
    return RepoFile(type="file", path=rel, size=len(data), oid=push_module._git_blob_sha1(data))


def test_push_sends_only_changed_files_merges_front_matter_and_never_leaks_the_token(
    folder: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(upload_data, "HfApi", FakeHub)
    monkeypatch.setattr(push_module.time, "sleep", lambda s: None)
    upload_data.main(["--dataset_path", str(folder), "--repo_id", "someone/my-set", "--dry-run", "--license", "mit"])
    hub_readme = tmp_path / "hub_README.md"
    hub_readme.write_text(
        "---\nlicense: mit\ncustom_key: keep me\nconfigs:\n- config_name: old\n"
        "  data_files: data/old/**/*.parquet\n"
        "---\n# old card\n"
    )
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
        upload_data.main(["--dataset_path", str(folder), "--repo_id", "someone/my-set", "--license", "mit"])
    assert [c[0] for c in FakeHub.calls] == ["repo_exists", "create_repo"]
    assert os.environ["HF_TOKEN"] == TOKEN


def _hub(monkeypatch, tmp_path: Path, readme: str | None = None, remote: tuple[str, ...] = ()) -> None:
    """FakeHub holding ``remote`` paths and, when given, a card with ``readme`` as its text."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(upload_data, "HfApi", FakeHub)
    monkeypatch.setattr(push_module.time, "sleep", lambda s: None)
    FakeHub.calls, FakeHub.failures, FakeHub.sent = [], {}, {}
    FakeHub.remote = {rel: RepoFile(type="file", path=rel, size=1, oid="old") for rel in remote}
    if readme is not None:
        (tmp_path / "hub_README.md").write_text(readme)
        FakeHub.readme_path = str(tmp_path / "hub_README.md")
        FakeHub.remote["README.md"] = RepoFile(type="file", path="README.md", size=1, oid="old")


def _push(folder: Path, *extra: str) -> dict[str, str]:
    """Push ``folder``; the commit's operations, path -> kind."""
    license_ = () if "--license" in extra else ("--license", "cc-by-4.0")
    upload_data.main(["--dataset_path", str(folder), "--repo_id", "someone/my-set", *license_, *extra])
    commits = [c for c in FakeHub.calls if c[0] == "create_commit"]
    return {path: kind for kind, path in commits[-1][2]} if commits else {}


def test_date_like_strings_stay_strings_next_to_ordinary_string_files(folder: Path) -> None:
    _jsonl(
        folder / "gen" / "dates.jsonl",
        [
            {
                "problem": "2021-03-04",
                "answer": "1999-12-31T23:59:59",
                "n": 2,
                "meta": {"when": "2021-03-04"},
                "days": ["2021-03-05"],
            }
        ],
    )
    _run(folder)
    gen = _load(folder, "gen")
    assert {f: gen.features[f].dtype for f in ("problem", "answer")} == {"problem": "string", "answer": "string"}
    row = next(r for r in gen if r["n"] == 2)
    assert (row["problem"], row["answer"]) == ("2021-03-04", "1999-12-31T23:59:59")
    assert row["meta"] == {"when": "2021-03-04"} and row["days"] == ["2021-03-05"]
    manifest = folder / ".sftkit-upload.json"  # one written by the old rules (timestamps) is not trusted
    manifest.write_text(manifest.read_text().replace('"version": 2', '"version": 1', 1))
    assert _run(folder).stdout.count("converted") == 5


@pytest.mark.parametrize(
    "bad", [b'{"problem": "caf\xe9", "answer": "a", "n": 3}\n', b'{"problem": "p", "answer": "a", "caf\xe9": 3}\n']
)  # in a value, in a key
def test_invalid_utf8_is_rejected_with_file_and_line(folder: Path, bad: bytes) -> None:
    with open(folder / "gen" / "g.jsonl", "ab") as fh:
        fh.write(b'{"problem": "ok", "answer": "a", "n": 2}\n' + bad)
    proc = _run(folder, check=False)
    assert proc.returncode == 2 and f"{folder / 'gen' / 'g.jsonl'}:3: invalid UTF-8 (byte 0xe9" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_type_change_names_the_line_counted_from_one(folder: Path) -> None:
    _jsonl(folder / "gen" / "g.jsonl", [{"problem": "p", "n": i} for i in range(10)] + [{"problem": "p", "n": "x"}])
    proc = _run(folder, check=False)
    assert proc.returncode == 2
    assert f"{folder / 'gen' / 'g.jsonl'}:11: Column(/n) changed from number to string" in proc.stderr
    assert "row 10" not in proc.stderr


@pytest.mark.parametrize("damage", ["not parquet", "truncated"])
def test_a_corrupt_or_truncated_parquet_source_is_named(folder: Path, damage: str) -> None:
    bad = folder / "gen" / "bad.parquet"
    if damage == "truncated":
        _run(folder)
        data = (folder / "data" / "gen" / "g.parquet").read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    else:
        bad.write_bytes(b"this is not a parquet file")
    proc = _run(folder, check=False)
    assert proc.returncode == 2 and f"error: {bad}: not a readable Parquet file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unknown_text_field_is_an_error_listing_the_text_fields(folder: Path) -> None:
    proc = _run(folder, "--text-field", "nope", check=False)
    assert proc.returncode == 2
    assert "--text-field 'nope' is in no config; the text fields are: answer, extra, id, problem, text" in proc.stderr
    assert "is double, not text" in _run(folder, "--text-field", "score", check=False).stderr


def test_help_shows_no_default_for_the_visibility_switches() -> None:
    help_text = " ".join(run_command(UPLOAD, "--help").stdout.split())
    assert "--private private repo (the default) --public public repo --dry-run" in help_text
    assert "(default: True)" not in help_text and "(default: None)" not in help_text


STALE_INFO = """dataset_info:
- config_name: cot
  features:
  - name: id
    dtype: string
  splits:
  - name: train
    num_examples: 7
"""


def test_the_users_card_keys_stay_unless_a_flag_sets_them(folder: Path, tmp_path: Path, monkeypatch) -> None:
    user = (
        "---\nlanguage:\n- fr\ntags:\n- maths\ntask_categories:\n- question-answering\n"
        "pretty_name: Mon jeu\n" + STALE_INFO + "---\n# old\n"
    )
    _hub(monkeypatch, tmp_path, user)
    _push(folder)
    meta = DatasetCard.load(folder / "README.md").data.to_dict()
    assert (meta["language"], meta["tags"], meta["task_categories"]) == (["fr"], ["maths"], ["question-answering"])
    assert meta["pretty_name"] == "Mon jeu"
    assert [s["num_examples"] for s in meta["dataset_info"][0]["splits"]] == [51]  # ours, not the card's 7 rows
    assert [c["config_name"] for c in meta["configs"]] == ["cot", "gen"]
    _push(folder, "--tags", "sft", "math", "--pretty-name", "Ours")
    meta = DatasetCard.load(folder / "README.md").data.to_dict()
    assert meta["tags"] == ["sft", "math"] and meta["pretty_name"] == "Ours" and meta["language"] == ["fr"]


def test_dataset_info_is_computed_from_the_data(folder: Path, tmp_path: Path, monkeypatch) -> None:
    info = yaml.safe_dump(
        {
            "dataset_info": [
                {
                    "config_name": "cot",
                    "features": [{"name": "id", "dtype": "int64"}],
                    "splits": [{"name": "train", "num_examples": 51}],
                }
            ]
        }
    )
    _hub(monkeypatch, tmp_path, f"---\n{info}---\n")
    _push(folder)
    meta = DatasetCard.load(folder / "README.md").data.to_dict()
    cot = _load(folder, "cot")  # datasets reads the card's features: they must match the Parquet
    assert [i["config_name"] for i in meta["dataset_info"]] == ["cot", "gen"]
    assert meta["dataset_info"][0]["features"] == cot.features._to_yaml_list()
    assert meta["dataset_info"][0]["splits"][0]["num_examples"] == len(cot) == 51
    assert meta["tags"] == ["sft"]  # no user value: the default
    assert meta["language"] == ["ja", "en"]  # no user value: told from the data ("答えは 4 です", English words)


def test_push_sends_parquet_and_card_and_deletes_what_the_folder_no_longer_has(
    folder: Path, tmp_path: Path, monkeypatch
) -> None:
    theirs = (
        "notes/own.json",
        "cot/b.jsonl",
        "other.parquet",  # not ours: never deleted
        "data/train-00000-of-00001.parquet",
        "data/mine/part.parquet",
    )  # push_to_hub's, a config never ours
    _hub(monkeypatch, tmp_path, remote=("data/cot/gone.parquet", "data/gone/x.parquet", *theirs))
    ops = _push(folder)
    added = sorted(p for p, kind in ops.items() if kind == "CommitOperationAdd")
    assert added == [
        "README.md",
        "data/cot/a.parquet",
        "data/cot/b.parquet",
        "data/cot/c.parquet",
        "data/gen/g.parquet",
        "plots/cot.lengths.png",
        "plots/gen.lengths.png",
    ]
    assert sorted(p for p, kind in ops.items() if kind == "CommitOperationDelete") == ["data/cot/gone.parquet"]
    card = (
        "---\nconfigs:\n- config_name: gone\n  data_files: data/gone/**/*.parquet\n"  # one we published
        "- config_name: notes\n  data_files: notes/*.json\n---\n"
    )  # the user's own
    _hub(
        monkeypatch,
        tmp_path,
        card,
        ("cot/gone.jsonl", "gone/x.json", "gone/x.jsonl.stats.json", "data/gone/x.parquet", *theirs),
    )
    ops = _push(folder, "--include-sources")
    assert {"cot/a.jsonl", "cot/c.json", "gen/g.jsonl", "cot/a.jsonl.stats.json", "cot/b.jsonl"} <= set(ops)
    assert not any(p.endswith((".rejects.jsonl", ".sftkit-upload.json")) for p in ops)
    deleted = sorted(p for p, kind in ops.items() if kind == "CommitOperationDelete")
    assert deleted == ["cot/gone.jsonl", "data/gone/x.parquet", "gone/x.json", "gone/x.jsonl.stats.json"]


def test_nothing_published_names_a_local_absolute_path(folder: Path, tmp_path: Path, monkeypatch) -> None:
    stats = {
        "stage": "generate",
        "output": str(folder / "gen" / "g.jsonl"),
        "records": 1,
        "counts": {"truncated: /home/alice/my proj/results/demo/judge model": 2},  # that path inside text
        "settings": {
            "input": "/home/alice/data/seeds.jsonl",
            "model": str(tmp_path / "models" / "tiny"),
            "judge": "/home/alice/my proj/results/demo/judge model",  # a space: still one path
            "dataset": "nvidia/OpenMathReasoning",
            "base_url": "http://127.0.0.1:8000/v1",
        },
    }
    (folder / "gen" / "g.jsonl.stats.json").write_text(json.dumps(stats))
    _hub(monkeypatch, tmp_path)
    _push(folder, "--include-sources")
    published = {
        p: data.decode("utf-8", "replace") for p, data in FakeHub.sent.items() if not p.endswith((".parquet", ".png"))
    }
    for path, text in published.items():
        assert str(tmp_path) not in text and "/home/" not in text and "my proj" not in text, path
    sent = json.loads(published["gen/g.jsonl.stats.json"])
    assert sent["output"] == "gen/g.jsonl" and sent["settings"]["input"] == "seeds.jsonl"
    assert sent["settings"]["judge"] == "judge model"
    assert sent["settings"]["model"] == "tiny" and sent["settings"]["dataset"] == "nvidia/OpenMathReasoning"
    assert sent["settings"]["base_url"] == "http://127.0.0.1:8000/v1"
    card = (folder / "README.md").read_text()
    assert "| `generate` | `g.jsonl` | → 1 | tiny |" in card and "`truncated: judge model` 2" in card
    assert 'dataset="nvidia/OpenMathReasoning"' in card
    assert json.loads((folder / "gen" / "g.jsonl.stats.json").read_text()) == stats  # the local file is untouched


def test_no_network_is_retried_then_one_clear_line(folder: Path, monkeypatch, capsys) -> None:
    """The real HfApi, pointed at a port nothing listens on: the client's own transport error."""
    import huggingface_hub.constants
    from servers import free_port

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(push_module.time, "sleep", lambda s: None)
    with pytest.raises(upload_data.InputError) as err:
        upload_data.main(["--dataset_path", str(folder), "--repo_id", "someone/my-set"])
    message = str(err.value)
    assert message.startswith("checking the Hub repo failed after 5 attempts: cannot reach the Hub (ConnectError")
    assert "\n" not in message and TOKEN not in message
    assert capsys.readouterr().err.count("checking the Hub repo: ConnectError") == 4


def test_upstream_licenses_come_from_their_hub_cards_and_source_license_fills_the_gaps(
    folder: Path, tmp_path: Path, monkeypatch
) -> None:
    stats = {"stage": "label_filter", "records": 30, "settings": {"input": {"input": "nvidia/OpenMathReasoning"}}}
    (folder / "cot" / "a.jsonl.stats.json").write_text(json.dumps({**stats, "input": "nvidia/OpenMathReasoning"}))
    (folder / "gen" / "g.jsonl.stats.json").write_text(json.dumps({"stage": "generate", "input": "someone/private"}))
    _hub(monkeypatch, tmp_path)
    FakeHub.licenses, FakeHub.failures = {"nvidia/OpenMathReasoning": "cc-by-4.0"}, {"dataset_info": [429]}
    _push(folder, "--source-license", "someone/private=apache-2.0", "nvidia/OpenMathReasoning=mit")
    card = (folder / "README.md").read_text()
    hub = "https://huggingface.co/datasets"
    assert f"| [`nvidia/OpenMathReasoning`]({hub}/nvidia/OpenMathReasoning) | `cc-by-4.0` |" in card  # its card
    assert f"| [`someone/private`]({hub}/someone/private) | `apache-2.0` |" in card  # none there: the flag
    assert [c[1] for c in FakeHub.calls if c[0] == "dataset_info"] == [
        "nvidia/OpenMathReasoning",  # a 429, retried
        "nvidia/OpenMathReasoning",
        "someone/private",
    ]
