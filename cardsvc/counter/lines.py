"""Where commands and answers come from: a person at a terminal, or a script.

A command line is ``WORD [key=value ...] [positional ...]`` (values may be quoted
with shell rules). Interactive use asks for any value a command needs and was not
given, again until it is valid; a script must give every needed value on the
command line (a missing or bad one is a usage error, exit code 2). Secrets (PINs)
are read without echo at a terminal and never printed back.

``read`` waits at most `timeout` seconds for a line when the input is a terminal or
a pipe (a script fed through stdin), then raises :class:`IdleTimeout`; a script file
is read at once. End of input returns None.
"""

from __future__ import annotations

import getpass
import os
import select
import shlex
import stat
import termios
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Protocol, TypeVar

from cardsvc.counter.errors import InputError, SessionEnded, TerminalError

T = TypeVar("T")


class IdleTimeout(TerminalError):  # noqa: N818 - a state, not a fault
    """Nobody typed anything for the idle time."""


Stop = Callable[[], str | None]
"""Asked while waiting for input: a reason to stop waiting (e.g. "card removed"), or None."""

_SLICE_S = 0.2


class LineSource(Protocol):
    scripted: bool

    def read(
        self,
        prompt: str,
        *,
        secret: bool = False,
        timeout: float | None = None,
        stop: Stop | None = None,
    ) -> str | None:
        """The next line (without its newline), or None at end of input.

        Raises IdleTimeout after `timeout` seconds without input, SessionEnded when
        `stop` gives a reason while waiting.
        """
        ...


def _check(stop: Stop | None) -> None:
    reason = stop() if stop is not None else None
    if reason:
        raise SessionEnded(reason)


def _selectable_fd(stream: IO[str]) -> int | None:
    """The stream's descriptor when select() can wait on it (a pipe, terminal, socket)."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        return None  # not a real file (a test's StringIO): lines are there at once
    return None if stat.S_ISREG(mode) else fd


def _wait_fd(fd: int, timeout: float | None, stop: Stop | None) -> None:
    """Wait until `fd` is readable: IdleTimeout after `timeout`, SessionEnded on `stop`."""
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    while True:
        left = _SLICE_S if deadline is None else min(_SLICE_S, deadline - time.monotonic())
        readable, _, _ = select.select([fd], [], [], max(0.0, left))
        if readable:
            return
        _check(stop)
        if deadline is not None and time.monotonic() >= deadline:
            raise IdleTimeout(f"no input for {timeout:g} s")


def _wait_readable(stream: IO[str], timeout: float | None, stop: Stop | None = None) -> None:
    """Wait until `stream` has input (where select works), at most `timeout` seconds."""
    _check(stop)
    fd = _selectable_fd(stream)
    if fd is not None and (timeout is not None or stop is not None):
        _wait_fd(fd, timeout, stop)


class ScriptSource:
    """Commands from a file or stdin, one per line; blank lines and ``#`` comments skipped.

    A pipe or terminal is read straight from its descriptor (no hidden buffer), so the
    idle timeout sees exactly the lines that have arrived.
    """

    scripted = True

    def __init__(self, stream: IO[str], *, echo: Callable[[str], None] | None = None) -> None:
        self._stream = stream
        self._echo = echo
        self._fd = _selectable_fd(stream)
        self._buffer = b""
        self._ahead: list[str] = []
        self._ended = False

    def _raw_line(self, timeout: float | None, stop: Stop | None) -> str | None:
        assert self._fd is not None
        while b"\n" not in self._buffer:
            if timeout is not None or stop is not None:
                _wait_fd(self._fd, timeout, stop)
            chunk = os.read(self._fd, 4096)
            if not chunk:
                rest, self._buffer = self._buffer, b""
                return rest.decode("utf-8", "replace") if rest else None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", "replace")

    def _next_line(self, timeout: float | None = None, stop: Stop | None = None) -> str | None:
        while True:
            if self._fd is not None:
                line = self._raw_line(timeout, stop)
            else:
                _check(stop)
                line = self._stream.readline() or None
            if line is None:
                self._ended = True
                return None
            text = line.strip()
            if text and not text.startswith("#"):
                return text

    def more(self) -> bool:
        """Whether another command follows (reads ahead; waits for a pipe's next line)."""
        if self._ahead:
            return True
        if self._ended:
            return False
        line = self._next_line()
        if line is None:
            return False
        self._ahead.append(line)
        return True

    def read(
        self,
        prompt: str,
        *,
        secret: bool = False,
        timeout: float | None = None,
        stop: Stop | None = None,
    ) -> str | None:
        _check(stop)
        if self._ahead:
            text: str | None = self._ahead.pop(0)
        elif self._ended:
            return None
        else:
            text = self._next_line(timeout, stop)
        if text is not None and self._echo is not None:
            self._echo(prompt + (mask_secrets(text) if not secret else "******"))
        return text


class TerminalSource:
    """A person at the terminal: input() for commands; secrets read with echo off."""

    scripted = False

    def __init__(self, stream: IO[str], ask: Callable[[str], str] | None = None) -> None:
        self._stream = stream
        self._ask = ask or input

    def read(
        self,
        prompt: str,
        *,
        secret: bool = False,
        timeout: float | None = None,
        stop: Stop | None = None,
    ) -> str | None:
        try:
            if secret:
                return self._secret(prompt, timeout, stop)
            if timeout is not None or stop is not None:
                print(prompt, end="", flush=True)
                _wait_readable(self._stream, timeout, stop)
                prompt = ""
            return self._ask(prompt)
        except EOFError:
            return None

    def _secret(self, prompt: str, timeout: float | None, stop: Stop | None) -> str | None:
        """A line typed with echo off (the terminal's echo is off while waiting, too)."""
        fd = _selectable_fd(self._stream)
        if fd is None or not os.isatty(fd):
            if timeout is not None or stop is not None:
                _wait_readable(self._stream, timeout, stop)
            return getpass.getpass(prompt)
        saved = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~termios.ECHO
        # echo off first (dropping anything typed before the prompt), then the prompt
        termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
        print(prompt, end="", flush=True)
        try:
            data = b""
            while not data.endswith(b"\n"):
                if timeout is not None or stop is not None:
                    _wait_fd(fd, timeout, stop)
                chunk = os.read(fd, 256)
                if not chunk:
                    return None
                data += chunk
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            print(flush=True)
        return data.decode("utf-8", "replace").rstrip("\r\n")


SECRET_KEYS = frozenset({"pin", "old", "new", "old_pin", "new_pin", "password"})


def mask_secrets(line: str) -> str:
    """A command line as it may be echoed or logged: PIN values replaced by ******."""
    try:
        words = shlex.split(line)
    except ValueError:
        return line
    if words and words[0].lower() == "pin":
        return "pin ******" if len(words) > 1 else "pin"
    out = []
    for word in words:
        key, sep, _ = word.partition("=")
        out.append(f"{key}=******" if sep and key.lower() in SECRET_KEYS else word)
    return " ".join(out)


@dataclass(frozen=True)
class Command:
    """A parsed command line."""

    word: str
    options: Mapping[str, str] = field(default_factory=dict)
    positional: tuple[str, ...] = ()


def parse_command(line: str) -> Command:
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise InputError("command", f"cannot read the line: {exc}") from None
    if not words:
        raise InputError("command", "empty")
    options: dict[str, str] = {}
    positional: list[str] = []
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if sep and key:
            options[key.lower().replace("-", "_")] = value
        else:
            positional.append(word)
    return Command(words[0].lower(), options, tuple(positional))


class Prompter:
    """Gets each value a command needs: from the command line, else by asking."""

    def __init__(self, source: LineSource, say: Callable[[str], None]) -> None:
        self.source = source
        self._say = say

    def value(
        self,
        command: Command,
        key: str,
        question: str,
        parse: Callable[[str], T],
        *,
        optional: bool = False,
        secret: bool = False,
    ) -> T | None:
        """`key` from the command, parsed; else asked (until valid). None: optional, left out."""
        given = command.options.get(key)
        if given is not None:
            if optional and given == "":
                return None
            return parse(given)
        if self.source.scripted:
            if optional:
                return None
            raise InputError(key, f"missing: give {key}=... on the command line")
        suffix = " (Enter to skip)" if optional else ""
        while True:
            answer = self.source.read(f"{question}{suffix}: ", secret=secret)
            if answer is None:
                raise InputError(key, "no answer (end of input)")
            if optional and not answer.strip():
                return None
            try:
                return parse(answer)
            except InputError as exc:
                self._say(f"{exc.field}: {exc.problem}")

    def required(
        self,
        command: Command,
        key: str,
        question: str,
        parse: Callable[[str], T],
        *,
        secret: bool = False,
    ) -> T:
        result = self.value(command, key, question, parse, secret=secret)
        assert result is not None  # not optional: value() returns or raises
        return result
