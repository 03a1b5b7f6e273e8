"""The seeded tables, their column order in generated rows, and the order they are written in.

Rows are plain tuples in the column order below, holding Python values: str
(enum values as their stored strings), int, bool, date, aware UTC datetime,
Decimal, or None. The writers adapt them per engine.
"""

from __future__ import annotations

from typing import Final

Row = tuple[object, ...]

COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "sites": (
        "code",
        "parent_code",
        "level",
        "name",
        "population_served",
        "floor_area_m2",
        "archive_area_m2",
    ),
    "staff": ("id", "site_code", "name", "degree", "hired_on"),
    "operators": (
        "id",
        "username",
        "site_code",
        "roles",
        "password_hash",
        "failed_logins",
        "locked_until",
        "active",
    ),
    "devices": ("id", "name", "kind", "site_code", "credential_hash", "active", "registered_at"),
    "employers": ("id", "credit_code", "name", "site_code"),
    "persons": (
        "id",
        "ssn",
        "name",
        "sex",
        "nationality",
        "birth_date",
        "birthplace",
        "household_registration",
        "residence_site_code",
        "phone",
        "address",
        "employment_status",
        "retirement_category",
    ),
    "cards": (
        "id",
        "card_number",
        "card_id_code",
        "person_id",
        "ssn",
        "generation",
        "issued_on",
        "expires_on",
        "state",
        "state_changed_at",
        "replacement_requested",
        "application_blocked",
        "replaces_card_id",
        "version",
        "cancellation_reason",
    ),
    "insurance_relations": (
        "id",
        "person_id",
        "scheme",
        "status",
        "start_date",
        "end_date",
        "employer_id",
    ),
    "contributions": (
        "id",
        "person_id",
        "scheme",
        "month",
        "base_fen",
        "employer_part_fen",
        "personal_part_fen",
        "employer_id",
        "paid_on",
    ),
    "prior_contribution_months": ("person_id", "scheme", "months", "before_month"),
    "pension_account_years": (
        "id",
        "person_id",
        "year",
        "opening_fen",
        "credited_fen",
        "interest_rate",
        "interest_fen",
        "closing_fen",
    ),
    "registrations": (
        "id",
        "person_id",
        "kind",
        "status",
        "site_code",
        "opened_at",
        "closed_at",
        "employer_id",
        "start_date",
        "contract_type",
        "certificate_no",
        "end_date",
        "separation_reason",
    ),
    "pension_entitlements": (
        "id",
        "person_id",
        "scheme",
        "monthly_pension_fen",
        "started_on",
        "last_certified_on",
        "suspended_since",
    ),
    "pension_certifications": (
        "id",
        "entitlement_id",
        "certified_at",
        "channel",
        "site_code",
        "operator_id",
        "device_id",
        "back_paid_months",
    ),
    "benefit_payments": ("id", "person_id", "benefit", "month", "amount_fen", "paid_on"),
    "pending_changes": (
        "id",
        "person_id",
        "field",
        "old_value",
        "new_value",
        "status",
        "requested_by_id",
        "requested_at",
        "decided_by_id",
        "decided_at",
        "reason",
    ),
}

WRITE_ORDER: Final = tuple(COLUMNS)
"""Parents before children (foreign keys are checked row by row)."""

PERSON_TABLES: Final = (
    "employers",
    "persons",
    "cards",
    "insurance_relations",
    "contributions",
    "prior_contribution_months",
    "pension_account_years",
    "registrations",
    "pension_entitlements",
    "pension_certifications",
    "benefit_payments",
    "pending_changes",
)
"""Tables that grow with the number of persons (written in batches)."""

ID_TABLES: Final = tuple(t for t in WRITE_ORDER if COLUMNS[t][0] == "id")


class RowBuffer:
    """Rows generated for one batch, per table."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Row]] = {table: [] for table in WRITE_ORDER}

    def __getitem__(self, table: str) -> list[Row]:
        return self.rows[table]

    def count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def clear(self) -> None:
        for rows in self.rows.values():
            rows.clear()
