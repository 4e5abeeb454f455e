"""recipes/code-taxonomy.yaml, distill-documents.yaml and coig-cqia.yaml end to end with --local, the model
stages against the scripted OpenAI-compatible server replaying what models write: JSON lists with a broken
item, a cut list, refusals, a program without its block, near-duplicate programs, judges that miss a criterion
or ramble without scores, Chinese text. The rows after every stage are the hand-computed numbers in the
comments; lineage leads from every exported row back to its taxonomy row or document."""

import json
from pathlib import Path

import pytest
import yaml
from helpers import REPO, dataset_rows, read_jsonl, reject_reasons, run_recipe

pytestmark = pytest.mark.stages


def _rows(work: Path, name: str) -> list[dict]:
    return read_jsonl(work / f"{name}.jsonl")


def _counts(work: Path, names: list[str]) -> list[int]:
    return [len(_rows(work, n)) for n in names]


def _json_list(key: str, *texts: str, broken: int | None = None) -> str:
    """A model's JSON list in a fence; item ``broken`` loses the comma between its key and value."""
    items = [json.dumps({key: t}, ensure_ascii=False) for t in texts]
    if broken is not None:
        items[broken] = items[broken].replace('": "', '" "', 1)
    return "Here they are:\n```json\n[\n  " + ",\n  ".join(items) + "\n]\n```"


# ---- code-taxonomy ----------------------------------------------------------------------------------------

T1 = "Build a sliding 15-puzzle with a move counter and a shuffle button."
T2 = "Build a memory card matching game with a timer and a best-time record."
T3 = "Build a Breakout clone with paddle, bricks and three lives."
T4 = "做一个贪吃蛇小游戏：方向键控制，吃到食物加分并加速。"
T5 = "Build an interactive bar chart of monthly rainfall with tooltips."
T6 = "Build a line chart that streams random stock prices every second."
# tasks (3 subcategories): 2 (a broken item) + 2 + 2 (an empty task) = 6
TASKS = {
    "Puzzle games": _json_list("task", T1, "Build a nonogram solver", T2, broken=1),
    "Arcade games": _json_list("task", T3, T4),
    "Charts": _json_list("task", T5, T6, ""),
}
V = {
    "1a": "Build a sliding 15-puzzle themed as a night sky, with a move counter and a shuffle button.",
    "1b": "Build a sliding 8-puzzle for young children with picture tiles and an undo button.",
    "2a": "Build a memory game of flags with a timer, where each wrong pair costs five seconds.",
    "2b": "Build a memory game of musical notes that plays each note when its card turns.",
    "4a": "做一个贪吃蛇小游戏：方向键控制，每吃一个食物加十分，撞墙游戏结束。",
    "4b": "Build a snake game for touch screens with swipe controls and a pause button.",
    "5a": "Build a bar chart of monthly rainfall in three cities with a legend that toggles each city.",
    "5b": "Build a bar chart of rainfall that sorts the bars when a header is clicked.",
    "5c": "Build a stacked bar chart of rainfall and snowfall with accessible tooltips.",
}
# variants (6 tasks): 2 + 2 + 0 (cut at the token limit) + 2 + 3 + 0 (a refusal) = 9
VARIANTS = {
    T1: f"1. {V['1a']}\n2. {V['1b']}",
    T2: f"Sure! Variants:\n\n1. {V['2a']}\n2. {V['2b']}",
    T3: None,
    T4: f"1. {V['4a']}\n2. {V['4b']}",
    T5: f"- {V['5a']}\n- {V['5b']}\n- {V['5c']}",
    T6: "I'm sorry, but I can't help with generating variants of this task.",
}


def _program(title: str, text: str, extra: str = "", repeat: int = 1) -> str:
    """A small single-file app: its title and word list make it its own program."""
    words = text.split() * repeat
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>{title}</title>\n'
        "<style>main{display:grid;gap:8px}</style></head>\n<body><main id=app></main>\n<script>\n"
        f"const {words[0]}List = {json.dumps(words)};\n"
        f"function render{words[1].title()}() {{\n  app.innerHTML = {words[0]}List.map(w => `<button>${{w}}</button>`)"
        f".join('');\n}}\n{extra}render{words[1].title()}();\n</script>\n</body>\n</html>"
    )


PROGRAMS = {
    "1a": _program("Night Sky Puzzle", "star moon comet nebula orbit galaxy quasar pulsar meteor eclipse"),
    # 1b: the same program with one word changed: a near duplicate (Jaccard >= 0.8) removed by dedup
    "1b": _program("Night Sky Puzzle", "star moon comet nebula orbit galaxy quasar pulsar meteor sunrise"),
    "2a": "```html\n<html><body>Flags memory game</body></html>\n```",  # no <answer> block
    "2b": _program("Note Memory", "do re mi fa sol la ti octave chord melody"),
    "4a": _program("贪吃蛇", "snake apple wall speed score grid head tail turn food", "// 撞墙则游戏结束\n"),
    "4b": _program("Swipe Snake", "swipe touch pause resume board level wrap ring fruit bonus"),
    "5a": _program("Rain Legend", "london paris oslo january february march april may june july"),
    # 5b: too long for max-length-tokens (1024): never judged
    "5b": _program("Rain Sort", "header sort bars ascending descending", repeat=60),
    "5c": _program("Rain Snow", "rain snow stack tooltip aria label focus season total depth"),
}


def _judge(dimensions: list[str], scores: dict[str, int]) -> str:
    lines = [f"{d}: {scores.get(d, 4)}" for d in dimensions if scores.get(d) != -1]
    return "The program is reviewed below.\n\n" + "\n".join(lines)


def _code_taxonomy_script() -> list[dict]:
    entries = [{"match": [f"Subcategory: {sub} "], "choices": [{"content": content}]} for sub, content in TASKS.items()]
    for task, content in VARIANTS.items():
        choice = {
            "content": content or "1. Build a Breakout clone",
            "finish_reason": "length" if not content else "stop",
        }
        entries.append({"match": ["Here is a front-end programming task:\n\n" + task + "\n"], "choices": [choice]})
    for key, program in PROGRAMS.items():
        content = "Here is the program.\n\n<answer>\n" + program + "\n</answer>" if key != "2a" else program
        entries.append(
            {"match": ["single-file web application for this task:\n\n" + V[key]], "choices": [{"content": content}]}
        )
    rubric = yaml.safe_load((REPO / "rubrics" / "code_frontend.yaml").read_text())
    dims = [d["name"] for d in rubric["dimensions"]]
    # score (7 programs after dedup): 5b too long; 1a all 4 (1.0), 2b all 3 (0.75 < 0.8), 4a misses a criterion
    # (undecided), 4b rambles without scores (undecided), 5a two 3s (about 0.97), 5c all 4: kept 3
    judged = {
        "Night Sky Puzzle": _judge(dims, {}),
        "Note Memory": _judge(dims, {d: 3 for d in dims}),
        "贪吃蛇": _judge(dims, {"accessibility": -1}),
        "Swipe Snake": "This is a nice snake game. The swipe handling looks right, and I like the colours, "
        "though I would want to test it on a phone first.",
        "Rain Legend": _judge(dims, {"animation_quality": 3, "performance": 3}),
        "Rain Snow": _judge(dims, {}),
    }
    for title, answer in judged.items():
        entries.append(
            {"match": ["senior front-end engineer", f"<title>{title}</title>"], "choices": [{"content": answer}]}
        )
    return entries


def test_code_taxonomy_recipe_from_subcategories_to_scored_programs(tmp_path: Path) -> None:
    work = run_recipe("code-taxonomy", tmp_path, _code_taxonomy_script())
    assert _counts(work, ["tasks", "variants", "code", "unique", "scored"]) == [6, 9, 8, 7, 3]
    assert reject_reasons(work / "tasks.jsonl") == {"list item is not valid JSON": 1, "empty task": 1}
    assert reject_reasons(work / "variants.jsonl") == {
        "cut at the token limit (finish_reason=length)": 1,
        "refusal": 1,
    }
    assert set(reject_reasons(work / "code.jsonl")) == {"no <answer> block and no JSON object in the generation"}
    stats = json.loads((work / "scored.jsonl.stats.json").read_text())["counts"]
    assert (stats["too long"], stats["too few votes"], stats["no judge decided"]) == (1, 1, 2)
    split = dataset_rows(work, "code-taxonomy")
    exported = [r for rows in split.values() for r in rows]
    assert len(exported) == 3 and len(split["validation"]) == 1
    # lineage: program -> variant -> task -> taxonomy row, and the category carried all the way
    by_id = {r["id"]: r for name in ("tasks", "variants", "code") for r in _rows(work, name)}
    taxonomy = {r["id"]: r for r in read_jsonl(REPO / "data/code-taxonomy/taxonomy.jsonl")}
    for row in exported:
        parent, hops = row["parent_id"], 1
        while parent in by_id:
            parent, hops = by_id[parent]["parent_id"], hops + 1
        assert hops == 3 and taxonomy[parent]["category"] == row["category"], row
    assert {r["category"] for r in exported} == {"Games", "Data visualization"}


# ---- distill-documents ------------------------------------------------------------------------------------

PAIRS = {  # slice -> its 3 pairs (question, answer)
    "vaccines-s0": [
        ("What does a vaccine show the immune system?", "A harmless piece or copy of a pathogen, such as mRNA."),
        ("Which cells carry a vaccine's antigen to the lymph nodes?", "Antigen-presenting cells carry it there."),
        ("What do some activated B cells become?", "Long-lived memory cells that remember the antigen."),
    ],
    "vaccines-s1": [
        ("Why is the response to a later infection faster?", "Memory B and T cells remain after the first exposure."),
        ("What do booster doses do", "They raise the number of memory cells."),  # broken below
        ("What is herd immunity and whom does it protect?", "Too few hosts to spread; it protects newborns."),
    ],
    "tax-zh-s0": [
        (
            "专项附加扣除包括哪几项？",
            "包括子女教育、继续教育、大病医疗、住房贷款利息、住房租金、赡养老人和婴幼儿照护七项。",
        ),
        ("纳税人可以在什么时候享受专项附加扣除？", "可以在单位每月预扣预缴时享受，也可以在次年汇算清缴时申报。"),
        ("专项附加扣除和基本减除费用是什么关系？", "专项附加扣除是在基本减除费用之外的额外扣除。"),
    ],
    "tax-zh-s1": [
        ("子女教育每月可以扣除多少？父母怎么分？", "每个子女每月两千元，可由一方全额扣除或双方各扣一半。"),
        ("住房贷款利息和住房租金可以同时扣除吗？", "不能同时享受；首套住房贷款利息每月扣除一千元。"),
        # a paraphrase of a pair of slice 0 (the same words in another order): semantic dedup removes it
        ("纳税人在什么时候可以享受专项附加扣除？", "可以在次年汇算清缴时申报，也可以在单位每月预扣预缴时享受。"),
    ],
}
SLICE_MARKS = {  # a phrase only that slice holds (slice 1 first: the first matching entry answers)
    "vaccines-s1": "herd immunity",
    "tax-zh-s1": "二百四十个月",
    "vaccines-s0": "A vaccine shows",
    "tax-zh-s0": "专项附加扣除是",
}
JUDGE_A, JUDGE_B = "Qwen/Qwen3-32B", "THUDM/GLM-4-32B-0414"
FIVE = ["accuracy", "completeness", "logicality", "helpfulness", "safety"]


def _scores(score: int, names: list[str] = FIVE) -> str:
    return "\n".join(f"{n}: {score}" for n in names)


def _distill_script() -> list[dict]:
    entries = []
    for key, mark in SLICE_MARKS.items():
        items = [json.dumps({"question": q, "answer": a}, ensure_ascii=False) for q, a in PAIRS[key]]
        if key == "vaccines-s1":
            items[1] = items[1].replace('", "answer"', '" "answer"')
        content = "```json\n[\n  " + ",\n  ".join(items) + "\n]\n```"
        entries.append({"match": ["<document>", mark], "choices": [{"content": content}]})
    # judges (11 pairs): each gives 8 everywhere, except: judge-b misses safety on one pair, judge-a rambles on
    # another, judge-a gives 6 on a third (each of these has one vote: dropped); judge-a answers in Chinese
    # dimension names on one and as JSON on another (both read): kept 11 - 3 = 8
    judge = "expert reviewer of instruction-tuning data"
    special = [
        (JUDGE_B, PAIRS["vaccines-s0"][1][0], _scores(8, FIVE[:4])),
        (JUDGE_A, PAIRS["vaccines-s1"][2][0], "A solid answer overall, though herd immunity deserves more."),
        (JUDGE_A, PAIRS["tax-zh-s0"][2][0], _scores(6)),
        (JUDGE_A, PAIRS["tax-zh-s0"][0][0], "评分如下：\n准确性：9\n完整性：8\n逻辑性：9\n有用性：8\n安全性：10"),
        (
            JUDGE_A,
            PAIRS["tax-zh-s1"][0][0],
            '```json\n{"accuracy": 9, "completeness": 8, "logicality": 8, "helpfulness": 9, "safety": 10}\n```',
        ),
    ]
    for model, question, answer in special:
        entries.append({"model": model, "match": [judge, question], "choices": [{"content": answer}]})
    entries.append({"match": [judge], "choices": [{"content": "Scores:\n" + _scores(8)}]})
    return entries


def test_distill_documents_recipe_from_slices_to_a_sharegpt_split(tmp_path: Path) -> None:
    words = [t for pairs in PAIRS.values() for q, a in pairs for t in (q, a)]
    # 7 rows: a 10% validation split would be empty (the export refuses it), so 30% here
    edits = {"val-fraction: 0.1": "val-fraction: 0.3"}
    work = run_recipe("distill-documents", tmp_path, _distill_script(), words=words, edits=edits)
    # 2 documents, 2 slices each; 3 pairs a slice, one broken: 11; 3 with one vote: 8; a paraphrase: 7
    assert _counts(work, ["pairs", "judged", "unique"]) == [11, 8, 7]
    assert reject_reasons(work / "pairs.jsonl") == {"list item is not valid JSON": 1}
    stats = json.loads((work / "judged.jsonl.stats.json").read_text())["counts"]
    assert stats["too few votes"] == 3 and stats.get("no judge decided", 0) == 0
    judged = {r["question"]: r for r in _rows(work, "judged")}
    assert judged["专项附加扣除包括哪几项？"]["score_totals"][JUDGE_A] == pytest.approx(0.88)
    assert PAIRS["tax-zh-s1"][2][0] not in {r["question"] for r in _rows(work, "unique")}
    split = dataset_rows(work, "distill-documents")
    exported = [r for rows in split.values() for r in rows]
    assert len(exported) == 7 and set(split) == {"train", "validation"}
    assert all(r["conversations"][0]["from"] == "human" for r in exported)
    # lineage: every row names its document and slice, and its parent is that slice
    documents = {r["id"] for r in read_jsonl(REPO / "data/distill-documents/documents.jsonl")}
    for row in exported:
        assert row["doc_id"] in documents and row["lineage"]["parent_id"] == f"{row['doc_id']}-s{row['slice_index']}"
    assert {(r["doc_id"], r["slice_index"]) for r in exported} == {
        ("vaccines", 0),
        ("vaccines", 1),
        ("tax-zh", 0),
        ("tax-zh", 1),
    }
    card = (work / "dataset" / "README.md").read_text()
    assert "distill-documents" in card and (work / "dataset" / "dataset_info.json").exists()


# ---- coig-cqia --------------------------------------------------------------------------------------------

COIG_FIELDS = {
    "instruction",
    "input",
    "output",
    "task_type",
    "domain",
    "metadata",
    "answer_from",
    "human_verified",
    "copyright",
}


def test_coig_cqia_recipe_cleans_dedups_and_exports_sharegpt_with_a_system_prompt(tmp_path: Path) -> None:
    sample = read_jsonl(REPO / "data/coig-cqia/coig-cqia.sample.jsonl")
    assert len(sample) == 12 and all(set(r) == COIG_FIELDS for r in sample)  # the dataset card's fields
    assert all(set(r["task_type"]) == {"major", "minor"} for r in sample)
    work = run_recipe("coig-cqia", tmp_path)
    # 12 rows: a too-short one (2 characters) dropped by clean, the PII row masked and kept: 11; a duplicate: 10
    assert _counts(work, ["cleaned", "unique"]) == [11, 10]
    assert reject_reasons(work / "cleaned.jsonl") == {"clean: min_words 2 < 10": 1}
    masked = next(r for r in _rows(work, "cleaned") if "客服" in r["instruction"])
    assert "<PHONE>" in masked["output"] and "<EMAIL>" in masked["output"] and "13812345678" not in masked["output"]
    split = dataset_rows(work, "coig-cqia")
    exported = [r for rows in split.values() for r in rows]
    assert (len(split["train"]), len(split["validation"])) == (9, 1)
    assert {r["system"] for r in exported} == {"你是一个乐于助人的中文助手，回答准确、简洁、有礼貌。"}
    assert all([t["from"] for t in r["conversations"]] == ["human", "gpt"] for r in exported)
    assert all(r["domain"] and r["answer_from"] in {"human", "llm"} for r in exported)
    info = json.loads((work / "dataset" / "dataset_info.json").read_text())
    assert info["coig-cqia"]["formatting"] == "sharegpt" and info["coig-cqia"]["columns"]["system"] == "system"
    assert "language:\n- zh" in (work / "dataset" / "README.md").read_text()
