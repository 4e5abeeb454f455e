"""The clean stage's filters one by one: each rule fires on the row it is for and not on a look-alike,
Chinese rows through every filter, every PII kind with look-alikes that must not fire, the toxicity lists'
Scunthorpe cases, and config mistakes as one line."""

from __future__ import annotations

import pytest

from sftkit.clean import pii, rules, toxicity
from sftkit.clean.config import RULES, build, load_file, parse_rule, preset_thresholds
from sftkit.errors import InputError

pytestmark = pytest.mark.unit

SFT = preset_thresholds("sft")
GOPHER = preset_thresholds("gopher")
PROSE = (
    "The committee met on Tuesday to review the budget for the coming year. Members asked whether the new "
    "library would open on time, and the director explained that the builders had finished the roof and "
    "that the shelves would arrive next month."
)
MATH_Q = "Find all real x such that x^2 - 5x + 6 = 0."
MATH_A = "Factor the quadratic: (x - 2)(x - 3) = 0, so x = 2 or x = 3."
ZH_Q = "请解释什么是光合作用，并说明它对地球生态系统的重要性。"
ZH_A = (
    "光合作用是绿色植物利用光能，把二氧化碳和水转化为储存能量的有机物，并释放氧气的过程。"
    "它为几乎所有生物提供了食物和能量来源，同时维持了大气中氧气和二氧化碳的平衡。"
)


def fires(text: str, thresholds: dict = SFT, gopher: bool = False) -> list[str]:
    return [name for name, _ in rules.fired(rules.measure(text, rules.wanted_rules(thresholds), gopher), thresholds)]


@pytest.mark.parametrize(
    "text",
    [
        f"{MATH_Q}\n\n{MATH_A}",
        "What is 2+2?\n\n4",
        PROSE,
        f"{ZH_Q}\n\n{ZH_A}",
        "Compute 123*456.\n\n56088",
        "### Step 1\nAdd the two numbers of the problem together to find their total.\n### Step 2\nCheck the "
        "sum by subtracting one number from it again.\n\n$$\nx = 1\n$$\n\n$$\ny = 2\n$$",
    ],
)
def test_good_sft_rows_pass_every_sft_rule(text: str) -> None:
    assert fires(text) == []


@pytest.mark.parametrize(
    ("rule", "bad", "alike"),
    [
        ("min_words", "Yes.", "Is 7 prime? Yes."),
        ("min_mean_word_length", "a b c d e f g h i j k l m n", "let x be a real number"),
        (
            "max_mean_word_length",
            "pneumonoultramicroscopic supercalifragilistic antidisestablishment",
            "a_long_identifier_name is used here often",
        ),
        ("max_hash_ratio", "# # # # tag #a #b #c #d #e", "## Heading\nSome text under the heading here."),
        ("max_ellipsis_ratio", "well... so... and... then... ok...", "Wait for it... and then it came."),
        ("max_bullet_lines", "- one\n- two\n- three", "Items:\n- one\n- two\nThat is all."),
        ("max_ellipsis_lines", "first line...\nsecond line...\nthird line", "first line...\nsecond\nthird\nfourth"),
        ("min_alpha_words", "1 2 3 4 5 6 7 8 9 10 11 12 x", "Compute 17 + 25 and then 3 * 4."),
        ("max_dup_line_frac", "Same line\nSame line\nSame line\nOther line", "Line one\nLine two\nLine three"),
        ("max_dup_para_frac", "Same para.\n\nSame para.\n\nOther para.", "Para one.\n\nPara two.\n\nPara three."),
        ("max_top_2gram_char_frac", "ok go ok go ok go ok go now", "one two three four five six seven"),
        (
            "max_dup_5gram_char_frac",
            ("the cat sat on the mat " * 4) + "and then left",
            "the cat sat on the mat and the dog lay on the rug near the door",
        ),
    ],
)
def test_each_rule_fires_on_its_row_and_not_on_a_look_alike(rule: str, bad: str, alike: str) -> None:
    thresholds = {**SFT, "min_words": 1} if rule != "min_words" else SFT
    assert rule in fires(bad, thresholds), (rule, bad)
    assert rule not in fires(alike, thresholds), (rule, alike)


def test_gopher_preset_counts_as_datatrove_and_drops_short_rows() -> None:
    """The paper's counting: a short row is short, headings' '#' count, a 2-gram seen once counts."""
    assert "min_words" in fires("What is 2+2?\n\n4", GOPHER, gopher=True)
    assert "min_stop_words" in fires(MATH_Q, GOPHER, gopher=True)
    assert "max_top_2gram_char_frac" in fires("Solve x + 1", {"max_top_2gram_char_frac": 0.2}, gopher=True)
    assert "max_top_2gram_char_frac" not in fires("Solve x + 1", {"max_top_2gram_char_frac": 0.2})
    values = rules.measure("# A\n# B\nsome words here", frozenset(RULES), gopher=True)
    assert values["max_hash_ratio"] == 2 / 7


def test_chinese_rows_count_by_character_through_every_rule() -> None:
    doc = f"{ZH_Q}\n\n{ZH_A}"
    values = rules.measure(doc, frozenset(RULES))
    assert values["min_words"] == sum(ch.isalnum() for ch in doc)  # one word per character
    assert "min_mean_word_length" not in values and "min_stop_words" not in values  # not applied
    assert values["min_alpha_words"] == 1.0
    assert fires(doc, GOPHER | {"min_stop_words": 2}) == []  # the paper's thresholds pass good Chinese too
    assert "min_words" in fires("好的。")  # 2 characters
    assert "max_dup_line_frac" in fires("答案是八。\n答案是八。\n答案是八。")
    assert "max_dup_para_frac" in fires("重复的段落。\n\n重复的段落。\n\n另一段。")
    degenerate = ZH_Q + "\n\n" + "我们可以得到结果，" * 8
    hits = fires(degenerate)
    assert "max_top_3gram_char_frac" in hits and "max_dup_5gram_char_frac" in hits
    assert "max_ellipsis_lines" in fires("然后……\n接着……\n最后")
    assert "max_bullet_lines" in fires("- 第一点\n- 第二点\n- 第三点")
    assert "min_alpha_words" in fires("１２３ 456 789 ０ 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 字")
    assert "max_hash_ratio" in fires("#标签 #话题 #热门 #今天")
    assert "max_ellipsis_ratio" in fires("嗯……好……吧……")


# -- PII ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "text", "found"),
    [
        ("EMAIL", "write to jane.doe+sft@example.co.uk today", "jane.doe+sft@example.co.uk"),
        ("PHONE", "call +44 20 7946 0958 now", "+44 20 7946 0958"),
        ("PHONE", "call (415) 555-0132 now", "(415) 555-0132"),
        ("PHONE", "call 415-555-0132 now", "415-555-0132"),
        ("PHONE", "手机号13800138000，请联系", "13800138000"),
        ("PHONE", "tel +86 138 0013 8000", "+86 138 0013 8000"),
        ("IP_ADDRESS", "server at 8.8.8.8 answered", "8.8.8.8"),
        ("IP_ADDRESS", "host 2607:f8b0:4005:80a::200e is up", "2607:f8b0:4005:80a::200e"),
        ("CREDIT_CARD", "card 4111 1111 1111 1111 exp", "4111 1111 1111 1111"),
        ("CREDIT_CARD", "card 5500-0000-0000-0004 exp", "5500-0000-0000-0004"),
        ("CN_ID", "身份证号11010519491231002X。", "11010519491231002X"),
        ("IBAN", "pay GB82 WEST 1234 5698 7654 32 now", "GB82 WEST 1234 5698 7654 32"),
        ("IBAN", "pay DE89370400440532013000 now", "DE89370400440532013000"),
        ("SECRET", "key sk-proj-abcdefghijklmnopqrstuvwx1234", "sk-proj-abcdefghijklmnopqrstuvwx1234"),
        ("SECRET", "token hf_abcdefghijklmnopqrstuvwxyzABCDEF", "hf_abcdefghijklmnopqrstuvwxyzABCDEF"),
        ("SECRET", "ghp_" + "a1" * 18, "ghp_" + "a1" * 18),
        ("SECRET", "aws AKIAIOSFODNN7EXAMPLE key", "AKIAIOSFODNN7EXAMPLE"),
        ("SECRET", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def", "eyJhbGciOiJIUzI1NiJ9.abc.def"),
        ("SECRET", "`export OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz`", "sk-abcdefghijklmnopqrstuvwxyz"),
        ("EMAIL", "$a@b$ and `mail admin@corp.example.com`", "admin@corp.example.com"),
    ],
)
def test_each_pii_kind_is_found_and_masked(kind: str, text: str, found: str) -> None:
    matches = pii.find(text)
    assert [(m.kind, text[m.start : m.end]) for m in matches] == [(kind, found)]
    assert pii.mask(text, matches) == text.replace(found, f"<{kind}>")


@pytest.mark.parametrize(
    "text",
    [
        r"Compute $\frac{13800138000}{2}$.",  # LaTeX math: a number
        r"Compute \frac{13800138000}{2} by hand.",  # a LaTeX argument without $
        r"\[ 4111111111111111 \cdot 2 \]",  # a card-like number in display math
        "In `x = 13800138000` the value",  # inline code
        "```\nphone = 4155550132\nip = 8.8.8.8\n```",  # fenced code
        "upgrade to version 1.2.3.4 today",  # a version string
        "released v10.0.0.1 last week",
        "meeting on 2023-01-15 or 15/01/2023 at 12:30:45",  # dates and times
        "ISBN 978-3-16-148410-0 and ISBN 0-306-40615-2",  # ISBNs
        "order #13912345678 shipped; order no. 4111111111111111",  # order numbers
        "card 4111 1111 1111 1112 fails Luhn",
        "id 110105194912310021 has a wrong check digit",
        "id 11010519491331002X has month 13",
        "GB82 WEST 1234 5698 7654 33 fails mod 97",
        "the LAN 192.168.1.1, loopback 127.0.0.1, doc range 2001:db8::1",
        "sk-short and hf_short are no keys",
        "std::vector<int> and a::b::c in C++",
        "The sum 123456789012345 is large.",  # 15 digits, no issuer prefix and no Luhn
    ],
)
def test_look_alikes_are_not_pii(text: str) -> None:
    assert pii.find(text) == [], text


def test_private_ips_are_masked_only_when_asked() -> None:
    assert [m.kind for m in pii.find("gw 192.168.1.1", private_ips=True)] == ["IP_ADDRESS"]
    assert pii.cn_id_valid("11010519491231002X") and not pii.cn_id_valid("110105194902300025")  # Feb 30
    assert pii.iban_valid("GB82WEST12345698765432") and pii.luhn("4111111111111111")


# -- toxicity -------------------------------------------------------------------------------------------------
def test_word_lists_match_whole_english_words_and_chinese_substrings() -> None:
    assert toxicity.listed_terms("What the FUCK, you bastard!") == ["fuck", "bastard"]
    assert toxicity.listed_terms("你这个傻逼，他妈的。") == ["傻逼", "他妈的"]
    scunthorpe = "Scunthorpe, class, cocktail, assassin, Dickens, shitake, Sussex, analytics, therapist"
    assert toxicity.listed_terms(scunthorpe) == []
    assert toxicity.listed_terms("打开操作系统，拿妈妈的书，他妈妈的书，煞有介事，日本，白菜") == []


# -- config ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("rules:\n  min_wrds: 3\n", "unknown rule 'min_wrds'"),
        ("rules:\n  min_words: lots\n", "must be a number or 'off'"),
        ("rules:\n  min_words: -1\n", "must be >= 0"),
        ("colour: red\n", "unknown key 'colour'"),
        ("rules: [1, 2]\n", "'rules' must map"),
        ("- a\n- b\n", "expected a mapping"),
        ("rules:\n  min_words: [\n", "not valid YAML"),
    ],
)
def test_config_file_mistakes_are_one_line(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "clean.yaml"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as exc:
        load_file(path)
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


def test_config_file_flags_and_presets() -> None:
    assert parse_rule("min_words=off") == ("min_words", None)
    with pytest.raises(InputError, match="NAME=VALUE"):
        parse_rule("min_words")
    cfg = build("gopher", {"min_words": 5}, pii="mask", languages=["en"])
    assert cfg.thresholds["min_words"] == 5 and cfg.thresholds["min_stop_words"] == 2 and cfg.pii == "mask"
    with pytest.raises(InputError, match="needs --languages"):
        build("sft", {}, min_language_score=0.5)
    with pytest.raises(InputError, match="choose one of"):
        build("sft", {}, pii="scrub")
    for name, rule in RULES.items():  # every rule that differs from the paper says why
        assert rule.sft == rule.gopher or rule.why, name


def test_flags_override_the_file_which_overrides_the_preset(tmp_path) -> None:
    from sftkit.commands.clean import build_parser, resolve

    path = tmp_path / "clean.yaml"
    path.write_text(
        "preset: gopher\nfields: instruction,output\nrules:\n  min_words: 5\n  max_words: off\n"
        "languages: [zh]\npii: flag\ntoxicity: off\n"
    )
    args = build_parser().parse_args(
        ["--input", "x.jsonl", "--output", "o.jsonl", "--config", str(path), "--rule", "min_words=2", "--pii", "mask"]
    )
    config, fields = resolve(args)
    assert fields == ("instruction", "output") and config.preset == "gopher" and config.languages == ("zh",)
    assert config.thresholds["min_words"] == 2 and config.thresholds["max_words"] is None
    assert config.thresholds["min_stop_words"] == 2 and config.pii == "mask"  # the file's preset, the flag's pii
    assert config.toxicity == "off"
    config, fields = resolve(build_parser().parse_args(["--input", "x", "--output", "o", "--answer-field", "output"]))
    assert fields == ("problem", "output") and config.preset == "sft" and config.pii == "off"
