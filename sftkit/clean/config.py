"""Which filters run and with what thresholds: two presets, a YAML file, and flags on top.

Every rule has a name, a Gopher value (Rae et al. 2021, table A1 and section A.1.1, as datatrove 0.10.1's
GopherQualityFilter and GopherRepetitionFilter implement them) and an SFT value (the default). The SFT value
differs where instruction rows, which are short and full of math and code, would otherwise be dropped
for being short, not for being bad; ``RULES[name].why`` says why. ``None`` turns a rule off.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from sftkit.errors import InputError


@dataclass(frozen=True)
class Rule:
    """One threshold: ``kind`` is "min" (a value below it fires) or "max" (a value above it fires)."""

    kind: str
    gopher: float | None
    sft: float | None
    what: str
    why: str = ""  # why the SFT value differs from the paper's


RULES: dict[str, Rule] = {
    "min_words": Rule(
        "min",
        50,
        3,
        "words (letters or digits; one per CJK character)",
        "an instruction and its answer can be a dozen words; under 3 is an empty or broken row",
    ),
    "max_words": Rule("max", 100_000, 100_000, "words"),
    "min_mean_word_length": Rule(
        "min",
        3,
        1.5,
        "mean characters per word, spaced scripts only (sft: numbers left out)",
        "math uses one-letter variables: 'find x such that x = 2y' has a mean of 2.3",
    ),
    "max_mean_word_length": Rule(
        "max",
        10,
        12,
        "mean characters per word, spaced scripts only",
        "code identifiers (snake_case_names) are one word each",
    ),
    "max_hash_ratio": Rule("max", 0.1, 0.1, "'#' per word (Markdown heading marks not counted under sft)"),
    "max_ellipsis_ratio": Rule("max", 0.1, 0.1, "'...' and '…' per word"),
    "max_bullet_lines": Rule("max", 0.9, 0.9, "share of lines starting with '•' or '-'"),
    "max_ellipsis_lines": Rule("max", 0.3, 0.3, "share of lines ending with '...' or '…'"),
    "min_alpha_words": Rule(
        "min",
        0.8,
        0.25,
        "share of words with a letter (gopher: of words and symbols)",
        "a math row is numbers and operators: 'x^2 - 5x + 6 = 0' is 3 of 9 words and symbols",
    ),
    "min_stop_words": Rule(
        "min",
        2,
        None,
        "distinct English stop words (the, be, to, of, and, that, have, with)",
        "a short instruction ('Solve 2x+3=7.') has none; language ID does this job",
    ),
    "max_dup_para_frac": Rule("max", 0.3, 0.3, "share of paragraphs that repeat an earlier one"),
    "max_dup_para_char_frac": Rule("max", 0.2, 0.2, "characters in repeated paragraphs / all characters"),
    "max_dup_line_frac": Rule("max", 0.3, 0.3, "share of lines that repeat an earlier line"),
    "max_dup_line_char_frac": Rule("max", 0.2, 0.2, "characters in repeated lines / all characters"),
    **{
        f"max_top_{n}gram_char_frac": Rule("max", v, v, f"characters of the most frequent word {n}-gram / all")
        for n, v in ((2, 0.2), (3, 0.18), (4, 0.16))
    },
    **{
        f"max_dup_{n}gram_char_frac": Rule("max", v, v, f"characters in repeated word {n}-grams / all")
        for n, v in ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))
    },
}

PRESETS = ("sft", "gopher")
PII_MODES = ("off", "mask", "drop", "flag")
TOXICITY_MODES = ("off", "flag", "drop")


@dataclass(frozen=True)
class CleanConfig:
    """Everything that decides a row's fate (recorded in the run's settings, so a change is not resumed)."""

    preset: str = "sft"
    thresholds: dict[str, float | None] = field(default_factory=dict)
    languages: tuple[str, ...] = ()
    min_language_score: float = 0.0
    pii: str = "off"
    pii_private_ips: bool = False
    toxicity: str = "off"
    toxicity_model: str | None = None
    toxicity_threshold: float = 0.5

    @property
    def gopher_mode(self) -> bool:
        """The paper's counting where the SFT preset counts differently (top n-grams seen once, '#' of headings,
        symbol-only lines as duplicates), so that the bench compares like with like."""
        return self.preset == "gopher"


def preset_thresholds(preset: str) -> dict[str, float | None]:
    return {name: getattr(rule, preset) for name, rule in RULES.items()}


def _threshold(name: str, value: Any, where: str) -> float | None:
    if name not in RULES:
        raise InputError(f"{where}: unknown rule {name!r}; rules: {', '.join(RULES)}")
    if value is None or value is False or (isinstance(value, str) and value.lower() in ("off", "none", "null")):
        return None  # YAML reads a bare `off` as False
    if value is True:
        raise InputError(f"{where}: rule {name} must be a number or 'off', not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: rule {name} must be a number or 'off', not {value!r}") from None
    if number < 0:
        raise InputError(f"{where}: rule {name} must be >= 0, not {value!r}")
    return number


def parse_rule(text: str) -> tuple[str, float | None]:
    """``NAME=VALUE`` from ``--rule``; VALUE 'off' turns the rule off."""
    name, sep, value = text.partition("=")
    if not sep:
        raise InputError(f"--rule {text!r}: expected NAME=VALUE (VALUE a number or 'off')")
    return name.strip(), _threshold(name.strip(), value.strip(), "--rule")


_FILE_KEYS = ({f.name for f in fields(CleanConfig)} - {"thresholds"}) | {"rules", "fields"}


def load_file(path: str | Path) -> dict[str, Any]:
    """The YAML file's settings, checked: an unknown key, rule or value is one line naming the file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"--config {path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise InputError(f"--config {path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"--config {path}: expected a mapping of settings, got {type(data).__name__}")
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise InputError(f"--config {path}: unknown key {unknown[0]!r}; keys: {', '.join(sorted(_FILE_KEYS))}")
    rules = data.get("rules") or {}
    if not isinstance(rules, dict):
        raise InputError(f"--config {path}: 'rules' must map rule names to numbers or 'off'")
    out = dict(data)
    out["rules"] = {name: _threshold(str(name), value, f"--config {path}") for name, value in rules.items()}
    for key in ("pii", "toxicity"):
        if out.get(key) is False:  # a bare `off`
            out[key] = "off"
    for key in ("languages", "fields"):
        if isinstance(out.get(key), str):
            out[key] = [s.strip() for s in out[key].split(",") if s.strip()]
    return out


def build(preset: str, rules: dict[str, float | None], **options: Any) -> CleanConfig:
    """The config of ``preset`` with ``rules`` overriding its thresholds; options checked here, once."""
    if preset not in PRESETS:
        raise InputError(f"preset {preset!r}: choose one of {', '.join(PRESETS)}")
    config = replace(CleanConfig(), preset=preset, thresholds={**preset_thresholds(preset), **rules})
    config = replace(config, **{k: v for k, v in options.items() if v is not None})
    if config.pii not in PII_MODES:
        raise InputError(f"pii {config.pii!r}: choose one of {', '.join(PII_MODES)}")
    if config.toxicity not in TOXICITY_MODES:
        raise InputError(f"toxicity {config.toxicity!r}: choose one of {', '.join(TOXICITY_MODES)}")
    if config.toxicity_model and config.toxicity == "off":
        raise InputError("--toxicity-model needs --toxicity flag or drop")
    if not 0 <= config.min_language_score <= 1:
        raise InputError("--min-language-score must be in [0, 1]")
    if config.min_language_score and not config.languages:
        raise InputError("--min-language-score needs --languages (e.g. --languages en,zh)")
    return replace(config, languages=tuple(config.languages))
