"""One resident's whole record set, generated from the seed and the resident's number alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from cardsvc.db.models import ChangeField, ChangeStatus
from cardsvc.seed.cards import emit_cards
from cardsvc.seed.context import IdCounters, SeedContext, SsnAllocator, at_office
from cardsvc.seed.employers import EmployerPool
from cardsvc.seed.employment import emit_employment, plan_career
from cardsvc.seed.pensions import emit_pension
from cardsvc.seed.people import draft_person
from cardsvc.seed.rng import between, stream
from cardsvc.seed.tables import RowBuffer

_NAME_FIXES = "华伟明玲"


@dataclass
class SeedState:
    """What generation changes as it goes: id counters and the SSNs handed out."""

    ids: IdCounters
    ssns: SsnAllocator
    employers: EmployerPool


def emit_person(ctx: SeedContext, state: SeedState, buf: RowBuffer) -> int:
    """Generate the next resident and all their records into `buf`; returns the person id."""
    person_id = state.ids.next("persons")
    rng = stream(ctx.seed, "person", person_id)
    person = draft_person(rng, person_id, person_id, ctx.layout, state.ssns)
    career = plan_career(rng, ctx, person, state.employers)
    buf["persons"].append(
        (
            person.id,
            person.ssn,
            person.name,
            person.sex.value,
            person.nationality,
            person.birth_date,
            person.birthplace,
            person.household_registration,
            person.station.code,
            person.phone,
            person.address,
            career.status.value,
            None if career.category is None else career.category.value,
        )
    )
    emit_cards(rng, ctx, state.ids, buf, person)
    emit_employment(rng, ctx, ids=state.ids, buf=buf, person=person, career=career)
    emit_pension(rng, ctx, ids=state.ids, buf=buf, person=person, career=career)
    if (person_id * 53 + ctx.seed) % 400 == 17:
        # an R05 name correction waiting for a reviewer
        clerk = ctx.actors.clerk_by_district.get(person.station.district_code)
        if clerk is not None:
            fixed = person.name[:-1] + _NAME_FIXES[person_id % len(_NAME_FIXES)]
            if fixed == person.name:
                fixed = person.name + "华"
            buf["pending_changes"].append(
                (
                    state.ids.next("pending_changes"),
                    person.id,
                    ChangeField.NAME.value,
                    person.name,
                    fixed,
                    ChangeStatus.PENDING.value,
                    clerk,
                    at_office(ctx.as_of - timedelta(days=between(rng, 0, 6)), 600),
                    None,
                    None,
                    "证件姓名与登记不符",
                )
            )
    return person_id


def person_batches(
    ctx: SeedContext, state: SeedState, count: int, batch: int
) -> Iterator[tuple[int, RowBuffer]]:
    """Yield (persons done so far, rows) every `batch` persons; the buffer is reused."""
    buf = RowBuffer()
    done = 0
    while done < count:
        buf.clear()
        for _ in range(min(batch, count - done)):
            emit_person(ctx, state, buf)
            done += 1
        yield done, buf
