"""Fonts for the PDF receipt: a Latin font and a CJK font for Chinese names.

The CJK font is, in order: the file named by ``CARDSVC_CJK_FONT``; what fontconfig
picks for Chinese (``fc-match :lang=zh``); a list of the usual Debian paths (Droid
Sans Fallback from ``fonts-droid-fallback``, WenQuanYi, Noto Sans CJK, AR PL UMing).
Without one, the receipt writes each character no font has as its code point,
``[U+5F20]``, and says so on the receipt. Characters a font lacks (a rare name
character outside the BMP, e.g. 𠮷) get the same substitute.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# fontTools (fpdf2's own dependency) ships no type information
from fontTools.ttLib import (  # type: ignore[import-untyped]
    TTCollection,
    TTFont,
    TTLibError,
)

CJK_FONT_ENV: Final = "CARDSVC_CJK_FONT"
CJK_CANDIDATES: Final = (
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
LATIN_CANDIDATES: Final = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)
SUBSTITUTE_NOTE: Final = (
    "characters shown as [U+XXXX]: no font on this kiosk has them "
    f"(install fonts-droid-fallback, or set {CJK_FONT_ENV} to a CJK TrueType font)"
)


@dataclass(frozen=True, slots=True)
class FontFile:
    path: Path
    codepoints: frozenset[int]

    def covers(self, char: str) -> bool:
        return ord(char) in self.codepoints


@functools.lru_cache(maxsize=8)
def load(path: str) -> FontFile | None:
    """The font at `path` with the characters it covers; None when it is not a font."""
    try:
        with open(path, "rb") as file:
            if path.lower().endswith((".ttc", ".otc")):
                cmap = TTCollection(file, lazy=True).fonts[0].getBestCmap() or {}
            else:
                cmap = TTFont(file, lazy=True).getBestCmap() or {}
    except (TTLibError, OSError, ValueError, KeyError, IndexError, AssertionError) as exc:
        del exc  # not a usable font: try the next one
        return None
    return FontFile(Path(path), frozenset(cmap))


def _fc_match() -> list[str]:
    binary = shutil.which("fc-match")
    if binary is None:
        return []
    try:
        found = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [binary, "-f", "%{file}", ":lang=zh"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return []
    return [found] if found else []


def _first(paths: Iterable[str], probe: str) -> FontFile | None:
    for path in paths:
        if path and os.path.isfile(path):
            font = load(path)
            if font is not None and all(font.covers(c) for c in probe):
                return font
    return None


def find_cjk_font() -> FontFile | None:
    """A font with common Chinese characters (张, 三), or None."""
    env = os.environ.get(CJK_FONT_ENV, "")
    return _first([env, *_fc_match(), *CJK_CANDIDATES], "张三社保")


def find_latin_font() -> FontFile | None:
    return _first(LATIN_CANDIDATES, "Aa0:")


def substitute(text: str, fonts: Iterable[FontFile | None], *, latin1_ok: bool) -> str:
    """`text` with every character no font covers written as [U+XXXX]."""
    usable = [font for font in fonts if font is not None]
    out = []
    for char in text:
        plain = char in "\n\t" or (latin1_ok and ord(char) < 256)
        if plain or any(font.covers(char) for font in usable):
            out.append(char)
        else:
            out.append(f"[U+{ord(char):04X}]")
    return "".join(out)
