"""The documented demo credentials of a seeded database (set only with ``--demo``).

Every operator's password, every device's secret and every card file's PIN. They
are public on purpose: a seeded database is demo and test data, never production.
"""

from __future__ import annotations

from typing import Final

DEMO_OPERATOR_PASSWORD: Final = "demo2011"  # noqa: S105 - the documented demo password
DEMO_DEVICE_SECRET: Final = "device-demo-2011"  # noqa: S105 - documented demo secret
DEMO_PIN: Final = "123456"
