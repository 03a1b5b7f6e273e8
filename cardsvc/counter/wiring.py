"""Building the real API and agent clients, the screen and the command source from the
command line (shared by `cardsvc counter` and `cardsvc kiosk`)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final, cast

from cardsvc.counter.errors import InputError
from cardsvc.counter.lines import LineSource, ScriptSource, TerminalSource
from cardsvc.counter.ports import AgentPort, ApiPort
from cardsvc.counter.render import Screen

DEFAULT_API: Final = "http://127.0.0.1:8000"
DEFAULT_AGENT: Final = "http://127.0.0.1:7443"


def make_api(url: str, timeout: float = 10.0) -> ApiPort:
    from cardsvc.client import ApiClient  # noqa: PLC0415 - httpx only when a program runs

    return ApiClient(url, timeout=timeout)


def make_agent(url: str) -> AgentPort:
    """The station agent's client (cardsvc.agent.client.AgentClient)."""
    try:
        module = importlib.import_module("cardsvc.agent.client")
    except ImportError as exc:
        raise InputError(
            "--agent", f"the station agent's client is not installed here ({exc})"
        ) from None
    return cast(AgentPort, module.AgentClient(url))


def make_screen(*, no_color: bool, scripted: bool, file: IO[str] | None = None) -> Screen:
    out = file or sys.stdout
    plain = no_color or scripted or not out.isatty() or "NO_COLOR" in os.environ
    return Screen(out, plain=plain)


def open_script(
    script: str | None, echo: Callable[[str], None] | None = None
) -> tuple[LineSource, IO[str] | None]:
    """The command source: a script file, stdin (``-``), or the person at the terminal.

    A script's commands are echoed (PINs masked) through `echo`, so its output reads
    as a session. Returns the source and the file to close afterwards (None for stdin).
    """
    if script is None:
        return TerminalSource(sys.stdin), None
    if script == "-":
        return ScriptSource(sys.stdin, echo=echo), None
    try:
        stream = Path(script).open(encoding="utf-8")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise InputError("--script", f"cannot read {script}: {exc.strerror or exc}") from None
    return ScriptSource(stream, echo=echo), stream


def read_secret_file(path: str, what: str) -> str:
    """The first line of a file holding a password or credential (not echoed anywhere)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(what, f"cannot read {path}: {exc.strerror or exc}") from None
    secret = text.splitlines()[0].strip() if text.strip() else ""
    if not secret:
        noun = what.lstrip("-").removesuffix("-file")
        raise InputError(what, f"{path} is empty: put the {noun} on its first line")
    return secret


def close_quietly(thing: Any) -> None:
    close = getattr(thing, "close", None)
    if callable(close):
        close()
