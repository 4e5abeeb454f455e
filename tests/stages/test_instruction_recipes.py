"""recipes/self-instruct.yaml and recipes/evol-instruct.yaml end to end with --local, against the scripted
OpenAI-compatible server replaying what instruction models write: JSON lists with a broken item, refusals
(English and Chinese), copies of the prompt, cut completions, a judge that rambles without a verdict, Chinese
instructions. The rows after every stage are the hand-computed numbers in the comments."""

import json
from pathlib import Path

import pytest
from helpers import REPO, read_jsonl, run_recipe

pytestmark = pytest.mark.stages


def _list(*items: object) -> str:
    return "Here are the new tasks:\n```json\n" + json.dumps(list(items), ensure_ascii=False) + "\n```"


def _tasks(*texts: str) -> str:
    return _list(*({"instruction": t} for t in texts))


HAIKU = "Write a haiku about autumn leaves falling in the park."
GREAT_WALL = "请用三句话介绍长城的历史。"
CONVERT = "Convert the active sentence into a question about its subject."
# round 1 (10 seeds, one completion each): kept 1 + 0 + 1 + 0 + 1 + 5 x 2 = 13
ROUND1 = {
    "Give three tips for staying healthy.": _tasks(
        HAIKU, "BROKEN", "Draw a picture of a cat on a windowsill.", "Say hi.", HAIKU[:-1] + "!"
    ).replace('{"instruction": "BROKEN"}', '{"instruction": "Describe the water cycle" "in detail"}'),
    "Sort the following numbers in ascending order.": "I'm sorry, but I can't help with creating new tasks.",
    "Rewrite the sentence in the passive voice.": _list("Rewrite the sentence in the passive voice.", CONVERT),
    "Write a Python function that checks whether a string is a palindrome.": None,  # cut at the token limit
    "把下面的句子翻译成英文。": _tasks(GREAT_WALL, "把下面这个句子翻译成英文。"),
    "Explain why the sky is blue to a ten-year-old.": _tasks(
        "Compare the life cycles of frogs and butterflies.", "Suggest five questions to ask at a job interview."
    ),
    "Classify the sentiment of the review as positive, negative or neutral.": _tasks(
        "Detect whether the email below is spam and justify the label.", "Translate the idiom into plain English."
    ),
    "Suggest a name for a bakery that sells only sourdough bread.": _tasks(
        "Invent a slogan for a bicycle repair shop.", "Propose three names for a chess club at a school."
    ),
    "Summarize the paragraph in one sentence.": _tasks(
        "Outline the causes of the French Revolution in bullet points.", "Give a counterargument to the claim."
    ),
    "List the steps to solve a quadratic equation by completing the square.": _tasks(
        "Prove that the sum of two even integers is even.", "Calculate the compound interest on 1000 dollars at 5%."
    ),
}
LIMERICK = [
    "Compose a limerick about a forgetful robot.",
    "Estimate how many piano tuners work in Chicago, with reasoning.",
]


def _self_instruct_script() -> list[dict]:
    entries = []
    for seed, content in ROUND1.items():
        choice = {
            "content": content or _tasks("Write a story about"),
            "finish_reason": "length" if content is None else "stop",
        }
        entries.append({"match": ["take inspiration from:\n" + seed + "\n"], "choices": [choice]})
    # round 2 (13 rows): the Chinese row keeps 1 (the other copies its input), the CONVERT row keeps 1 (the other
    # is a round-1 instruction: the pool), and the 11 others answer the same list: the first keeps 2, then
    # each item is too similar to an earlier one: 1 + 1 + 2 = 4
    round2 = {
        GREAT_WALL: _tasks(GREAT_WALL, "列出五种常见的中国传统节日并说明它们的习俗。"),
        CONVERT: _tasks(HAIKU, "Plan a three-day itinerary for a first-time visitor to Kyoto on a small budget."),
    }
    for text, content in round2.items():
        entries.append({"match": ["take inspiration from:\n" + text + "\n"], "choices": [{"content": content}]})
    entries.append({"match": ["take inspiration from:\n"], "choices": [{"content": _tasks(*LIMERICK)}]})
    # instances (13 + 4 = 17 rows): a refusal in Chinese and an object without its output: 15
    entries.append(
        {"match": [GREAT_WALL, "invent one realistic input"], "choices": [{"content": "抱歉，我无法完成这个任务。"}]}
    )
    entries.append(
        {"match": [HAIKU, "invent one realistic input"], "choices": [{"content": '{"task": "Write a haiku."}'}]}
    )
    answer = {"task": "Answer the task above for a curious student.", "output": "Here is a careful answer."}
    entries.append({"match": ["invent one realistic input"], "choices": [{"content": json.dumps(answer)}]})
    return entries


EVOLVED = {  # round 1 (add a constraint), per seed; the rest get the last, generic evolution
    "Give three tips for staying healthy.": "Give three tips for staying healthy that cost nothing at all.",
    "Sort the following numbers in ascending order.": "Sort the following numbers in ascending order.",  # a copy
    "Rewrite the sentence in the passive voice.": "I'm sorry, but as an AI I cannot rewrite this prompt.",  # refusal
    "Explain why the sky is blue to a ten-year-old.": None,  # cut
    "Classify the sentiment of the review as positive, negative or neutral.": (
        "Classify the sentiment of the review as positive, negative or neutral, and make sure your label is right."
    ),
    "Suggest a name for a bakery that sells only sourdough bread.": "Suggest a bakery name that rhymes with bread.",
    "把下面的句子翻译成英文。": "把下面的句子翻译成英文，并保留原句的语气，不超过十五个词。",
    "Summarize the paragraph in one sentence.": "#Rewritten Prompt#: Summarize the paragraph in twelve words.",  # leak
    "": "Complete the request above in under 100 words and cite one reliable source.",
}
GENERIC = EVOLVED[""]


def _evol_script() -> list[dict]:
    entries = []
    for seed, evolved in EVOLVED.items():
        choice = {
            "content": evolved or "Explain why the sky is",
            "finish_reason": "length" if evolved is None else "stop",
        }
        entries.append({"match": ["add one more constraint", f"#Given Prompt#:\n{seed}"], "choices": [choice]})
    # elimination 1 (7 rows): the sentiment evolution is equal to its original, the bakery judge rambles: 5
    verdicts = {
        EVOLVED["Classify the sentiment of the review as positive, negative or neutral."]: "<verdict>equal</verdict>",
        EVOLVED["Suggest a name for a bakery that sells only sourdough bread."]: "Both are about bakeries, hmm.",
    }
    for evolved, verdict in verdicts.items():
        entries.append({"match": ["Are they equal", evolved], "choices": [{"content": verdict}]})
    entries.append(
        {"match": ["Are they equal"], "choices": [{"content": "It asks for more.\n<verdict>different</verdict>"}]}
    )
    # round 2 (5 rows), reasoning steps: a refusal in Chinese: 4
    entries.append(
        {
            "match": ["multiple-step reasoning", EVOLVED["Give three tips for staying healthy."]],
            "choices": [{"content": "抱歉，作为一个AI，我不能改写这个提示。"}],
        }
    )
    chinese = "把下面的句子翻译成英文，先逐词分析，再给出完整译文，并说明语气的处理。"
    entries.append(
        {"match": ["multiple-step reasoning", EVOLVED["把下面的句子翻译成英文。"]], "choices": [{"content": chinese}]}
    )
    stepwise = GENERIC + " Reason step by step and state each assumption."
    entries.append({"match": ["multiple-step reasoning"], "choices": [{"content": stepwise}]})
    # round 3 (4 rows), in breadth: 4
    festival = "请写一段关于中秋节由来的介绍，并说明三种庆祝方式。"
    entries.append({"match": ["Prompt Creator", chinese], "choices": [{"content": festival}]})
    rare = "Describe how to identify three edible wild mushrooms and the look-alikes to avoid."
    entries.append({"match": ["Prompt Creator"], "choices": [{"content": rare}]})
    # responses (4 rows): 4
    entries.append(
        {"match": [festival], "choices": [{"content": "中秋节起源于古代的祭月活动……人们赏月、吃月饼、提灯笼。"}]}
    )
    entries.append(
        {"match": [rare], "choices": [{"content": "Chanterelles, morels and puffballs; beware jack-o'-lanterns."}]}
    )
    return entries


def _reasons(path: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    rejects = Path(f"{path}.rejects.jsonl")
    for r in read_jsonl(rejects) if rejects.exists() else []:
        found[r["reason"]] = found.get(r["reason"], 0) + 1
    return found


def _datasetread_jsonl(work: Path, config: str) -> list[dict]:
    import pyarrow.parquet as pq

    files = sorted((work / "dataset" / "data" / config).glob("*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def test_self_instruct_recipe_grows_the_pool_with_novel_instructions(tmp_path: Path) -> None:
    work = run_recipe("self-instruct", tmp_path, _self_instruct_script())
    round1, pool = read_jsonl(work / "pool" / "round1.jsonl"), read_jsonl(work / "pool" / "round2.jsonl")
    round2 = [r for r in pool if r not in round1]
    instances = read_jsonl(work / "instances.jsonl")
    assert [len(round1), len(pool), len(instances)] == [13, 13 + 4, 15]
    # round 2 writes the grown pool: each round-1 row, unchanged, before the rows made from it
    assert [r for r in pool if r in round1] == round1 and pool[1]["parent_id"] == pool[0]["id"]
    assert _reasons(work / "pool" / "round1.jsonl") == {
        "list item is not valid JSON": 1,
        "contains a rejected keyword": 1,
        "shorter than 3 words": 1,
        "too similar to an earlier item (ROUGE-L >= 0.7)": 1,
        "refusal": 1,
        "copies its input field 'instruction'": 1,
        "too similar to a pool instruction (ROUGE-L >= 0.7)": 1,  # the Chinese near-copy of a seed
        "cut at the token limit (finish_reason=length)": 1,
    }
    assert _reasons(work / "pool" / "round2.jsonl") == {
        "too similar to an earlier item (ROUGE-L >= 0.7)": 20,
        "copies its input field 'instruction'": 1,
        "too similar to a pool instruction (ROUGE-L >= 0.7)": 1,
    }
    assert _reasons(work / "instances.jsonl") == {"refusal": 1, "JSON object lacks a string 'task' and 'output'": 1}
    assert GREAT_WALL in {r["instruction"] for r in round1} and len({r["instruction"] for r in round2}) == 4
    # lineage: every exported row leads back through the rounds to a seed task
    exported = _datasetread_jsonl(work, "self-instruct")
    assert len(exported) == 15
    by_id = {r["id"]: r for r in round1 + round2 + instances}
    seeds = {json.loads(line)["id"] for line in (REPO / "data/instructions/seed_tasks.jsonl").read_text().splitlines()}
    for row in exported:
        parent, hops = row["parent_id"], 0
        while parent in by_id:
            parent, hops = by_id[parent]["parent_id"], hops + 1
        assert parent in seeds and hops in (1, 2), row
    deep = next(r for r in instances if r["lineage"]["parent"]["parent"])
    assert deep["lineage"]["parent"]["parent"]["parent_id"] in seeds


def test_evol_instruct_recipe_evolves_and_eliminates_round_by_round(tmp_path: Path) -> None:
    work = run_recipe("evol-instruct", tmp_path, _evol_script())
    stages = ["evolve1", "eliminate1", "evolve2", "eliminate2", "evolve3", "eliminate3", "respond"]
    counts = [len(read_jsonl(work / f"{s}.jsonl")) for s in stages]
    assert counts == [6, 4, 3, 3, 3, 3, 3]
    assert _reasons(work / "evolve1.jsonl") == {
        "copies its input field 'instruction'": 1,
        "refusal": 1,
        "contains a rejected keyword": 1,
        "cut at the token limit (finish_reason=length)": 1,
    }
    assert _reasons(work / "eliminate1.jsonl") == {
        "verdict is not different": 1,
        "no <verdict> block and no JSON object in the generation": 1,
    }
    assert _reasons(work / "evolve2.jsonl") == {"refusal": 1}
    final = read_jsonl(work / "respond.jsonl")
    assert {r["instruction"] for r in final} == {
        "请写一段关于中秋节由来的介绍，并说明三种庆祝方式。",
        "Describe how to identify three edible wild mushrooms and the look-alikes to avoid.",
    }
    chinese = next(r for r in final if r["instruction"].startswith("请写"))
    assert chinese["output"].startswith("中秋节") and chinese["id"].startswith("seed_9-gen0")
    assert len(_datasetread_jsonl(work, "evol-instruct")) == 3
