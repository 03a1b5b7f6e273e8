"""The codes stored in the database. Values are what the columns hold; never renumber them.

Adding a member needs a migration (the columns carry CHECK constraints).
`CardState`, `RetirementCategory` and `SeparationReason` are the rules' own enums
(cardsvc.rules),
re-exported here so that the models and the rules share one definition.
"""

from __future__ import annotations

from enum import StrEnum

from cardsvc.rules.card_lifecycle import CardState
from cardsvc.rules.retirement import RetirementCategory
from cardsvc.rules.unemployment import SeparationReason

__all__ = [
    "Benefit",
    "CancellationReason",
    "CardState",
    "ChangeField",
    "ChangeStatus",
    "Channel",
    "ContractType",
    "Degree",
    "DeviceKind",
    "EmploymentStatus",
    "ItemCode",
    "Outcome",
    "RegistrationKind",
    "RegistrationStatus",
    "RelationStatus",
    "RetirementCategory",
    "Role",
    "Scheme",
    "SeparationReason",
    "Sex",
    "SiteLevel",
]


class SiteLevel(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    TOWNSHIP = "township"
    STATION = "station"


class Degree(StrEnum):
    """Highest education of a staff member (township hires need COLLEGE or above)."""

    BELOW_COLLEGE = "below_college"
    COLLEGE = "college"  # 大专
    BACHELOR = "bachelor"
    MASTER = "master"
    DOCTORATE = "doctorate"


class Sex(StrEnum):
    """GB/T 2261.1; the card stores '1' male, '2' female."""

    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


class EmploymentStatus(StrEnum):
    EMPLOYED = "employed"
    UNEMPLOYED = "unemployed"
    RETIRED = "retired"
    NOT_WORKING = "not_working"


class Scheme(StrEnum):
    EMPLOYEE_PENSION = "employee_pension"  # 企业职工基本养老
    RESIDENT_PENSION = "resident_pension"  # 城乡居民基本养老
    EMPLOYEE_MEDICAL = "employee_medical"
    RESIDENT_MEDICAL = "resident_medical"
    UNEMPLOYMENT = "unemployment"
    WORK_INJURY = "work_injury"


class RelationStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class Benefit(StrEnum):
    EMPLOYEE_PENSION = "employee_pension"
    RESIDENT_PENSION = "resident_pension"
    UNEMPLOYMENT = "unemployment"


class RegistrationKind(StrEnum):
    EMPLOYMENT = "employment"  # 就业登记
    UNEMPLOYMENT = "unemployment"  # 失业登记


class RegistrationStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ContractType(StrEnum):
    FIXED_TERM = "fixed_term"
    OPEN_ENDED = "open_ended"
    TASK_BASED = "task_based"  # 以完成一定工作任务为期限
    PART_TIME = "part_time"  # 非全日制


class CancellationReason(StrEnum):
    """Why a card was cancelled (C08, 注销)."""

    DEATH = "death"
    EMIGRATION = "emigration"


class Channel(StrEnum):
    COUNTER = "counter"
    KIOSK = "kiosk"


class Role(StrEnum):
    CLERK = "clerk"
    REVIEWER = "reviewer"
    SUPERVISOR = "supervisor"
    ADMINISTRATOR = "administrator"


class DeviceKind(StrEnum):
    KIOSK = "kiosk"
    COUNTER = "counter"


class ChangeField(StrEnum):
    """R05 changes that need a second operator's approval."""

    NAME = "name"
    SSN = "ssn"


class ChangeStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ItemCode(StrEnum):
    """Business items (domain section 3)."""

    E01 = "E01"
    E02 = "E02"
    E03 = "E03"
    E04 = "E04"
    E05 = "E05"
    R01 = "R01"
    R02 = "R02"
    R03 = "R03"
    R04 = "R04"
    R05 = "R05"
    B01 = "B01"
    B02 = "B02"
    B03 = "B03"
    B04 = "B04"
    C01 = "C01"
    C02 = "C02"
    C03 = "C03"
    C04 = "C04"
    C05 = "C05"
    C06 = "C06"
    C07 = "C07"
    C08 = "C08"


class Outcome(StrEnum):
    """How a transaction ended, as journaled and counted in the daily ledgers."""

    OK = "ok"  # done (an enquiry answered, whatever the answer)
    REFUSED = "refused"  # a business rule said no (duplicate registration, wrong card state)
    DENIED = "denied"  # not permitted (role, site scope, hotlisted card, PIN)
    FAILED = "failed"  # technical failure (card removed, link down)
