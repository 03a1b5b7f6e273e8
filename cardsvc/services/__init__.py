"""Business-item services: one function per item of shared/domain.md section 3.

Each item function takes a :class:`~cardsvc.services.context.ServiceContext`, the
calling :data:`~cardsvc.services.actors.Actor` and the item's inputs; it runs in ONE
unit of work and writes exactly ONE journal entry (refusals included), see
:mod:`cardsvc.services.runner`. Write items take an idempotency key
(:mod:`cardsvc.services.idempotency`); who may do what is in
:mod:`cardsvc.services.scope`; errors in :mod:`cardsvc.services.errors`.

Items by area (modules under ``cardsvc.services.items``):

- ``enquiries``: E01 insurance_participation, E02 contribution_history,
  E03 personal_account, E04 benefit_payments, E05 employment_status;
- ``registrations``: R01 register_employment, R02 register_unemployment,
  R03 enrol_resident_pension, R04 enrol_resident_medical,
  R05 change_personal_information (+ approve_change, reject_change);
- ``benefits``: B01 unemployment_benefit_eligibility, B02 certify_pension_qualification,
  B03 retirement_eligibility, B04 medical_insurance_status;
- ``cards``: C01 report_temporary_loss, C02 report_formal_loss, C03 cancel_loss,
  C04 replace_card, C05 record_pin_change, C06 record_pin_reload, C07 activate_card,
  C08 cancel_card, and the incremental hotlist;
- ``ledger``: daily_ledger, close_daily_ledger, site_report.

Importing this package opens nothing.
"""
