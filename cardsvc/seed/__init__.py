"""A synthetic Zaozhuang for the social security service: `cardsvc seed`.

Builds the real site tree (city 370400, 6 districts, 65 townships) with synthetic
stations and staff, documented operators and devices, N residents with valid
citizen IDs and everything the service keeps about them (employers, insurance
relations, contributions, pension accounts, pensions and certifications, benefit
payments, registrations, cards in every lifecycle state), and optionally
personalisation files for the simulator that match seeded residents.

Deterministic: the same options on the same starting database give the same
content, on SQLite and PostgreSQL alike. Nothing reads the clock but the entry
point (which defaults ``as_of`` to today).

Modules: ``options`` (what to seed), ``runner`` (modes, the one transaction),
``sites`` (the tree and staff), ``access`` (operators, devices), ``people``
(``names``), ``employers`` (``credit_code``: GB 32100), ``employment``, ``pensions``,
``cards``, ``lives`` (one resident's records), ``context`` (history window, ids,
SSN numbering), ``rng`` (seeded streams), ``tables`` (row layout), ``writer`` (COPY /
executemany), ``bulk`` (indexes off during the load), ``card_files`` (simulator
files), ``passwords`` (scrypt hashes), ``progress``.

Entry points: ``cardsvc.seed.runner.seed_database(engine, SeedOptions(...))`` and
``cardsvc.seed.card_files.write_card_files``. The package itself imports nothing
(so ``cardsvc --help`` does not pay for it).

Memory stays bounded: residents are generated and written in batches
(``SeedOptions.batch_persons``); what grows with N is only the SSN numbering table
(one small entry per birthplace, birth day and sex) and the employer list (N / 25).
"""
