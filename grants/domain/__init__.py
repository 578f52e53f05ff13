"""Domain operations: plain inputs in, a receipt out. They flush and never commit.

Every mutating operation takes an idempotency key and the acting user, and ``now`` from its
caller where the time matters (the one clock is :mod:`grants.clock`); it checks the actor's
role and their right to the object, and returns a
:class:`~grants.domain.idempotency.Receipt`. An amount may be
:class:`~grants.domain.money.Money`, a ``Decimal`` or the text a person typed
(:data:`~grants.domain.checks.Amount`): the operation reads it in its own fund's or wallet's
currency. The entry point (:func:`grants.unit_of_work.run`) commits once.
"""
