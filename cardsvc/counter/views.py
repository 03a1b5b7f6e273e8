"""The API's answers as display blocks: fields, tables, decisions with their reasons.

One function per item turns the JSON the API answered into a :class:`View` (a
title and blocks). The counter renders views with rich (cardsvc.counter.render); the
kiosk's receipt renders the same views as text and PDF (cardsvc.kiosk.receipt).
Money is in fen in the API and shown in yuan with two decimals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cardsvc.counter.catalogue import BY_CODE
from cardsvc.idcheck import mask_ssn


@dataclass(frozen=True, slots=True)
class Fields:
    rows: tuple[tuple[str, str], ...]
    title: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""
    footer: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """An eligibility answer: the verdict, the rule that decided, and its reasons."""

    verdict: bool | None
    headline: str
    rule: str
    reasons: tuple[str, ...]


Block = Fields | Table | Decision


@dataclass(frozen=True, slots=True)
class View:
    title: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)


def money(fen: object) -> str:
    """Fen as yuan: 123456 → '1,234.56'."""
    if not isinstance(fen, int):
        return "-"
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def text(value: object) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def month(value: object) -> str:
    raw = text(value)
    return f"{raw[:4]}-{raw[4:]}" if len(raw) == 6 and raw.isdigit() else raw


def when(value: object) -> str:
    """An ISO timestamp shortened to minutes, UTC."""
    raw = text(value)
    if len(raw) >= 16 and raw[10] == "T":
        return raw[:10] + " " + raw[11:16] + " UTC"
    return raw


def _title(code: str) -> str:
    entry = BY_CODE.get(code)
    return f"{code} {entry.title} ({entry.title_zh})" if entry else code


def _d(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def _list(data: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    return (
        [dict(row) for row in value if isinstance(row, Mapping)] if isinstance(value, list) else []
    )


def _reasons(data: Mapping[str, Any]) -> tuple[str, ...]:
    value = data.get("reasons")
    return tuple(str(reason) for reason in value) if isinstance(value, list) else ()


def _page(data: Mapping[str, Any], shown: int) -> str:
    page = _d(data, "page")
    if not page:
        return ""
    total = page.get("total", shown)
    offset = page.get("offset", 0)
    line = f"rows {offset + 1 if shown else 0}-{offset + shown} of {total}"
    if page.get("next_offset") is not None:
        line += f"; more with offset={page['next_offset']}"
    return line


# ------------------------------------------------------------------ the person and card


def _masked(ssn: object) -> str:
    """The ID number as the counter's screen shows it (370402********1238): the clerk
    confirms the holder by name and card; the full number stays off the screen."""
    return mask_ssn(ssn) if isinstance(ssn, str) and ssn else text(ssn)


def person_fields(person: Mapping[str, Any]) -> Fields:
    return Fields(
        (
            ("name", text(person.get("name"))),
            ("ID number", _masked(person.get("ssn"))),
            ("sex", text(person.get("sex"))),
            ("born", text(person.get("birth_date"))),
            ("residence site", text(person.get("residence_site_code"))),
            ("employment", text(person.get("employment_status"))),
            ("phone", text(person.get("phone"))),
        ),
        title="person",
    )


def card_session_view(session: Mapping[str, Any]) -> View:
    """The holder summary after a card authenticated (a VerifiedCardSession)."""
    card = _d(session, "card")
    holder = _d(session, "holder")
    terminal = _d(session, "terminal")
    blocks: list[Block] = []
    if holder:
        blocks.append(
            Fields(
                (
                    ("name", text(holder.get("name"))),
                    ("ID number", _masked(holder.get("ssn"))),
                    ("sex", text(holder.get("sex"))),
                    ("born", text(holder.get("birth_date"))),
                    ("residence site", text(holder.get("residence_site_code"))),
                ),
                title="holder",
            )
        )
    blocks.append(
        Fields(
            (
                ("card number", text(card.get("card_number"))),
                ("generation", text(card.get("generation"))),
                ("state", text(card.get("state"))),
                ("on hotlist", text(card.get("on_hotlist"))),
                ("application blocked", text(card.get("application_blocked"))),
                ("expires", text(card.get("expires_on"))),
                ("PIN verified", text(session.get("pin_verified"))),
            ),
            title="card",
        )
    )
    serve = terminal.get("serve", True)
    if not serve or terminal.get("action", "none") != "none":
        blocks.append(
            Decision(
                bool(serve),
                "serve this card" if serve else "hotlisted card: serve nothing",
                text(terminal.get("rule")),
                _reasons(terminal),
            )
        )
    return View("card in the reader", tuple(blocks))


# ------------------------------------------------------------------ E01-E05


def e01(data: Mapping[str, Any]) -> View:
    rows = tuple(
        (
            text(r.get("scheme")),
            text(r.get("status")),
            text(r.get("start_date")),
            text(r.get("end_date")),
            text(r.get("employer_name")),
        )
        for r in _list(data, "relations")
    )
    table = Table(("scheme", "status", "from", "until", "employer"), rows)
    return View(_title("E01"), (table,) if rows else (Fields((("relations", "none"),)),))


def e02(data: Mapping[str, Any]) -> View:
    lines = _list(data, "contributions")
    rows = tuple(
        (
            month(r.get("month")),
            text(r.get("scheme")),
            money(r.get("base_fen")),
            money(r.get("employer_part_fen")),
            money(r.get("personal_part_fen")),
            text(r.get("employer_name")),
        )
        for r in lines
    )
    table = Table(
        ("month", "scheme", "base", "employer part", "personal part", "employer"),
        rows,
        footer=_page(data, len(rows)),
    )
    return View(_title("E02"), (table,))


def e03(data: Mapping[str, Any]) -> View:
    rows = tuple(
        (
            text(r.get("year")),
            money(r.get("opening_fen")),
            money(r.get("credited_fen")),
            text(r.get("interest_rate")),
            money(r.get("interest_fen")),
            money(r.get("closing_fen")),
        )
        for r in _list(data, "years")
    )
    table = Table(("year", "opening", "credited", "rate", "interest", "closing"), rows)
    summary = Fields(
        (
            ("balance (yuan)", money(data.get("balance_fen"))),
            ("paid, not yet credited (yuan)", money(data.get("uncredited_fen"))),
        )
    )
    return View(_title("E03"), (table, summary))


def e04(data: Mapping[str, Any]) -> View:
    rows = tuple(
        (
            text(r.get("benefit")),
            month(r.get("month")),
            money(r.get("amount_fen")),
            text(r.get("paid_on")),
        )
        for r in _list(data, "payments")
    )
    table = Table(("benefit", "month", "amount", "paid on"), rows, footer=_page(data, len(rows)))
    total = Fields((("total (yuan)", money(data.get("total_amount_fen"))),))
    return View(_title("E04"), (table, total))


def e05(data: Mapping[str, Any]) -> View:
    status = Fields((("employment status", text(data.get("employment_status"))),))
    rows = tuple(
        (
            text(r.get("kind")),
            text(r.get("status")),
            text(r.get("site_code")),
            when(r.get("opened_at")),
            text(r.get("employer_name") or r.get("certificate_no")),
        )
        for r in _list(data, "open_registrations")
    )
    if not rows:
        return View(_title("E05"), (status, Fields((("open registrations", "none"),))))
    table = Table(("registration", "status", "site", "opened", "employer / certificate"), rows)
    return View(_title("E05"), (status, table))


# ------------------------------------------------------------------ R01-R05


def r01(data: Mapping[str, Any]) -> View:
    return View(
        _title("R01"),
        (
            Fields(
                (
                    ("registration", text(data.get("registration_id"))),
                    ("employer", text(data.get("employer_name"))),
                    ("credit code", text(data.get("employer_credit_code"))),
                    ("start date", text(data.get("start_date"))),
                    ("contract", text(data.get("contract_type"))),
                    ("closed unemployment registration",
                     text(data.get("closed_unemployment_registration_id"))),
                )
            ),
        ),
    )  # fmt: skip


def r02(data: Mapping[str, Any]) -> View:
    return View(
        _title("R02"),
        (
            Fields(
                (
                    ("registration", text(data.get("registration_id"))),
                    ("certificate number", text(data.get("certificate_no"))),
                    ("opened", when(data.get("opened_at"))),
                    ("closed employment registration",
                     text(data.get("closed_employment_registration_id"))),
                )
            ),
        ),
    )  # fmt: skip


def _enrolled(code: str, data: Mapping[str, Any]) -> View:
    return View(
        _title(code),
        (
            Fields(
                (
                    ("scheme", text(data.get("scheme"))),
                    ("from", text(data.get("start_date"))),
                    ("relation", text(data.get("relation_id"))),
                )
            ),
        ),
    )


def r05(data: Mapping[str, Any]) -> View:
    applied = data.get("applied") or []
    pending = _list(data, "pending")
    rows: list[tuple[str, str]] = [("changed now", ", ".join(map(str, applied)) or "nothing")]
    rows += [
        (f"waits for a reviewer: {text(p.get('field'))}", f"change {text(p.get('change_id'))}")
        for p in pending
    ]
    return View(_title("R05"), (Fields(tuple(rows)),))


def change_decision(data: Mapping[str, Any]) -> View:
    """A reviewer's decision on a pending R05 name/ID-number change."""
    return View(
        "R05 change decision",
        (
            Fields(
                (
                    ("change", text(data.get("change_id"))),
                    ("field", text(data.get("field"))),
                    ("decision", text(data.get("status"))),
                    ("decided", when(data.get("decided_at"))),
                )
            ),
        ),
    )


# ------------------------------------------------------------------ B01-B04


def b01(data: Mapping[str, Any]) -> View:
    eligible = bool(data.get("eligible"))
    headline = "eligible" if eligible else "not eligible"
    if eligible and data.get("provisional"):
        headline += " (provisional: confirm the employment ended involuntarily)"
    figures = Fields(
        (
            ("months paid", text(data.get("months_paid"))),
            ("duration (months)", text(data.get("duration_months"))),
            ("monthly amount (yuan)", money(data.get("monthly_amount_fen"))),
            ("total (yuan)", money(data.get("total_amount_fen"))),
            ("certificate", text(data.get("certificate_no"))),
        )
    )
    return View(
        _title("B01"),
        (Decision(eligible, headline, text(data.get("rule")), _reasons(data)), figures),
    )


def b02(data: Mapping[str, Any]) -> View:
    blocks: list[Block] = [
        Fields((("certified on", text(data.get("certified_on"))),)),
    ]
    for entry in _list(data, "certifications"):
        resumed = bool(entry.get("resumed"))
        headline = f"{text(entry.get('scheme'))}: certified (was {text(entry.get('was'))})"
        if resumed:
            headline += "; pension resumed"
        blocks.append(Decision(True, headline, text(entry.get("rule")), _reasons(entry)))
        blocks.append(
            Fields(
                (
                    ("back-paid months", text(entry.get("back_paid_months"))),
                    ("back pay (yuan)", money(entry.get("back_pay_fen"))),
                    ("next certification due", text(entry.get("next_due"))),
                )
            )
        )
    return View(_title("B02"), tuple(blocks))


def b03(data: Mapping[str, Any]) -> View:
    eligible = bool(data.get("eligible"))
    blocks: list[Block] = [
        Decision(
            eligible,
            "eligible to retire" if eligible else "not eligible yet",
            text(data.get("rule")),
            _reasons(data),
        ),
        Fields(
            (
                ("category", text(data.get("category"))),
                ("statutory age", text(data.get("statutory_age"))),
                ("retirement date", text(data.get("retirement_date"))),
                ("months paid", text(data.get("months_paid"))),
                ("months required", text(data.get("months_required"))),
                ("months still needed", text(data.get("months_still_needed"))),
            )
        ),
    ]
    resident = _d(data, "resident_pension")
    if resident:
        ok = bool(resident.get("eligible"))
        blocks.append(
            Decision(
                ok,
                "resident pension: " + ("eligible" if ok else "not eligible yet"),
                text(resident.get("rule")),
                _reasons(resident),
            )
        )
        blocks.append(
            Fields(
                (
                    ("resident pension age reached on", text(resident.get("age_reached_on"))),
                    ("months still needed", text(resident.get("months_still_needed"))),
                )
            )
        )
    return View(_title("B03"), tuple(blocks))


def b04(data: Mapping[str, Any]) -> View:
    covered = bool(data.get("covered"))
    blocks: list[Block] = [
        Fields((("covered today", text(covered)),)),
    ]
    for key in ("employee", "resident"):
        scheme = _d(data, key)
        active = bool(scheme.get("active"))
        through = text(scheme.get("covered_through"))
        headline = f"{text(scheme.get('scheme'))}: " + (
            f"active (covered through {through})" if active else "not active"
        )
        if not scheme.get("enrolled"):
            headline += ", not enrolled"
        blocks.append(Decision(active, headline, text(scheme.get("rule")), _reasons(scheme)))
    return View(_title("B04"), tuple(blocks))


# ------------------------------------------------------------------ C01-C08


def _state_change(code: str, data: Mapping[str, Any]) -> View:
    return View(
        _title(code),
        (
            Decision(
                None,
                f"card {text(data.get('card_number'))}: {text(data.get('from_state'))} → "
                f"{text(data.get('to_state'))}",
                text(data.get("rule")),
                _reasons(data),
            ),
            Fields(
                (
                    ("on hotlist", text(data.get("on_hotlist"))),
                    ("changed", when(data.get("changed_at"))),
                )
            ),
        ),
    )


def c04(data: Mapping[str, Any]) -> View:
    old = _state_change("C04", _d(data, "old"))
    new = Fields(
        (
            ("new card number", text(data.get("new_card_number"))),
            ("new card state", text(data.get("new_card_state"))),
            ("issued", text(data.get("issued_on"))),
            ("expires", text(data.get("expires_on"))),
        )
    )
    return View(old.title, (*old.blocks, new))


def _pin_event(code: str, data: Mapping[str, Any]) -> View:
    return View(
        _title(code),
        (
            Fields(
                (
                    ("card", text(data.get("card_number"))),
                    ("PIN", text(data.get("event"))),
                    ("recorded", when(data.get("recorded_at"))),
                    ("note", text(data.get("note"))),
                )
            ),
        ),
    )


VIEWS: Final[dict[str, Callable[[Mapping[str, Any]], View]]] = {
    "E01": e01,
    "E02": e02,
    "E03": e03,
    "E04": e04,
    "E05": e05,
    "R01": r01,
    "R02": r02,
    "R03": lambda data: _enrolled("R03", data),
    "R04": lambda data: _enrolled("R04", data),
    "R05": r05,
    "B01": b01,
    "B02": b02,
    "B03": b03,
    "B04": b04,
    "C01": lambda data: _state_change("C01", data),
    "C02": lambda data: _state_change("C02", data),
    "C03": lambda data: _state_change("C03", data),
    "C04": c04,
    "C05": lambda data: _pin_event("C05", data),
    "C06": lambda data: _pin_event("C06", data),
    "C07": lambda data: _state_change("C07", data),
    "C08": lambda data: _state_change("C08", data),
}


def view_of(code: str, data: Mapping[str, Any]) -> View:
    """The view of item `code`'s answer."""
    return VIEWS[code](data)


def plain_lines(view: View, *, width: int = 78) -> list[str]:
    """A view as plain text lines (receipts, logs): no colour, no box drawing."""
    lines = [view.title, "=" * min(width, max(len(view.title), 8))]
    for block in view.blocks:
        lines += _block_lines(block)
    return lines


def _block_lines(block: Block) -> list[str]:
    lines: list[str] = []
    if isinstance(block, Fields):
        if block.title:
            lines.append(f"[{block.title}]")
        label_width = max((len(label) for label, _ in block.rows), default=0)
        lines += [f"  {label.ljust(label_width)} : {value}" for label, value in block.rows]
    elif isinstance(block, Table):
        if block.title:
            lines.append(f"[{block.title}]")
        lines.append("  " + " | ".join(block.columns))
        lines += ["  " + " | ".join(row) for row in block.rows] or ["  (none)"]
        if block.footer:
            lines.append(f"  {block.footer}")
    else:
        mark = {True: "[yes]", False: "[no]", None: "[done]"}[block.verdict]
        lines.append(f"  {mark} {block.headline}")
        lines.append(f"  rule: {block.rule}")
        lines += [f"    - {reason}" for reason in block.reasons]
    return lines


def blocks_text(blocks: Sequence[Block]) -> str:
    return "\n".join(line for block in blocks for line in _block_lines(block))
