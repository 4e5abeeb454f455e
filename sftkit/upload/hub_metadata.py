"""The card's YAML values checked against the Hub's own lists, so a typo is refused here, not published.

License ids, task categories and size categories come from ``hub_lists.json`` (shipped with the package; its
``_source`` names where and when each list was copied); language codes from the ``languages.json`` that the
pinned ``datasets`` package ships (ISO 639 codes with their English names). An unknown value is one line naming
the nearest valid one: ``--license CC-BY-4.0`` -> ``cc-by-4.0``, ``--language english`` -> ``en``.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

from sftkit.errors import InputError


@cache
def hub_lists() -> dict[str, Any]:
    return json.loads(resources.files("sftkit.upload").joinpath("hub_lists.json").read_text(encoding="utf-8"))


@cache
def languages() -> dict[str, str]:
    """ISO 639 code -> English name, as the datasets library validates a card's ``language``."""
    text = resources.files("datasets.utils.resources").joinpath("languages.json").read_text(encoding="utf-8")
    return json.loads(text)


def _nearest(value: str, valid: list[str], names: dict[str, str] | None = None) -> str | None:
    """The valid value a mistyped one most likely meant: same letters in another case, a language's English
    name, else the closest spelling."""
    folded = {v.lower(): v for v in valid}
    if value.lower() in folded:
        return folded[value.lower()]
    by_name = {name.lower(): code for code, name in (names or {}).items()}
    if value.lower() in by_name:
        return by_name[value.lower()]
    close = difflib.get_close_matches(value.lower(), [*folded, *by_name], n=1, cutoff=0.6)
    if not close:
        return None
    return folded.get(close[0]) or by_name[close[0]]


def _check(flag: str, values: list[str], valid: list[str], names: dict[str, str] | None = None) -> None:
    for value in values:
        code = value.split("-")[0] if names is not None else value  # a language may carry a region: zh-Hans
        if code in valid:
            continue
        near = _nearest(value, valid, names)
        hint = f"did you mean {near!r}?" if near else f"the valid values are listed in {_where(flag)}"
        raise InputError(f"{flag} {value}: not a value the Hugging Face Hub knows; {hint}")


def _where(flag: str) -> str:
    return "datasets' languages.json" if flag == "--language" else "sftkit/upload/hub_lists.json"


def check_metadata(
    license: str | None, language: list[str] | None, task_categories: list[str] | None, flag: str = "--license"
) -> None:
    """Each value given must be one the Hub lists (None: not given, nothing to check)."""
    lists = hub_lists()
    if license is not None and license.strip():
        _check(flag, [license], lists["license"])
    if language is not None:
        _check("--language", language, list(languages()), languages())
    if task_categories is not None:
        _check("--task-categories", task_categories, lists["task_categories"])
