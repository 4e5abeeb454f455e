"""Reading items out of a completion by ``--parse`` mode, and the checks every item passes.

Modes (``MODE[:KEY,KEY]``): ``text`` (the whole completion as one item, field KEY, default ``text``);
``tags:A,B`` (the last complete ``<A>…</A>`` of each tag, byte-exact apart from surrounding space; a
JSON object with those keys is accepted instead); ``json:A,B`` (one object: a fenced block, the whole
text or the last object in it); ``json-list[:A,B]`` (an array of objects or strings, each item a row; a
string item goes to field A, default ``text``); ``lines[:A]`` (a numbered or bulleted list, each item a
row). The last two fan out. JSON is read by ``latex_json``, which keeps LaTeX backslashes.

Each item is checked, and rejected with a reason when it fails: an item that does not parse (for a JSON
list, that item only), an empty field, a control character other than newline (``\\r\\n`` and ``\\r``
become ``\\n``, a tab a space), or a refusal ("I'm sorry", "As an AI", "抱歉", "作为一个AI", ...; not
the sympathy or apology that opens a real answer, "I'm sorry to hear", "I'm sorry I missed your party",
"很抱歉给您带来不便"). An empty JSON list
is rejected as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sftkit.data.fields import number_text
from sftkit.errors import InputError
from sftkit.generate.latex_json import FENCE, extract_json_object, loads_keeping_latex

MODES = ("text", "tags", "json", "json-list", "lines")
FAN_OUT = ("json-list", "lines")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")  # C0, DEL, C1, line separators
# "I'm sorry to hear", "I'm sorry I missed your party", "很抱歉给您带来不便", "I can't help but": a real answer
_REFUSAL = re.compile(
    r"^[\W_]*(?:(?:i[’']?m|i am) (?:so |very |really |truly )?sorry(?:[,.!]| but\b| i (?:can|won|am not|am unable"
    r"|[’']?m (?:not|unable))| for (?:any |the )?confusion)|sorry, (?:but )?i|i apologi[sz]e|as an ai\b|"
    r"as an? (?:ai )?(?:large )?language model|"
    r"i (?:cannot|can[’']?t|can not|am unable to|[’']?m unable to) (?:help(?! but)|assist|comply|fulfil|provide|create|"
    r"generate|do that)|(?:很)?抱歉(?!听到|得知|给您|给你|让您|让你)|对不起|"
    r"作为一[个名](?:ai|人工智能|语言模型)|作为(?:ai|人工智能)|我无法|我不能)",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(
    r"^\s*(?:(?:\*\*)?(?:[(（]?\d+[.)）、．:](?!\d)|\d+\s*[-–]|[一二三四五六七八九十百]+[、．.])(?:\*\*)?|[-*•·])\s*(.*\S)?\s*$"
)
REFUSAL = "refusal"


@dataclass(frozen=True)
class ParseSpec:
    """How a completion becomes items: the mode and the fields it reads or writes."""

    mode: str
    keys: tuple[str, ...]

    @property
    def fans_out(self) -> bool:
        return self.mode in FAN_OUT

    @property
    def main(self) -> str | None:
        """The field an item is compared by (copy, keywords, length, novelty): the first key."""
        return self.keys[0] if self.keys else None

    def __str__(self) -> str:
        return self.mode + (":" + ",".join(self.keys) if self.keys else "")


def parse_spec(text: str) -> ParseSpec:
    """``--parse`` as a ParseSpec, or one line saying what is wrong."""
    mode, _, rest = text.partition(":")
    keys = tuple(k.strip() for k in rest.split(",") if k.strip())
    if mode not in MODES:
        raise InputError(f"--parse {text!r}: the modes are {', '.join(MODES)} (e.g. tags:question,answer)")
    if mode == "tags" and not keys:
        raise InputError(f"--parse {text!r}: name the tags, e.g. tags:question,answer")
    if mode in ("text", "lines") and len(keys) > 1:
        raise InputError(f"--parse {text!r}: {mode} writes one field; name at most one")
    if mode in ("text", "lines") and not keys:
        keys = ("text",)
    if len(set(keys)) != len(keys) or any(not re.fullmatch(r"\w+", k) for k in keys):
        raise InputError(f"--parse {text!r}: field names are distinct words (letters, digits, _)")
    return ParseSpec(mode, keys)


def _names(keys: tuple[str, ...], quote: str = "'") -> str:
    quoted = [f"{quote}{k}{quote}" for k in keys]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def last_block(text: str, tag: str) -> str | None:
    """The text of the last complete ``<tag>…</tag>`` (drafts before it are ignored), stripped."""
    close = text.rfind(f"</{tag}>")
    start = text.rfind(f"<{tag}>", 0, close) if close >= 0 else -1
    return None if start < 0 else text[start + len(tag) + 2 : close].strip()


def clean_text(value: str, name: str) -> tuple[str | None, str | None]:
    """(text, None) with line ends as ``\\n`` and tabs as spaces, or (None, the control character found)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    bad = _CONTROL.search(value)
    if bad:
        return None, f"control character U+{ord(bad.group()):04X} in {name}"
    return value.strip(), None


def refuses(text: str) -> bool:
    """The text opens with a refusal ("I'm sorry", "As an AI", "抱歉", ...)."""
    return bool(_REFUSAL.match(text[:200]))


def _scalar(value: Any) -> Any:
    """A JSON number as the text a person writes (7.0 as 7); anything else unchanged."""
    return number_text(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _object_item(obj: dict[str, Any], keys: tuple[str, ...], what: str) -> tuple[dict | None, str | None]:
    """The keys of an object as an item (every key when none is named), or why it has none."""
    if not keys:
        return ({k: _scalar(v) for k, v in obj.items()}, None) if obj else (None, f"empty {what}")
    values = {k: _scalar(obj.get(k)) for k in keys}
    if not all(isinstance(v, str) for v in values.values()):
        return None, f"{what} lacks a string {_names(keys)}"
    return values, None


def _tags(text: str, keys: tuple[str, ...]) -> tuple[dict | None, str | None]:
    blocks = {k: last_block(text, k) for k in keys}
    if all(v is not None for v in blocks.values()):
        return blocks, None
    obj = extract_json_object(text)
    if obj is None:
        absent = [k for k, v in blocks.items() if v is None]
        if len(absent) == len(keys):
            tags = "/".join(f"<{k}>" for k in keys)
            return None, f"no {tags} block{'s' * (len(keys) > 1)} and no JSON object in the generation"
        return None, f"no complete {', '.join(f'<{k}>…</{k}>' for k in absent)} block and no JSON object"
    return _object_item(obj, keys, "JSON object")


_ITEM_START = {dict: re.compile(r"\}\s*,\s*(?=\{)"), str: re.compile(r",\s*(?=\")")}


def _lenient_array(text: str, start: int) -> list[tuple[Any, str | None]] | None:
    """The items of the array opening at ``start``, each read alone: an item that is not JSON is
    (None, why) and reading goes on at the next item, so one broken item costs only itself."""
    items: list[tuple[Any, str | None]] = []
    pos, kind = start + 1, None
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return items or None
        try:
            value, pos = loads_keeping_latex(text, pos, whole=False)
            kind = kind or type(value)
            items.append((value, None))
        except ValueError:
            resume = _ITEM_START.get(kind or (dict if text[pos] == "{" else str), _ITEM_START[dict]).search(text, pos)
            items.append((None, "list item is not valid JSON"))
            if resume is None:
                return items
            pos = resume.end()


def json_list(text: str) -> list[tuple[Any, str | None]] | None:
    """The array in a fenced block or the text (item by item when it is not valid JSON as a whole). Prose
    before it may hold brackets ("Here are [3] tasks:"): the first array of objects or strings (or an empty
    one) is taken, else the broken array whose items read best one by one, else the first array. A ``[``
    inside an array read whole is part of it, never an array of its own."""
    for candidate in [m.strip() for m in reversed(FENCE.findall(text))] + [text]:
        first, starts, end = None, [], -1
        for match in re.finditer(r"\[", candidate):
            if match.start() < end:
                continue
            try:
                value, end = loads_keeping_latex(candidate, match.start(), whole=False)
            except ValueError:
                starts.append(match.start())
                continue
            if not value or any(isinstance(v, dict | str) for v in value):
                return [(v, None) for v in value]
            first = first if first is not None else value
        best = max(
            (_lenient_array(candidate, start) or [] for start in starts),
            key=lambda items: sum(why is None and isinstance(v, dict | str) for v, why in items),
            default=[],
        )
        if any(why is None and isinstance(v, dict | str) for v, why in best):
            return best
        if first is not None:
            return [(v, None) for v in first]
        if any(why is None for _, why in best):
            return best
    return None


def list_lines(text: str) -> list[str]:
    """The items of a numbered or bulleted list; an unmarked line continues the item above it until a
    blank line, and text before the first item or after the list is left out."""
    items: list[list[str]] = []
    open_item = False
    for line in text.splitlines():
        marked = _LIST_ITEM.match(line)
        if marked:
            items.append([marked.group(1) or ""])
            open_item = True
        elif not line.strip():
            open_item = False
        elif open_item:
            items[-1].append(line.strip())
    return ["\n".join(parts).strip() for parts in items]


def raw_items(text: str, spec: ParseSpec) -> tuple[list[tuple[dict | None, str | None]], str | None]:
    """The items in a completion before their checks, each (item, None) or (None, why); or why it has none."""
    keys = spec.keys
    if spec.mode == "text":
        return [({keys[0]: text}, None)], None
    if spec.mode == "tags":
        return [_tags(text, keys)], None
    if spec.mode == "json":
        obj = extract_json_object(text)
        return ([_object_item(obj, keys, "JSON object")], None) if obj is not None else ([], "no JSON object")
    if spec.mode == "lines":
        lines = list_lines(text)
        return ([({keys[0]: line}, None) for line in lines], None) if lines else ([], "no numbered or bulleted list")
    found = json_list(text)
    if not found:
        return [], "no JSON list" if found is None else "empty JSON list"
    items = []
    for value, why in found:
        if why:
            items.append((None, why))
        elif isinstance(value, dict):
            items.append(_object_item(value, keys, "list item"))
        elif isinstance(value, str):
            items.append(({keys[0] if keys else "text": value}, None))
        else:
            items.append((None, "list item is neither an object nor a string"))
    return items, None


def check_item(item: dict[str, Any], spec: ParseSpec) -> tuple[dict[str, Any] | None, str | None]:
    """The item with its text fields cleaned, or why it is rejected (a control character, an empty
    field, a refusal)."""
    out = dict(item)
    for key, value in item.items():
        if isinstance(value, str):
            out[key], why = clean_text(value, key)
            if why:
                return None, why
    texts = [k for k in (spec.keys or tuple(out)) if isinstance(out.get(k), str)]
    if any(not out[k] for k in texts):
        return None, f"empty {' or '.join(spec.keys)}" if spec.keys else "empty field"
    if any(refuses(out[k]) for k in texts):
        return None, REFUSAL
    return out, None
