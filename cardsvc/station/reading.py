"""What the station reads from the card itself, and how it shows it.

EF05 (issuer records) is readable always, also while the application is blocked;
EF06 (cardholder) freely on generations 1 and 2, after EXTERNAL AUTHENTICATE with
RKSSSE on generation 3. `basic_json` masks the SSN.
"""

from __future__ import annotations

from typing import Any

from cardsvc.card.records import (
    EF06_SFI,
    EF06_TAGS,
    Cardholder,
    IssuerInfo,
    Sex,
    Tag,
    decode_cardholder,
)
from cardsvc.card.session import BasicRead, SscSession
from cardsvc.crypto import Algorithm
from cardsvc.idcheck import mask_ssn

ALGORITHM_NAMES = {Algorithm.DES3: "3DES", Algorithm.SM4: "SM4"}
SEX_NAMES = {Sex.MALE: "male", Sex.FEMALE: "female"}


def read_holder(session: SscSession, generation: int) -> Cardholder:
    """EF06, every record (the SSSE selected; gen 3: RKSSSE authenticated)."""
    tags = [t for t in EF06_TAGS if t is not Tag.NAME_EXT or generation >= 2]
    with session.connection.transaction():
        records: dict[int, bytes] = {
            t: session.read_record(EF06_SFI, t, t.value_length) for t in tags
        }
    return decode_cardholder(records, generation)


def presentation_body(issuer: IssuerInfo, atr: bytes, *, blocked: bool) -> dict[str, Any]:
    """The POST /v1/card-sessions body for this card."""
    body: dict[str, Any] = {
        "card_id_code": str(issuer.card_id),
        "card_number": issuer.card_number,
        "atr": atr.hex().upper(),
        "spec_version": issuer.spec_version,
        "application_blocked": blocked,
    }
    if not blocked:
        body["algorithm"] = int(issuer.algorithm)
    return body


def basic_read_of(issuer: IssuerInfo, holder: Cardholder, atr: bytes) -> BasicRead:
    """The section-9 result from the records read (for the section-8 string)."""
    return BasicRead(
        atr=atr,
        algorithm=issuer.algorithm,
        card_id=issuer.card_id,
        spec_version=issuer.spec_version,
        issue_date=issuer.issue_date,
        expiry_date=issuer.expiry_date,
        card_number=issuer.card_number,
        ssn=holder.ssn,
        name=holder.name,
    )


def basic_json(issuer: IssuerInfo, holder: Cardholder | None) -> dict[str, Any]:
    """EF05 (and EF06 when given) decoded, the SSN masked."""
    out: dict[str, Any] = {
        "card_id_code": str(issuer.card_id),
        "region_code": issuer.region_code,
        "card_type": issuer.card_type,
        "spec_version": issuer.spec_version,
        "issue_date": issuer.issue_date.isoformat(),
        "expiry_date": issuer.expiry_date.isoformat(),
        "card_number": issuer.card_number,
    }
    if holder is not None:
        out.update(
            ssn=mask_ssn(holder.ssn),
            name=holder.name,
            sex=SEX_NAMES.get(holder.sex, "unknown"),
            nationality=holder.nationality,
            birthplace=holder.birthplace,
            birth_date=holder.birth_date.isoformat(),
        )
    return out


def holder_json(holder: Cardholder) -> dict[str, Any]:
    """The holder summary from the card's own records (when the API gave none)."""
    return {
        "name": holder.name,
        "sex": SEX_NAMES.get(holder.sex, "unknown"),
        "birth_date": holder.birth_date.isoformat(),
        "ssn": mask_ssn(holder.ssn),
    }
