"""Shared fixtures. Each helper module beside this file is a pytest plugin listed here.

- pcsc_harness: `pcsc_session`, `pcsc_stack`, `plug` (the real PC/SC stack: a
  private pcscd with vpcd readers and simulated cards in its slots; tests
  using them get the `pcsc` marker).
- db_fixtures: `database_url`, `pg_database_url`, `pg_databases`, … (an empty SQLite
  and PostgreSQL database; PostgreSQL from CARDSVC_TEST_DATABASE_URL).
"""

pytest_plugins = ["pcsc_harness", "db_fixtures"]
