"""The counter's parts without a server: the item catalogue against the services' own
table, input checking, the prompts, rendering, problem messages."""

from __future__ import annotations

import io
from typing import Any

import pytest

from cardsvc.client import ApiProblem
from cardsvc.counter import exits, values
from cardsvc.counter.catalogue import ITEMS, KIOSK_ITEMS, allowed_items, item
from cardsvc.counter.errors import InputError
from cardsvc.counter.lines import (
    Command,
    IdleTimeout,
    Prompter,
    ScriptSource,
    mask_secrets,
    parse_command,
)
from cardsvc.counter.outcome import Outcome, run_guarded
from cardsvc.counter.ports import problem_of, slug_of
from cardsvc.counter.render import Screen
from cardsvc.counter.views import money, view_of
from cardsvc.db.models import ItemCode
from cardsvc.services import scope


def test_catalogue_matches_the_services_item_table() -> None:
    assert [entry.code for entry in ITEMS] == [code.value for code in ItemCode]
    assert {entry.code for entry in KIOSK_ITEMS} == {code.value for code in scope.KIOSK_ITEMS}
    clerk = {entry.code for entry in allowed_items({"clerk"})}
    assert clerk == {code.value for code in scope.CLERK_ITEMS}
    supervisor = {entry.code for entry in allowed_items({"supervisor"})}
    assert supervisor == {code.value for code in scope.SUPERVISOR_ITEMS}
    assert allowed_items({"reviewer"}) == ()
    assert allowed_items({"administrator"}) == ()
    assert item(" c06 ") is not None
    assert item("X99") is None


@pytest.mark.parametrize(
    ("parse", "good", "expected"),
    [
        (values.ssn, "370402199001011238", "370402199001011238"),
        (values.card_number, "a00000011", "A00000011"),
        (values.credit_code, "9137040295827195xw", "9137040295827195XW"),
        (lambda t: values.date(t, "d"), "2026-12-01", "2026-12-01"),
        (values.phone, "+86 138-0000-0000", "+86 138-0000-0000"),
        (values.pin, "123456", "123456"),
    ],
)
def test_values_accept_valid_input(parse: Any, good: str, expected: str) -> None:
    assert parse(good) == expected


@pytest.mark.parametrize(
    ("parse", "bad", "field"),
    [
        (values.ssn, "370402199001011239", "ssn"),  # wrong check digit
        (values.card_number, "A00000012", "card"),
        (values.credit_code, "91370402MA3C00000X", "employer"),
        (lambda t: values.date(t, "start"), "2026-02-30", "start"),
        (lambda t: values.date(t, "start"), "1/2/2026", "start"),
        (values.phone, "12", "phone"),
        (values.pin, "12a4", "pin"),
        (lambda t: values.yes_no(t, "able"), "maybe", "able"),
        (lambda t: values.choice(t, values.CONTRACT_TYPES, "contract"), "forever", "contract"),
        (lambda t: values.free_text(t, "address", max_length=5), "toolong", "address"),
    ],
)
def test_values_refuse_bad_input_naming_the_field(parse: Any, bad: str, field: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(bad)
    assert caught.value.field == field
    assert bad not in caught.value.problem or field == "address"


def test_pin_errors_never_repeat_the_pin() -> None:
    with pytest.raises(InputError) as caught:
        values.pin("98765x")
    assert "98765" not in str(caught.value)


def test_command_lines_and_masking() -> None:
    command = parse_command('R05 phone=13800000000 address="光明路 1 号" extra')
    assert command == Command("r05", {"phone": "13800000000", "address": "光明路 1 号"}, ("extra",))
    assert mask_secrets("C06 id_checked=y new_pin=654321") == "C06 id_checked=y new_pin=******"
    assert mask_secrets("pin 123456") == "pin ******"
    with pytest.raises(InputError):
        parse_command('E01 "unclosed')


class Answers:
    """A person at the terminal typing `answers` in order."""

    scripted = False

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def read(self, prompt: str, **kw: Any) -> str | None:
        self.prompts.append(prompt)
        return self.answers.pop(0) if self.answers else None


def test_prompter_asks_again_until_valid() -> None:
    said: list[str] = []
    source = Answers("2026-13-01", "2026-12-01", "")
    prompter = Prompter(source, said.append)
    got = prompter.required(
        Command("r01"), "start", "start date", lambda t: values.date(t, "start")
    )
    assert got == "2026-12-01"
    assert len(source.prompts) == 2
    assert said == ["start: a date as YYYY-MM-DD, e.g. 2026-12-01"]
    # an optional value is skipped with Enter
    assert prompter.value(Command("r03"), "start", "q", values.phone, optional=True) is None


def test_prompter_in_a_script_needs_the_value_on_the_line() -> None:
    prompter = Prompter(ScriptSource(io.StringIO("")), lambda _: None)
    with pytest.raises(InputError, match=r"give start=\.\.\. on the command line"):
        prompter.required(Command("r01"), "start", "start date", values.phone)
    assert prompter.value(Command("r03"), "start", "q", values.phone, optional=True) is None


def test_script_source_skips_comments_and_times_out_on_a_silent_pipe() -> None:
    source = ScriptSource(io.StringIO("# a comment\n\n  E01  \n"))
    assert source.read("> ") == "E01"
    assert source.read("> ") is None
    import os  # noqa: PLC0415

    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, encoding="utf-8") as pipe, pytest.raises(IdleTimeout):
            ScriptSource(pipe).read("> ", timeout=0.2)
    finally:
        os.close(write_end)


def test_plain_screen_has_no_colour_and_rich_screen_has() -> None:
    plain_out, rich_out = io.StringIO(), io.StringIO()
    data = {"eligible": False, "rule": "R", "reasons": ["not registered"], "months_paid": 3}
    Screen(plain_out, plain=True).view(view_of("B01", data))
    rich = Screen(rich_out, force_terminal=True)  # as on a terminal
    rich.view(view_of("B01", data))
    assert "\x1b[" not in plain_out.getvalue()
    assert "[no] not eligible" in plain_out.getvalue()
    assert "rule: R" in plain_out.getvalue()
    assert "- not registered" in plain_out.getvalue()
    assert "\x1b[" in rich_out.getvalue()


def test_money_is_yuan_with_two_decimals() -> None:
    assert money(123456) == "1,234.56"
    assert money(-5) == "-0.05"
    assert money(None) == "-"


def test_problems_become_messages_and_exit_codes() -> None:
    out = io.StringIO()
    screen = Screen(out, plain=True)
    outcome = Outcome()

    def refuse() -> None:
        raise ApiProblem(
            409,
            "https://cardsvc.invalid/problems/conflict",
            "Conflict",
            "a registration of this kind exists",
            extra={"current": "open"},
        )

    run_guarded(screen, outcome, refuse)
    assert outcome.code == exits.REFUSED
    assert (
        "refused: Conflict: a registration of this kind exists (now: open) [409 conflict]"
        in out.getvalue()
    )

    def down() -> None:
        raise ApiProblem(0, "about:unreachable", "The API cannot be reached", "check --api")

    run_guarded(screen, outcome, down)
    assert outcome.code == exits.UNREACHABLE
    assert outcome.failures == 2
    assert slug_of("about:unreachable") == "unreachable"
    problem = problem_of(
        ApiProblem(403, "https://x/problems/wrong-pin", "t", extra={"tries_left": 2})
    )
    assert problem is not None
    assert problem.slug == "wrong-pin"
    assert problem.extra["tries_left"] == 2
    assert problem_of(ValueError("x")) is None


def test_every_item_has_a_view() -> None:
    for entry in ITEMS:
        view = view_of(entry.code, {})
        assert view.title.startswith(entry.code)
