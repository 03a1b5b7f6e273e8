"""The kiosk's receipt as text and PDF, and the CJK font it needs for Chinese names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from station_harness import pdf_characters

from cardsvc.counter.views import view_of
from cardsvc.kiosk import fonts
from cardsvc.kiosk.receipt import Receipt, ReceiptPdf


def _receipt(name: str = "张三") -> Receipt:
    receipt = Receipt(
        kiosk="7",
        site_code="370402",
        card_number="A00000011",
        holder_name=name,
        holder_ssn="370402********1238",
        started_at=dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC),
    )
    receipt.add(
        view_of(
            "B01",
            {
                "eligible": True,
                "provisional": True,
                "rule": "失业保险条例 arts. 14 and 17",
                "reasons": ["paid 60 months"],
                "months_paid": 60,
                "duration_months": 18,
                "monthly_amount_fen": 189000,
                "total_amount_fen": 3402000,
            },
        )
    )
    receipt.refuse("R01", "not offered at a kiosk")
    return receipt


def test_text_receipt_names_the_card_items_and_refusals() -> None:
    text = _receipt().text()
    assert "card A00000011  holder 张三  ID 370402********1238" in text
    assert "B01 unemployment benefit eligibility" in text
    assert "[yes] eligible (provisional" in text
    assert "monthly amount (yuan) : 1,890.00" in text
    assert "- R01: not offered at a kiosk" in text


def test_the_machine_has_a_cjk_font_for_receipts() -> None:
    font = fonts.find_cjk_font()
    assert font is not None, (
        "no CJK font: install fonts-droid-fallback (scripts/setup.sh) or set CARDSVC_CJK_FONT"
    )
    assert font.covers("张")


def test_pdf_receipt_embeds_the_chinese_name(tmp_path: Path) -> None:
    receipt = _receipt()
    text_path, pdf_path = receipt.write(tmp_path / "receipts")
    assert text_path.read_text(encoding="utf-8") == receipt.text()
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF-")
    shown = pdf_characters(pdf)
    assert {"张", "三", "失", "业"} <= shown
    assert b"/FontFile2" in pdf  # the fonts are embedded (subset), not referenced


def test_without_a_cjk_font_characters_become_code_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fonts, "find_cjk_font", lambda: None)
    layout = ReceiptPdf(_receipt())
    pdf = layout.render()
    assert pdf.startswith(b"%PDF-")
    assert layout.substituted  # and the receipt says so (fonts.SUBSTITUTE_NOTE)
    assert "张" not in pdf_characters(pdf)


def test_substitute_keeps_what_a_font_covers() -> None:
    font = fonts.FontFile(Path("x.ttf"), frozenset(map(ord, "张三 ab")))
    assert fonts.substitute("张三 ab", [font], latin1_ok=False) == "张三 ab"
    assert fonts.substitute("董𠮷", [font], latin1_ok=False) == "[U+8463][U+20BB7]"
    assert fonts.substitute("é", [None], latin1_ok=True) == "é"


def test_cjk_font_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    not_a_font = tmp_path / "bogus.ttf"
    not_a_font.write_bytes(b"not a font")
    monkeypatch.setenv(fonts.CJK_FONT_ENV, str(not_a_font))
    assert fonts.load(str(not_a_font)) is None  # skipped, the next candidate is used
    found = fonts.find_cjk_font()
    assert found is None or found.path != not_a_font
