"""Business rules of the social security service, as pure functions over plain values.

Nothing here touches a database, a reader or the clock: callers pass in "today",
the person's figures and a :class:`cardsvc.rules.config.RulesConfig`, and get back a
frozen dataclass that says what was decided, by which rule, and why.

Modules: ``months`` (YearMonth), ``config`` (RulesConfig), ``card_lifecycle``,
``unemployment``, ``retirement``, ``resident_pension``, ``certification``,
``medical``, ``site_standards``, ``contributions``; errors in ``errors``.
"""
