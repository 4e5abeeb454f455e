"""Model files: a local folder, or a Hub id that this machine has in its cache or can download.

Compute nodes are often offline. A model that is neither here nor downloadable must stop the run with
one line that names it and says how to fetch it beforehand, not with a transformers traceback minutes
into a job (or, with vLLM, an engine-core failure that hides the cause).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sftkit.errors import InputError


def one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:limit]}{'...' if len(text) > limit else ''}"


def is_local(model: str) -> bool:
    """A folder rather than a Hub id: what exists here, or what cannot be an ``org/name`` id."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or Path(model).expanduser().exists()


def unavailable(model: str, reason: str, needs: str = "", include: str = "", partial: bool = False) -> InputError:
    """The one line for a Hub model this machine does not have (``partial``: has in part) and cannot download."""
    from huggingface_hub import constants

    where = (
        "not whole on this machine" if partial else f"no folder here ({Path(model).absolute()}) nor in the Hub cache"
    )
    if constants.HF_HUB_OFFLINE and not partial:
        reason = f"HF_HUB_OFFLINE is set and it is not in the Hub cache {constants.HF_HUB_CACHE}"
    return InputError(
        f"model {model!r}{needs} is {where} and cannot be downloaded here ({reason}). If it is a Hub model: "
        "compute nodes are often offline: on a machine with internet, with the same HF_HOME, run "
        f"`hf download {model}{include}`, then run the job with HF_HUB_OFFLINE=1."
    )


def missing_folder(model: str) -> InputError:
    """The one line for a model folder that is not there, naming what its parent folder holds."""
    parent = Path(model).expanduser().parent
    held = sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []
    shown = f"; {parent}/ holds: {', '.join(held[:8])}" + (" ..." if len(held) > 8 else "") if held else ""
    return InputError(f"model folder {model!r} does not exist{shown} (a Hub model is named ORG/NAME)")


def require_model(model: str, file: str = "config.json", needs: str = "", include: str = "") -> None:
    """Stop now unless ``model`` is a local folder, or a Hub id whose ``file`` is cached or downloadable
    (only that small file is fetched here; the library loading the model fetches the rest). ``models/tiny``
    is a Hub id in form, but when a local folder ``models/`` exists it is read as the path it more likely is."""
    if is_local(model) or (Path(model).expanduser().parent.is_dir() and Path(model).parent != Path(".")):
        if not Path(model).expanduser().is_dir():
            raise missing_folder(model)
        return
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        hf_hub_download(model, file)
    except EntryNotFoundError as exc:
        if isinstance(exc, LocalEntryNotFoundError):
            raise unavailable(model, one_line(exc), needs, include) from None
        # the Hub has the repository, without this file (a Mistral-format or GGUF repo): the library decides
    except Exception as exc:  # offline, not found, gated, a malformed id: all mean "not usable from here"
        raise unavailable(model, one_line(exc), needs, include) from None


def require_weights(model: str) -> None:
    """For engines that load in a process of their own (vLLM), whose failure would hide the cause: offline,
    a Hub model's cached copy must hold its weights. An interrupted ``hf download`` leaves config.json
    without them; that stops here, in one line. Online, the engine downloads what is missing."""
    from huggingface_hub import constants, snapshot_download

    if is_local(model) or not constants.HF_HUB_OFFLINE:
        return
    folder = Path(snapshot_download(model, local_files_only=True))  # require_model found its config here
    index = folder / "model.safetensors.index.json"
    if index.exists():
        import orjson

        names = sorted(set(orjson.loads(index.read_bytes()).get("weight_map", {}).values()))
        missing = [name for name in names if not (folder / name).exists()]
    else:
        weights = [*folder.glob("*.safetensors"), *folder.glob("*.bin"), *folder.glob("consolidated*.pt*")]
        missing = [] if weights else ["its weights (*.safetensors)"]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise unavailable(model, f"its cached copy in {folder} lacks {shown}: an interrupted download?", partial=True)


@contextmanager
def model_files(model: str, file: str = "config.json", needs: str = "", include: str = "") -> Iterator[None]:
    """Around transformers' ``from_pretrained`` calls: check first, and turn files missing during the load
    (a partial download) into the same one line. vLLM gets ``require_model`` only: its OSErrors are not all
    about files (a port in use)."""
    require_model(model, file, needs, include)
    try:
        yield
    except OSError as exc:
        if is_local(model):
            raise InputError(f"model {model!r} failed to load: {one_line(exc)}") from None
        raise unavailable(model, one_line(exc), needs, include) from None
