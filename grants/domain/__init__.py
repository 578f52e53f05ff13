"""Domain operations: plain inputs in, a receipt out. They flush and never commit.

Every operation that moves money or changes a fund, grant, gift, redemption, partner or a
user's standing takes an idempotency key and the acting user (creating a user, signing in and
out and setting a password take none), and ``now`` from its caller where the time matters
(the one clock is :mod:`grants.clock`). It checks the actor's role and their right to the
object, and returns a :class:`~grants.domain.idempotency.Receipt`. An amount may be
:class:`~grants.domain.money.Money`, a ``Decimal`` or the text a person typed
(:data:`~grants.domain.checks.Amount`): the operation reads it in its own fund's or wallet's
currency. The entry point (:func:`grants.unit_of_work.run`) commits once.
"""
