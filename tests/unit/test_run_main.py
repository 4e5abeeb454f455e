"""run_main: what a user's mistake looks like at the end of any command."""

from __future__ import annotations

import errno

import pytest

from sftkit.cli import run_main
from sftkit.errors import InputError

pytestmark = pytest.mark.unit


def _raise(exc: BaseException):
    def main() -> int:
        raise exc

    return main


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (InputError("--input x.jsonl: no such file"), "error: --input x.jsonl: no such file"),
        (
            PermissionError(errno.EACCES, "Permission denied", "/data/out.jsonl"),
            "error: /data/out.jsonl: Permission denied",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "/scratch/p.jsonl"),
            "error: /scratch/p.jsonl: No space left on device",
        ),
    ],
)
def test_a_users_mistake_is_one_line_and_exit_2(exc: BaseException, line: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        run_main(_raise(exc))
    assert done.value.code == 2 and capsys.readouterr().err.splitlines() == [line]


def test_an_os_error_that_is_no_users_mistake_keeps_its_traceback() -> None:
    with pytest.raises(ConnectionResetError):
        run_main(_raise(ConnectionResetError(errno.ECONNRESET, "reset")))
