"""The terminal output of the counter and kiosk programs, with rich.

Colour and box-drawing tables on a terminal; with ``plain`` (``--no-color``, script
mode, or output that is not a terminal) the same content without colour, ASCII
tables and one message per line, so logs and tests can read it. Messages start with
a fixed word (``ok:``, ``refused:``, ``error:``, ``note:``) in plain mode.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import IO

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from cardsvc.counter.catalogue import Item
from cardsvc.counter.views import Block, Decision, Fields, Table, View


class Screen:
    """Where the programs write: rich on a terminal, plain text otherwise."""

    def __init__(
        self,
        file: IO[str] | None = None,
        *,
        plain: bool = False,
        width: int = 100,
        force_terminal: bool | None = None,
    ) -> None:
        self.plain = plain
        self.console = Console(
            file=file,
            no_color=plain,
            force_terminal=False if plain else force_terminal,
            highlight=False,
            emoji=False,
            soft_wrap=plain,
            width=width if plain else None,
        )
        self._box = box.ASCII if plain else box.SIMPLE_HEAVY

    # ------------------------------------------------------------------ messages

    def _say(self, word: str, style: str, message: str) -> None:
        self.console.print(f"[{style}]{word}:[/] {escape(message)}")

    def info(self, message: str) -> None:
        self.console.print(escape(message))

    def ok(self, message: str) -> None:
        self._say("ok", "bold green", message)

    def note(self, message: str) -> None:
        self._say("note", "yellow", message)

    def refused(self, message: str) -> None:
        self._say("refused", "bold red", message)

    def error(self, message: str) -> None:
        self._say("error", "bold red", message)

    @contextlib.contextmanager
    def waiting(self, message: str) -> Iterator[None]:
        """A spinner while waiting (a single line in plain mode)."""
        if self.plain:
            self.info(message)
            yield
            return
        with self.console.status(escape(message), spinner="dots"):
            yield

    # ------------------------------------------------------------------ views

    def view(self, view: View) -> None:
        self.console.print(f"[bold cyan]{escape(view.title)}[/]")
        for block in view.blocks:
            self.block(block)

    def block(self, block: Block) -> None:
        if isinstance(block, Fields):
            self._fields(block)
        elif isinstance(block, Table):
            self._table(block)
        else:
            self._decision(block)

    def _fields(self, block: Fields) -> None:
        table = RichTable(
            title=escape(block.title) or None,
            show_header=False,
            box=self._box if self.plain else box.SIMPLE,
            title_justify="left",
        )
        table.add_column("field", style="bold")
        table.add_column("value")
        for label, value in block.rows:
            table.add_row(escape(label), escape(value))
        self.console.print(table)

    def _table(self, block: Table) -> None:
        table = RichTable(
            title=escape(block.title) or None,
            caption=escape(block.footer) or None,
            box=self._box,
            header_style="bold",
            title_justify="left",
        )
        for column in block.columns:
            table.add_column(escape(column))
        for row in block.rows:
            table.add_row(*(escape(cell) for cell in row))
        if not block.rows:
            self.console.print("  (none)")
            return
        self.console.print(table)

    def _decision(self, block: Decision) -> None:
        style, mark = {
            True: ("bold green", "yes"),
            False: ("bold red", "no"),
            None: ("bold", "done"),
        }[block.verdict]
        self.console.print(f"  [{style}]\\[{mark}] {escape(block.headline)}[/]")
        self.console.print(f"  rule: {escape(block.rule)}")
        for reason in block.reasons:
            self.console.print(f"    - {escape(reason)}")

    def items(self, items: Sequence[Item], title: str = "business items") -> None:
        table = RichTable(title=title, box=self._box, header_style="bold", title_justify="left")
        for column in ("code", "item", "", "API"):
            table.add_column(column)
        for entry in items:
            table.add_row(entry.code, entry.title, entry.title_zh, escape(entry.route))
        self.console.print(table)
