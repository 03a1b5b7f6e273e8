"""Typed SQLAlchemy 2 models of the whole domain. `Base.metadata` is the schema.

Importing this package registers every table on `Base.metadata`; it opens nothing.
"""

from cardsvc.db.models.access import Device, Operator, PendingChange, RoleSet
from cardsvc.db.models.api_state import (
    ApiToken,
    CardChallenge,
    CardSession,
    HttpIdempotencyRecord,
    IdempotencyState,
    RateCounter,
)
from cardsvc.db.models.base import NAMING_CONVENTION, Base, UtcDateTime, utc_now
from cardsvc.db.models.cards import Card
from cardsvc.db.models.enums import (
    Benefit,
    CancellationReason,
    CardState,
    ChangeField,
    ChangeStatus,
    Channel,
    ContractType,
    Degree,
    DeviceKind,
    EmploymentStatus,
    ItemCode,
    Outcome,
    RegistrationKind,
    RegistrationStatus,
    RelationStatus,
    RetirementCategory,
    Role,
    Scheme,
    SeparationReason,
    Sex,
    SiteLevel,
)
from cardsvc.db.models.insurance import (
    BenefitPayment,
    Contribution,
    InsuranceRelation,
    PensionAccountYear,
    PensionCertification,
    PensionEntitlement,
    PriorContribution,
)
from cardsvc.db.models.people import Employer, Person
from cardsvc.db.models.records import DailyLedger, IdempotencyRecord, JournalEntry, JournalHead
from cardsvc.db.models.registrations import Registration
from cardsvc.db.models.sites import Site, Staff

__all__ = [
    "NAMING_CONVENTION",
    "ApiToken",
    "Base",
    "Benefit",
    "BenefitPayment",
    "CancellationReason",
    "Card",
    "CardChallenge",
    "CardSession",
    "CardState",
    "ChangeField",
    "ChangeStatus",
    "Channel",
    "ContractType",
    "Contribution",
    "DailyLedger",
    "Degree",
    "Device",
    "DeviceKind",
    "Employer",
    "EmploymentStatus",
    "HttpIdempotencyRecord",
    "IdempotencyRecord",
    "IdempotencyState",
    "InsuranceRelation",
    "ItemCode",
    "JournalEntry",
    "JournalHead",
    "Operator",
    "Outcome",
    "PendingChange",
    "PensionAccountYear",
    "PensionCertification",
    "PensionEntitlement",
    "Person",
    "PriorContribution",
    "RateCounter",
    "Registration",
    "RegistrationKind",
    "RegistrationStatus",
    "RelationStatus",
    "RetirementCategory",
    "Role",
    "RoleSet",
    "Scheme",
    "SeparationReason",
    "Sex",
    "Site",
    "SiteLevel",
    "Staff",
    "UtcDateTime",
    "utc_now",
]
