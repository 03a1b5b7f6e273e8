"""Personalisation files (card contract section 7) for seeded residents with active cards.

For a tester: ``cardsvc sim --card DIR/<file>.json --psam`` puts the resident's card
in a virtual reader; its ATR, card identification code, card number, SSN, name,
birth date and sex are those in the database. Files use the demo master keys and
the PIN :data:`DEMO_PIN`. The directory also gets ``index.json`` and ``README.txt``:
who is who (masked SSN), and the operators and devices to sign in as (a device
signs in by its numeric ``id``: ``POST /v1/auth/device-login`` takes ``device_id``, and
so do ``cardsvc agent --device`` and ``cardsvc kiosk --device``).

Files are chosen from cards written by this run, in card-id order: one of each
generation first (3, 2, 1 … round robin), then a name outside the BMP and a name
long enough for the name-extension record when there are such residents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cardsvc.db.models import Card, CardState, Device, Person, Sex, Site
from cardsvc.idcheck import mask_ssn
from cardsvc.seed.demo import DEMO_PIN
from cardsvc.seed.errors import SeedError
from cardsvc.seed.names import split_for_card
from cardsvc.seed.runner import SeedReport
from simulators.errors import SimulatorError
from simulators.personalisation import parse_personalisation

CANDIDATES_PER_GENERATION: Final = 400


@dataclass(frozen=True, slots=True)
class CardFile:
    path: Path
    generation: int
    card_number: str
    masked_ssn: str
    name: str
    site_code: str
    site_name: str


def personalisation(card: Card, person: Person, pin_tries: int) -> dict[str, Any] | None:
    """The §7 content for `card` of `person`, or None when the name does not fit the card."""
    split = split_for_card(person.name, card.generation)
    if split is None or person.sex not in (Sex.MALE, Sex.FEMALE):
        return None
    name, name_ext = split
    code = card.card_id_code
    region = code[:6]
    birthplace = person.birthplace if person.birthplace and len(person.birthplace) == 6 else None
    return {
        "generation": card.generation,
        "protocol": "T=0",
        "region_code": region,
        "chip_serial": code[16:24],
        "card_id_suffix": code[24:32],
        "card_type": "1",
        "init_org": region + "000000000000000001",
        "issue_date": f"{card.issued_on:%Y%m%d}",
        "expiry_date": f"{card.expires_on:%Y%m%d}",
        "card_number": card.card_number,
        "ssn": card.ssn,
        "name": name,
        "name_ext": name_ext,
        "sex": "1" if person.sex is Sex.MALE else "2",
        "nation": person.nationality,
        "birthplace": birthplace or card.ssn[:6],
        "birth_date": f"{person.birth_date:%Y%m%d}",
        "pin": DEMO_PIN,
        "pin_tries": pin_tries,
        "masters": "demo",
        "dfs": {"DF04": [["05", f"{card.issued_on:%Y%m%d}"]]},
    }


def _choose(
    by_generation: dict[int, list[tuple[Card, Person, dict[str, Any]]]], count: int
) -> list[tuple[Card, Person, dict[str, Any]]]:
    chosen: list[tuple[Card, Person, dict[str, Any]]] = []
    taken: set[int] = set()

    def take(item: tuple[Card, Person, dict[str, Any]]) -> None:
        if len(chosen) < count and item[0].id not in taken:
            chosen.append(item)
            taken.add(item[0].id)

    for generation in (3, 2, 1):
        if by_generation[generation]:
            take(by_generation[generation][0])
    everyone = [item for g in (3, 2, 1) for item in by_generation[g]]
    rare = next((i for i in everyone if any(ord(c) > 0xFFFF for c in i[1].name)), None)
    if rare is not None:
        take(rare)
    extended = next((i for i in everyone if i[2]["name_ext"]), None)
    if extended is not None:
        take(extended)
    cursors = dict.fromkeys((3, 2, 1), 0)
    while len(chosen) < count and any(cursors[g] < len(by_generation[g]) for g in cursors):
        for generation in (3, 2, 1):
            items = by_generation[generation]
            while cursors[generation] < len(items) and items[cursors[generation]][0].id in taken:
                cursors[generation] += 1
            if cursors[generation] < len(items):
                take(items[cursors[generation]])
    return chosen


def write_card_files(
    engine: Engine,
    report: SeedReport,
    directory: Path,
    count: int,
    *,
    pin_tries: int = 6,
) -> tuple[CardFile, ...]:
    """Write `count` card files (fewer if there are not enough active cards) and the index."""
    directory.mkdir(parents=True, exist_ok=True)
    by_generation: dict[int, list[tuple[Card, Person, dict[str, Any]]]] = {1: [], 2: [], 3: []}
    sites: dict[str, str] = {}
    with Session(engine) as session:
        names = [d.name for d in report.devices]
        device_ids = {
            name: id_
            for name, id_ in session.execute(
                select(Device.name, Device.id).where(Device.name.in_(names))
            )
        }
        for generation in (1, 2, 3):
            query = (
                select(Card, Person)
                .join(Person, Person.id == Card.person_id)
                .where(
                    Card.state == CardState.ACTIVE,
                    Card.generation == generation,
                    Card.application_blocked.is_(False),
                    Card.id >= report.first_card_id,
                )
                .order_by(Card.id)
                .limit(CANDIDATES_PER_GENERATION)
            )
            for card, person in session.execute(query).all():
                data = personalisation(card, person, pin_tries)
                if data is not None:
                    by_generation[generation].append((card, person, data))
        chosen = _choose(by_generation, count)
        codes = {person.residence_site_code for _, person, _ in chosen}
        for site in session.scalars(select(Site).where(Site.code.in_(codes))):
            sites[site.code] = site.name

    written: list[CardFile] = []
    for card, person, data in chosen:
        path = directory / f"gen{card.generation}-{card.card_number}.json"
        try:
            parse_personalisation(data, str(path))
        except SimulatorError as exc:  # pragma: no cover - the seed makes valid cards
            raise SeedError(
                f"card {card.card_number} makes an invalid personalisation: {exc}"
            ) from exc
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(
            CardFile(
                path=path,
                generation=card.generation,
                card_number=card.card_number,
                masked_ssn=mask_ssn(card.ssn),
                name=person.name,
                site_code=person.residence_site_code,
                site_name=sites.get(person.residence_site_code, ""),
            )
        )
    _write_index(directory, report, written, device_ids)
    return tuple(written)


def _write_index(
    directory: Path,
    report: SeedReport,
    files: Sequence[CardFile],
    device_ids: Mapping[str, int],
) -> None:
    index = {
        "as_of": report.as_of.isoformat(),
        "seed": report.seed,
        "pin": DEMO_PIN,
        "masters": "demo",
        "cards": [
            {
                "file": f.path.name,
                "generation": f.generation,
                "card_number": f.card_number,
                "ssn": f.masked_ssn,
                "name": f.name,
                "residence_site": f.site_code,
                "residence_site_name": f.site_name,
            }
            for f in files
        ],
        "operators": [
            {
                "username": o.username,
                "site": o.site_code,
                "roles": sorted(r.value for r in o.roles),
                "password": report.operator_password,
            }
            for o in report.operators
        ],
        "devices": [
            {
                "id": device_ids.get(d.name),
                "name": d.name,
                "kind": d.kind.value,
                "site": d.site_code,
                "secret": report.device_secret,
            }
            for d in report.devices
        ],
    }
    (directory / "index.json").write_text(
        json.dumps(index, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    lines = [
        f"Seeded cards (cardsvc seed, seed {report.seed}, as of {report.as_of.isoformat()})",
        "",
        f"Every card: PIN {DEMO_PIN}, demo master keys. Put one in a virtual reader with",
        f"    cardsvc sim --card {directory}/<file> --psam",
        "",
        "file                              gen  card no.   SSN                 name",
    ]
    for f in files:
        lines.append(
            f"{f.path.name:<33} {f.generation:>3}  {f.card_number}  {f.masked_ssn}  {f.name}"
            f"  ({f.site_code} {f.site_name})"
        )
    lines += [
        "",
        f"Operators (password {report.operator_password}):",
        *(
            f"    {o.username:<28} {o.site_code:<13} {', '.join(sorted(r.value for r in o.roles))}"
            for o in report.operators
        ),
        "",
        f"Devices (secret {report.device_secret}; a device signs in by its id, e.g.",
        "cardsvc kiosk --device ID, cardsvc agent --device ID):",
        f"    {'id':>4}  {'name':<28} {'kind':<8} site",
        *(
            f"    {device_ids.get(d.name, '?'):>4}  {d.name:<28} {d.kind.value:<8} {d.site_code}"
            for d in report.devices
        ),
        "",
    ]
    (directory / "README.txt").write_text("\n".join(lines), encoding="utf-8")
