"""Exit codes of `cardsvc counter` and `cardsvc kiosk` (documented in their --help)."""

from __future__ import annotations

from typing import Final

OK: Final = 0
"""Every command did what it was asked."""
REFUSED: Final = 1
"""At least one item or card operation was refused (the API or the card said no: a
problem answer, a blocked PIN, a hotlisted card, the card taken out mid-way). Later
commands still ran. A wrong PIN followed by the right one is not a failure."""
USAGE: Final = 2
"""Bad arguments, an unknown command, or a missing or invalid value in a script."""
SIGN_IN: Final = 3
"""Signing in failed (wrong password or credential, account locked, token expired)."""
UNREACHABLE: Final = 4
"""The API or the station agent could not be reached."""
INTERRUPTED: Final = 130
"""Ctrl-C."""

EPILOG: Final = """\
exit codes:
  0  every command did what it was asked
  1  at least one item or card operation was refused (a problem answer of the API,
     a blocked PIN, a hotlisted card, the card taken out); the commands after it
     still ran (a wrong PIN followed by the right one is not a failure)
  2  bad arguments, an unknown command, a missing or invalid value in a script
  3  signing in failed (wrong password/credential, account locked, token expired)
  4  the API or the station agent could not be reached
  130 interrupted (Ctrl-C)
"""
