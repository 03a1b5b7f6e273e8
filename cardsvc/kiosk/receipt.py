"""The kiosk's receipt: what was done in one card session, as text and as a PDF.

The receipt shows only what a kiosk may see (masked ID number) and never a PIN. The
text form is UTF-8; the PDF (fpdf2) uses a CJK font for Chinese names when the kiosk
has one (see cardsvc.kiosk.fonts), else writes those characters as [U+XXXX] and says
so on the receipt.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from fpdf import FPDF

from cardsvc.counter.views import Decision, Fields, Table, View, plain_lines
from cardsvc.kiosk import fonts

WIDTH = 60
A5_MM = (148.0, 210.0)


@dataclass
class Receipt:
    """The session's lines, filled in as items are done."""

    kiosk: str
    site_code: str
    card_number: str
    holder_name: str
    holder_ssn: str
    started_at: dt.datetime
    entries: list[View] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    ended_at: dt.datetime | None = None
    end_reason: str = ""

    def add(self, view: View) -> None:
        self.entries.append(view)

    def refuse(self, code: str, message: str) -> None:
        self.refused.append(f"{code}: {message}")

    @property
    def empty(self) -> bool:
        return not self.entries and not self.refused

    def header(self) -> list[str]:
        return [
            "社会保障卡自助服务 / social security card self-service",
            f"kiosk {self.kiosk}, site {self.site_code}",
            f"card {self.card_number}  holder {self.holder_name}  ID {self.holder_ssn}",
            f"started {_utc(self.started_at)}",
        ]

    def footer(self) -> list[str]:
        lines = []
        if self.refused:
            lines.append("not done:")
            lines += [f"  - {line}" for line in self.refused]
        if self.ended_at is not None:
            lines.append(f"ended {_utc(self.ended_at)} ({self.end_reason})")
        lines.append("Keep this receipt. Questions: any counter of your site.")
        return lines

    def text(self) -> str:
        rule = "-" * WIDTH
        lines = [*self.header(), rule]
        for view in self.entries:
            lines += plain_lines(view, width=WIDTH)
            lines.append(rule)
        lines += self.footer()
        return "\n".join(lines) + "\n"

    def stem(self) -> str:
        return f"receipt-{self.started_at:%Y%m%d-%H%M%S}-{self.card_number}"

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write STEM.txt and STEM.pdf into `directory` (made if missing)."""
        directory.mkdir(parents=True, exist_ok=True)
        text_path = directory / f"{self.stem()}.txt"
        pdf_path = directory / f"{self.stem()}.pdf"
        text_path.write_text(self.text(), encoding="utf-8")
        pdf_path.write_bytes(self.pdf())
        return text_path, pdf_path

    def pdf(self) -> bytes:
        return ReceiptPdf(self).render()


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class ReceiptPdf:
    """Lays a receipt out on A5 pages."""

    def __init__(self, receipt: Receipt) -> None:
        self.receipt = receipt
        self.cjk = fonts.find_cjk_font()
        self.latin = fonts.find_latin_font()
        self.substituted = False
        self.pdf = FPDF(format=A5_MM)
        self.pdf.set_auto_page_break(auto=True, margin=12)
        self.pdf.set_title("receipt")
        self.pdf.set_creator("cardsvc kiosk")
        self._family = "helvetica"
        if self.latin is not None:
            self.pdf.add_font("latin", "", str(self.latin.path))
            self._family = "latin"
        if self.cjk is not None:
            self.pdf.add_font("cjk", "", str(self.cjk.path))
            if self.latin is not None:
                self.pdf.set_fallback_fonts(["cjk"], exact_match=False)
            else:
                self._family = "cjk"

    def _clean(self, text: str) -> str:
        core = self.latin is None and self.cjk is None
        cleaned = fonts.substitute(text, [self.latin, self.cjk], latin1_ok=core)
        if cleaned != text:
            self.substituted = True
        if core:  # the core font is Latin-1 only
            cleaned = cleaned.encode("latin-1", "replace").decode("latin-1")
        return cleaned

    def _line(self, text: str, size: float = 9, height: float = 5) -> None:
        self.pdf.set_font(self._family, size=size)
        self.pdf.multi_cell(0, height, self._clean(text), new_x="LMARGIN", new_y="NEXT")

    def render(self) -> bytes:
        pdf = self.pdf
        pdf.add_page()
        header = self.receipt.header()
        self._line(header[0], size=12, height=7)
        for line in header[1:]:
            self._line(line)
        pdf.ln(2)
        for view in self.receipt.entries:
            self._view(view)
        pdf.ln(2)
        for line in self.receipt.footer():
            self._line(line, size=8, height=4)
        if self.substituted:
            self._line(fonts.SUBSTITUTE_NOTE, size=7, height=4)
        return bytes(pdf.output())

    def _view(self, view: View) -> None:
        self._line(view.title, size=10, height=6)
        for block in view.blocks:
            if isinstance(block, Fields):
                for label, value in block.rows:
                    self._line(f"{label}: {value}")
            elif isinstance(block, Table):
                self._line(" | ".join(block.columns), size=8, height=4)
                for row in block.rows or (("(none)",),):
                    self._line(" | ".join(row), size=8, height=4)
                if block.footer:
                    self._line(block.footer, size=8, height=4)
            elif isinstance(block, Decision):
                mark = {True: "[yes]", False: "[no]", None: "[done]"}[block.verdict]
                self._line(f"{mark} {block.headline}")
                self._line(f"rule: {block.rule}", size=8, height=4)
                for reason in block.reasons:
                    self._line(f"- {reason}", size=8, height=4)
        self.pdf.ln(2)
