"""Nothing published names a local path (on a cluster, ``/home/<user>/...``, or ``results/demo/tiny-model``).

Stage stats record the paths a stage ran with. Before they reach the card or the Hub, a path inside
the dataset folder becomes relative to it, and one outside keeps only its file name. A relative path is
local, as a whole value, when it says so (``./x``, ``../x``), names something on this machine
(``results/demo/tiny-model``, relative to the working folder the stages ran from), has three parts or more
with a word in them (a Hub id has two: ``Qwen/Qwen3-8B``), or is a data file (``data/seeds.jsonl``). A string that is
one absolute path as a whole (``/home/alice/my proj/model``, as stats fields hold) is that path, spaces
included, and so is that path (or a path under its folders) inside other text of the same stats;
elsewhere inside text a path ends at whitespace. Hub ids
(``nvidia/OpenMathReasoning``) and URLs are not absolute paths and stay as they are.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import orjson

from sftkit.errors import InputError
from sftkit.export.layout import SOURCE_SUFFIXES

# an absolute POSIX path, a ~ path or a Windows drive path (``C:\\x``, ``C:/x``), not inside a URL, a word ("a/b",
# "3/4") or a closing tag ("</answer>")
_ABSOLUTE = re.compile(r"(?<![\w.:/\\~<-])(?:~?/|[A-Za-z]:[\\/])[^\s,;'\"()\[\]{}|<>`]+")
# a relative path of two parts or more, as a whole value
_RELATIVE = re.compile(r"(?:\.{1,2}/)?[\w.-]+(?:/[\w.-]+)+/?")
# a value that is one absolute path as a whole (a stats field): spaces and all are part of it
_WHOLE_PATH = re.compile(r"(?:~?/|[A-Za-z]:[\\/])[^\n]*")


def _relative(text: str, roots: tuple[str, ...]) -> str:
    if re.match(r"[A-Za-z]:[\\/]", text):
        return PureWindowsPath(text).name
    path = os.path.normpath(os.path.expanduser(text))
    for root in roots:
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return os.path.relpath(path, root)
    return PurePosixPath(path).name


def _local_relative(text: str) -> bool:
    """A relative path by the rule above; a Hub id (``owner/name``) that is no local folder is not one."""
    if not _RELATIVE.fullmatch(text):
        return False
    parts = text.rstrip("/").split("/")
    return (
        text.startswith(("./", "../"))
        or os.path.lexists(text)
        or (len(parts) > 2 and bool(re.search(r"[A-Za-z]{2}", text)))
        or PurePosixPath(text).suffix in SOURCE_SUFFIXES
    )


def _strings(value: Any) -> Any:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | dict):
        for v in [*value, *value.values()] if isinstance(value, dict) else value:
            yield from _strings(v)


def _spaced(value: Any) -> re.Pattern[str] | None:
    """The whole-value paths with whitespace in them (and their such folders), to find inside other text,
    where a path otherwise ends at whitespace: ``truncated: /home/alice/my proj/model``."""
    found = set()
    for text in _strings(value):
        if _WHOLE_PATH.fullmatch(text) and re.search(r"\s", text):
            path = PurePosixPath(text.rstrip("/"))
            found |= {str(p) for p in (path, *path.parents) if re.search(r"\s", str(p))}
    if not found:
        return None
    alternatives = "|".join(map(re.escape, sorted(found, key=len, reverse=True)))
    return re.compile(rf"(?<![\w.:/\\~<-])(?:{alternatives})(?:/[^\s,;'\"()\[\]{{}}|<>`]*)?")


def publishable(value: Any, root: Path) -> Any:
    """``value`` (JSON-like) with every local path in its strings made relative to ``root`` (or its name)."""
    roots = tuple(dict.fromkeys((os.path.normpath(root.absolute()), os.path.normpath(root.resolve()))))
    spaced = _spaced(value)

    def clean(v: Any) -> Any:
        if isinstance(v, str):
            if _WHOLE_PATH.fullmatch(v):
                return _relative(v, roots)
            if _local_relative(v):
                return _relative(os.path.abspath(v), roots)
            if spaced is not None:
                v = spaced.sub(lambda m: _relative(m.group(0), roots), v)
            return _ABSOLUTE.sub(lambda m: _relative(m.group(0), roots), v)
        if isinstance(v, list):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {clean(k): clean(x) for k, x in v.items()}
        return v

    return clean(value)


def published_json(path: Path, root: Path | None) -> Any:
    """A stats file as it may be published: its JSON, absolute paths made relative to ``root``
    (``root=None``: as written, for reading, never for publishing)."""
    try:
        data = orjson.loads(path.read_bytes())
        return data if root is None else publishable(data, root)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
