"""Signing in: operators (username + password) and devices (device id + credential).

Operators: argon2id passwords (the seeder's scrypt hashes are accepted and
rehashed to argon2id at the first successful sign-in). ``login_max_failures``
failed sign-ins in a row lock the account for ``login_lockout_s``
(``operators.failed_logins`` / ``locked_until``, updated atomically in the
database so every process counts). An unknown user, a disabled account and a
wrong password all get the same 401 ``invalid-credentials`` after the same work
(a dummy hash verification for unknown users). A locked account gets 423
``account-locked`` with ``Retry-After`` and ``locked_until``: the lock is news
the user needs, and telling it costs nothing (the attacker who caused it
already knows the account exists). The failure that locks the account answers
423 at once.

Devices: failed sign-ins are counted per device in ``rate_counters`` (subject
``device-login:<id>``, fixed windows of ``login_lockout_s``); at
``login_max_failures`` the device is locked until that window ends (423).

Password checks run outside any transaction (they take ~0.1 s on purpose).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from api import ratelimit, tokens
from api.context import ApiContext
from api.errors import AccountLocked, InvalidCredentials
from cardsvc.db.models import Device, DeviceKind, Operator, Role

logger = logging.getLogger(__name__)

_BAD_OPERATOR = "unknown user or wrong password"
_BAD_DEVICE = "unknown device or wrong credential"


@dataclass(frozen=True, slots=True)
class OperatorSignIn:
    token: tokens.IssuedToken
    operator_id: int
    username: str
    site_code: str
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class DeviceSignIn:
    token: tokens.IssuedToken
    device_id: int
    name: str
    kind: DeviceKind
    site_code: str


def _locked(what: str, until: datetime, now: datetime) -> AccountLocked:
    retry = max(1, math.ceil((until - now).total_seconds()))
    return AccountLocked(
        f"too many failed sign-ins: the {what} is locked until "
        f"{until.strftime('%Y-%m-%dT%H:%M:%SZ')}; try again in {retry} s",
        locked_until=until,
        retry_after_s=retry,
    )


def login_operator(context: ApiContext, username: str, password: str) -> OperatorSignIn:
    """Check the password and issue a token; raises InvalidCredentials or AccountLocked."""
    settings = context.settings
    with context.database.read_only_unit_of_work() as uow:
        operator = uow.session.execute(
            select(Operator).where(Operator.username == username)
        ).scalar_one_or_none()
    now = context.now()
    if operator is None or not operator.active:
        context.passwords.dummy_verify(password)
        raise InvalidCredentials(_BAD_OPERATOR)
    if operator.locked_until is not None and operator.locked_until > now:
        raise _locked("account", operator.locked_until, now)
    stored = operator.password_hash
    if not context.passwords.verify(password, stored):
        _operator_failed(context, operator.id, now)
    rehashed = context.passwords.hash(password) if context.passwords.needs_rehash(stored) else None
    now = context.now()
    with context.database.unit_of_work() as uow:
        cleared = uow.session.execute(
            update(Operator)
            .where(
                Operator.id == operator.id,
                Operator.active.is_(True),
                or_(Operator.locked_until.is_(None), Operator.locked_until <= now),
            )
            .values(failed_logins=0, locked_until=None)
            .execution_options(synchronize_session=False)
        )
        if not getattr(cleared, "rowcount", 0):
            until = _locked_until(uow.session, operator.id)
            if until is not None and until > now:
                raise _locked("account", until, now)
            raise InvalidCredentials(_BAD_OPERATOR)
        if rehashed is not None:
            uow.session.execute(
                update(Operator)
                .where(Operator.id == operator.id, Operator.password_hash == stored)
                .values(password_hash=rehashed)
                .execution_options(synchronize_session=False)
            )
        issued = tokens.issue(
            uow.session, now=now, ttl_s=settings.token_ttl_s, operator_id=operator.id
        )
    logger.info("operator %s signed in", operator.username)
    return OperatorSignIn(
        token=issued,
        operator_id=operator.id,
        username=operator.username,
        site_code=operator.site_code,
        roles=operator.roles,
    )


def _locked_until(session: Session, operator_id: int) -> datetime | None:
    return session.execute(
        select(Operator.locked_until).where(Operator.id == operator_id)
    ).scalar_one_or_none()


def _operator_failed(context: ApiContext, operator_id: int, now: datetime) -> NoReturn:
    """Count a failed sign-in (atomically); lock at the limit. Always raises."""
    settings = context.settings
    with context.database.unit_of_work() as uow:
        failures = uow.session.execute(
            update(Operator)
            .where(Operator.id == operator_id)
            .values(failed_logins=Operator.failed_logins + 1)
            .returning(Operator.failed_logins)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        until: datetime | None = None
        if failures >= settings.login_max_failures:
            until = now + timedelta(seconds=settings.login_lockout_s)
            uow.session.execute(
                update(Operator)
                .where(Operator.id == operator_id)
                .values(failed_logins=0, locked_until=until)
                .execution_options(synchronize_session=False)
            )
    if until is not None:
        logger.warning("operator %d locked after %d failed sign-ins", operator_id, failures)
        raise _locked("account", until, now)
    raise InvalidCredentials(_BAD_OPERATOR)


def login_device(context: ApiContext, device_id: int, credential: str) -> DeviceSignIn:
    """Check a device's credential and issue a device token."""
    settings = context.settings
    subject = f"device-login:{device_id}"
    now = context.now()
    with context.database.read_only_unit_of_work() as uow:
        device = uow.session.get(Device, device_id)
        failures = ratelimit.peek(uow.session, subject, now=now, window_s=settings.login_lockout_s)
    if device is None or not device.active:
        context.passwords.dummy_verify(credential)
        raise InvalidCredentials(_BAD_DEVICE)
    if failures.count >= settings.login_max_failures:
        raise _locked("device", failures.start + timedelta(seconds=failures.window_s), now)
    stored = device.credential_hash
    if not context.passwords.verify(credential, stored):
        with context.database.unit_of_work() as uow:
            counted = ratelimit.hit(
                uow.session, subject, now=now, window_s=settings.login_lockout_s
            )
        if counted.count >= settings.login_max_failures:
            logger.warning("device %d locked after %d failed sign-ins", device_id, counted.count)
            raise _locked("device", counted.start + timedelta(seconds=counted.window_s), now)
        raise InvalidCredentials(_BAD_DEVICE)
    rehashed = (
        context.passwords.hash(credential) if context.passwords.needs_rehash(stored) else None
    )
    now = context.now()
    with context.database.unit_of_work() as uow:
        ratelimit.forget(uow.session, subject)
        if rehashed is not None:
            uow.session.execute(
                update(Device)
                .where(Device.id == device.id, Device.credential_hash == stored)
                .values(credential_hash=rehashed)
                .execution_options(synchronize_session=False)
            )
        issued = tokens.issue(
            uow.session, now=now, ttl_s=settings.device_token_ttl_s, device_id=device.id
        )
    logger.info("device %d (%s) signed in", device.id, device.kind.value)
    return DeviceSignIn(
        token=issued,
        device_id=device.id,
        name=device.name,
        kind=device.kind,
        site_code=device.site_code,
    )
