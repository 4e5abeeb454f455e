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
