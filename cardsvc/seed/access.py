"""Operators and devices: a fixed, documented set (usernames never depend on the seed).

Usernames are ``<role>.<site code>`` (a second clerk at a district centre is
``clerk2.<code>``); roles are clerk, reviewer, supervisor and admin (administrator):

========================  =====================================================
site                      operators
========================  =====================================================
city 370400               admin.370400, supervisor.370400
each district centre      clerk, clerk2, reviewer, supervisor, admin
first township (…001)     clerk, reviewer, supervisor (e.g. clerk.370402001)
its first station         clerk (e.g. clerk.370402001001)
========================  =====================================================

Devices are ``kiosk.<site code>`` and ``counter.<site code>``: a kiosk and a counter
terminal at every district centre and first township, a kiosk at every first station.

Credentials: with ``--demo`` every operator's password is ``demo2011`` and every
device's secret ``device-demo-2011`` (cardsvc.seed.demo), hashed with scrypt (per-user
salt, see cardsvc.seed.passwords). Without ``--demo`` the hashes are
:data:`~cardsvc.seed.passwords.LOCKED` and nobody can sign in until an administrator
sets a password.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from cardsvc.db.models import DeviceKind, Role, SiteLevel
from cardsvc.seed.passwords import LOCKED, hash_secret
from cardsvc.seed.rng import stream
from cardsvc.seed.sites import CITY_CODE, Layout

_ROLE_NAMES: Final = {
    Role.CLERK: "clerk",
    Role.REVIEWER: "reviewer",
    Role.SUPERVISOR: "supervisor",
    Role.ADMINISTRATOR: "admin",
}


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    username: str
    site_code: str
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    name: str
    kind: DeviceKind
    site_code: str


def _operator(role: Role, site_code: str, suffix: str = "") -> OperatorSpec:
    return OperatorSpec(f"{_ROLE_NAMES[role]}{suffix}.{site_code}", site_code, frozenset({role}))


def operator_specs(layout: Layout) -> tuple[OperatorSpec, ...]:
    """Every seeded operator, in id order."""
    specs = [_operator(Role.ADMINISTRATOR, CITY_CODE), _operator(Role.SUPERVISOR, CITY_CODE)]
    for district in (s for s in layout.sites if s.level is SiteLevel.DISTRICT):
        specs += [
            _operator(Role.CLERK, district.code),
            _operator(Role.CLERK, district.code, "2"),
            _operator(Role.REVIEWER, district.code),
            _operator(Role.SUPERVISOR, district.code),
            _operator(Role.ADMINISTRATOR, district.code),
        ]
        township = district.code + "001"
        specs += [
            _operator(Role.CLERK, township),
            _operator(Role.REVIEWER, township),
            _operator(Role.SUPERVISOR, township),
            _operator(Role.CLERK, township + "001"),
        ]
    return tuple(specs)


def device_specs(layout: Layout) -> tuple[DeviceSpec, ...]:
    """Every seeded device, in id order."""
    specs: list[DeviceSpec] = []
    for district in (s for s in layout.sites if s.level is SiteLevel.DISTRICT):
        for code in (district.code, district.code + "001"):
            specs.append(DeviceSpec(f"kiosk.{code}", DeviceKind.KIOSK, code))
            specs.append(DeviceSpec(f"counter.{code}", DeviceKind.COUNTER, code))
        station = district.code + "001001"
        specs.append(DeviceSpec(f"kiosk.{station}", DeviceKind.KIOSK, station))
    return tuple(specs)


def credential_hashes(
    seed: int, names: Sequence[str], secret: str | None, scrypt_n: int
) -> dict[str, str]:
    """Hash `secret` for each name with a salt derived from the seed (deterministic).

    `secret` None gives LOCKED for everyone. Two threads: scrypt releases the GIL.
    """
    if secret is None:
        return dict.fromkeys(names, LOCKED)

    def one(name: str) -> str:
        salt = stream(seed, "salt", name).randbytes(16)
        return hash_secret(secret, salt, n=scrypt_n)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def registered_at(name: str, as_of: date) -> datetime:
    """When a device was registered: a fixed day in 2012-2013, never after as_of."""
    rng = stream(0, "device", name)
    day = date(2012, 1, 2) + timedelta(days=int(rng.random() * 700))
    return datetime.combine(min(day, as_of), time(1, 30), tzinfo=UTC)


@dataclass(frozen=True)
class ActorDirectory:
    """Operators and devices by site, for records that name who did them."""

    clerk_by_site: Mapping[str, int]
    """Site code → id of a clerk there."""
    kiosk_by_site: Mapping[str, int]
    """Site code → id of a kiosk there."""
    clerk_by_district: Mapping[str, int]

    def counter_for(self, chain: Sequence[str]) -> tuple[int, str]:
        """The nearest clerk up the site chain: (operator id, its site code)."""
        for code in chain:
            found = self.clerk_by_site.get(code)
            if found is not None:
                return found, code
        raise LookupError(f"no clerk at or above {chain[0]}")

    def kiosk_for(self, chain: Sequence[str]) -> tuple[int, str] | None:
        for code in chain:
            found = self.kiosk_by_site.get(code)
            if found is not None:
                return found, code
        return None
