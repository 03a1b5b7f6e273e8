"""What every ``/v1/persons/{ssn}/…`` route shares: the SSN path parameter, the card
session of the request, and whom a service call is for.

- :data:`SsnPath`: the ``{ssn}`` path parameter, checked in full (shape AND the
  GB 11643 check character). A bad one is a 422 ``invalid-request`` whose ``errors``
  name ``ssn`` in ``path`` (as any malformed parameter), never a 404.
- :data:`PresenceDep`: the verified card session of the request (``CardPresence``
  or None), from api.card_presence.
- :func:`subject_for` (api.presence_lookup, re-exported here): the services' subject.
  When the request carries a card session for the person the path names (the SSN the
  card holds, or the person's current SSN), the service acts for the card session:
  that is how a kiosk acts (PIN verified, kiosk items only, masked ID numbers) and how
  an operator serves a person from outside their sites who presented a card. Otherwise
  the SSN is the subject and the service checks the operator's sites (out of scope →
  404, the same as a missing person).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path

from api.card_presence import CardPresenceDep
from api.presence_lookup import subject_for
from api.routes.params import bad_parameter
from cardsvc.idcheck import is_valid_ssn

SSN_PATTERN = r"^[0-9]{17}[0-9X]$"
_SSN_SHAPE = re.compile(SSN_PATTERN)
SSN_PROBLEM = (
    "not a valid ID number: 18 characters, 17 digits and a check character (0-9 or X, "
    "upper case) that matches them (GB 11643), with a real birth date"
)


async def _valid_ssn(
    ssn: Annotated[
        str,
        Path(
            min_length=18,
            max_length=18,
            pattern=SSN_PATTERN,
            description="The person's social security number (the 18-character citizen ID, "
            "GB 11643 check character; a kiosk reads it from the card, EF06 tag 08).",
            examples=["370402199001011238"],
        ),
    ],
) -> str:
    """The path's SSN if its check character is right; else a 422 naming ``ssn`` in path."""
    if not _SSN_SHAPE.fullmatch(ssn) or not is_valid_ssn(ssn):
        raise bad_parameter("path", "ssn", SSN_PROBLEM)
    return ssn


SsnPath = Annotated[str, Depends(_valid_ssn)]
"""The ``{ssn}`` path parameter, checked (422 naming it when malformed)."""


PresenceDep = CardPresenceDep
"""The verified card session of this request (``X-Card-Session``), or None; an unusable
session id is a 403 naming the header (see api.card_presence)."""


__all__ = ["SSN_PATTERN", "SSN_PROBLEM", "PresenceDep", "SsnPath", "subject_for"]
