"""The bulk loader: history written straight into the tables exactly as the domain writes it.

:class:`LedgerLoader` appends operations in batches: every one is a balanced ledger
transaction with its postings, an idempotency record and hash-chained audit events, and
the stored balances move by the sum of each batch's postings in the batch's own commit,
so every commit leaves a ledger that ``flask grants ledger verify`` and ``flask grants
audit verify`` accept. Audit payloads, idempotency requests and receipts, ledger memos and
the gift and redemption rows come from the domain's own builders (``gifts.given_audit``,
``redemptions.redemption_request`` …), so a change to what an operation records changes
what the loader writes with it. The scale dataset and the ledger benchmarks load with it.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from grants.domain import allowances, claims, funds, gifts, payouts, redemptions
from grants.domain.idempotency import Receipt
from grants.domain.money import Money
from grants.models import (
    CohortStatus,
    Country,
    GiftState,
    RedemptionState,
    Relation,
    Role,
    TransactionKind,
    WalletKind,
)
from grants.seed.bulk import (
    AMBASSADORS,
    GIFTS,
    IDEMPOTENCY,
    PAYOUT_BATCHES,
    REDEMPTIONS,
    USERS,
    BulkWriter,
    plain,
)

CYCLE_DOLLARS = (50, 150)
"""The range of one bulk-loaded session payout, in whole units of the currency."""


@dataclass
class Books:
    """One therapy fund's ids and the wallets loaded into it; objects are loaded per request,
    as views do."""

    fund_id: int
    manager_id: int
    finance_id: int
    programme_id: int
    pool_id: int
    payable_id: int
    paid_id: int
    plan_year_start: date
    currency: str = "USD"
    country: Country = Country.US
    source_id: int = 0
    """The fund's budget source account (for budget increases); 0 when not needed."""
    deadline: datetime | None = None
    """The first instant after the plan year: no gift is claimable from then on."""
    ambassador_ids: list[int] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)
    wallet_ids: list[int] = field(default_factory=list)
    available_ids: list[int] = field(default_factory=list)
    hold_ids: list[int] = field(default_factory=list)

    def join(
        self, ambassador_id: int, user_id: int, wallet_id: int, available_id: int, hold_id: int
    ) -> None:
        """Take an ambassador's wallet into the books."""
        self.ambassador_ids.append(ambassador_id)
        self.user_ids.append(user_id)
        self.wallet_ids.append(wallet_id)
        self.available_ids.append(available_id)
        self.hold_ids.append(hold_id)

    def money(self, amount: int) -> Money:
        """``amount`` minor units of the fund's currency."""
        return Money(amount, self.currency)


@dataclass(frozen=True)
class Person:
    """A name and an email address for a loaded user."""

    display_name: str
    email: str


class LedgerLoader(BulkWriter):
    """Writes history straight into the tables, in batches, as the domain would have written it.

    Each operation is a balanced transaction with its postings, an idempotency record and
    its audit events, chained on from the chain's current head. Stored balances move by the
    sum of each batch's postings in the batch's own commit, so every commit leaves a ledger
    that ``verify_ledger`` accepts. Methods act on ``books`` (the loader's own by default).
    """

    def __init__(
        self,
        session: Session,
        books: Books,
        clock: datetime,
        *,
        key_prefix: str = "bench-load",
        email_domain: str = "bench.example",
    ) -> None:
        super().__init__(session, clock, key_prefix=key_prefix)
        self.books = books
        self.email_domain = email_domain
        self.last_paid: dict[str, datetime] = {}
        """Per payment reference given to :meth:`redemption`, when its latest redemption
        was paid: the time of the batch :meth:`pay_batch` records."""

    def _person(self, user_id: int, person: Person | None, role: Role, books: Books) -> None:
        """The user ``user_id``: ``person``, or a made-up ambassador, in ``books``' country."""
        person = person or Person(
            f"Ambassador {user_id}", f"ambassador{user_id}@{self.email_domain}"
        )
        locale = "en_GB" if books.country is Country.GB else "en_US"
        self.user(user_id, person.display_name, person.email, role, locale)

    def enrol_ambassadors(self, count: int, books: Books | None = None) -> None:
        """``count`` current ambassadors of the books' programme and country, each with an
        empty wallet."""
        books = books or self.books
        for _ in range(count):
            self.enrol(books, books.programme_id, CohortStatus.CURRENT)
        self.flush()

    def enrol(
        self,
        books: Books,
        programme_id: int,
        status: CohortStatus,
        person: Person | None = None,
    ) -> int:
        """One ambassador of ``books``' country; a current one gets an empty wallet in
        ``books``' fund. Returns the ambassador's id."""
        user_id = self._take(USERS)
        ambassador_id = self._take(AMBASSADORS)
        self._person(user_id, person, Role.AMBASSADOR, books)
        self.rows[AMBASSADORS.name].append(
            {
                "id": ambassador_id,
                "user_id": user_id,
                "programme_id": programme_id,
                "country": books.country.value,
                "cohort_status": status.value,
            }
        )
        if status is CohortStatus.CURRENT:
            kind = WalletKind.AMBASSADOR
            wallet_id, available_id, hold_id = self.wallet(
                books.fund_id, books.currency, user_id, kind
            )
            books.join(ambassador_id, user_id, wallet_id, available_id, hold_id)
        return ambassador_id

    def cohort_allowance(
        self, each: int, books: Books | None = None, slots: Sequence[int] | None = None
    ) -> int:
        """An allowance of ``each`` to every ambassador of ``books`` (or to those at
        ``slots``), as ``allocate_cohort`` posts: one transaction. Returns its id."""
        books = books or self.books
        chosen = range(len(books.wallet_ids)) if slots is None else slots
        legs = [(books.pool_id, -each * len(chosen))]
        legs += [(books.available_ids[slot], each) for slot in chosen]
        transaction_id = self.transaction(
            TransactionKind.ALLOWANCE,
            legs,
            currency=books.currency,
            actor_id=books.manager_id,
            operation="allowance.allocate_cohort",
            request=allowances.cohort_request(books.fund_id, books.money(each), None, None, None),
            object_id=len(chosen),
            receipt=lambda transaction_id: allowances.allowance_receipt(
                "allowance.allocate_cohort", len(chosen), transaction_id, each, books.currency
            ),
        )
        after = allowances.allowance_audit(each, books.currency, transaction_id)
        for slot in chosen:
            wallet_id = books.wallet_ids[slot]
            self.audit(books.manager_id, "allowance.allocate", "wallet", wallet_id, after=after)
        if slots is None:
            self.flush()
        return transaction_id

    def allowance(self, slot: int, amount: int, books: Books | None = None) -> int:
        """An allowance of ``amount`` to one wallet, as ``allocate_allowance`` posts."""
        books = books or self.books
        ambassador_id = books.ambassador_ids[slot]
        transaction_id = self.transaction(
            TransactionKind.ALLOWANCE,
            [(books.pool_id, -amount), (books.available_ids[slot], amount)],
            currency=books.currency,
            actor_id=books.manager_id,
            operation="allowance.allocate",
            request=allowances.allocation_request(
                books.fund_id, ambassador_id, books.money(amount)
            ),
            object_id=ambassador_id,
            receipt=lambda transaction_id: allowances.allowance_receipt(
                "allowance.allocate", ambassador_id, transaction_id, amount, books.currency
            ),
        )
        after = allowances.allowance_audit(amount, books.currency, transaction_id)
        wallet_id = books.wallet_ids[slot]
        self.audit(books.manager_id, "allowance.allocate", "wallet", wallet_id, after=after)
        return transaction_id

    def budget_increase(self, amount: int, books: Books, reason: str) -> int:
        """Raise ``books``' fund budget by ``amount``, as ``change_budget`` posts."""
        operation = funds.budget_operation(lower=False)
        transaction_id = self.transaction(
            TransactionKind.BUDGET_INCREASE,
            [(books.source_id, -amount), (books.pool_id, amount)],
            currency=books.currency,
            actor_id=books.manager_id,
            operation=operation,
            request=funds.budget_request(books.fund_id, books.money(amount), reason),
            object_id=books.fund_id,
            memo=funds.budget_memo(reason),
        )
        after = funds.budget_audit(amount, books.currency, reason, transaction_id)
        self.audit(books.manager_id, operation, "fund", books.fund_id, after=after)
        return transaction_id

    def redemption(
        self,
        slot: int,
        amount: int,
        state: RedemptionState,
        books: Books | None = None,
        *,
        provider: str = "Dr Lee, Nashville",
        reference: str | None = None,
        reason: str = "",
    ) -> int:
        """A redemption of ``amount`` from one wallet, taken to ``state`` by the operations
        that lead there (requested; approved; paid; rejected; cancelled). Returns its id.

        A paid redemption belongs to the batch ``reference`` names, which the caller records
        with :meth:`pay_batch` once all of it is paid; without a reference it is a batch of
        its own (``PAY-<id>``), recorded here."""
        books = books or self.books
        user_id, wallet_id = books.user_ids[slot], books.wallet_ids[slot]
        available_id, hold_id = books.available_ids[slot], books.hold_ids[slot]
        redemption_id = self._take(REDEMPTIONS)
        requested_at = self.clock
        row = redemptions.requested_redemption(
            wallet_id=wallet_id,
            amount=amount,
            currency=books.currency,
            provider=provider,
            session_date=requested_at.date(),
            requested_at=requested_at,
        )
        row.update(decided_at=None, decided_by_id=None, payment_reference=None, paid_at=None)
        hold = self.transaction(
            TransactionKind.REDEMPTION_HOLD,
            [(available_id, -amount), (hold_id, amount)],
            currency=books.currency,
            actor_id=user_id,
            operation="redemption.request",
            request=redemptions.redemption_request(
                wallet_id, books.money(amount), provider, requested_at.date()
            ),
            object_id=redemption_id,
        )
        after = redemptions.requested_audit(amount, books.currency, hold)
        self.audit(user_id, "redemption.request", "redemption", redemption_id, after=after)
        finance = books.finance_id
        if state in (RedemptionState.APPROVED, RedemptionState.PAID):
            row.update(decided_at=self._tick(), decided_by_id=finance)
            self._decide(
                books, redemption_id, amount, "approve", finance, (hold_id, books.payable_id)
            )
        alone = state is RedemptionState.PAID and reference is None
        if state is RedemptionState.PAID:
            reference = reference or f"PAY-{redemption_id}"
            move = (books.payable_id, books.paid_id)
            self._decide(books, redemption_id, amount, "pay", finance, move, reference=reference)
            row.update(payment_reference=reference, paid_at=self.clock)
            self.last_paid[reference] = self.clock
        if state is RedemptionState.REJECTED:
            row.update(decided_at=self._tick(), decided_by_id=finance, reason=reason)
            move = (hold_id, available_id)
            self._decide(books, redemption_id, amount, "reject", finance, move, reason=reason)
        if state is RedemptionState.CANCELLED:
            row.update(decided_at=self._tick())
            self._decide(books, redemption_id, amount, "cancel", user_id, (hold_id, available_id))
        row.update(state=state.value)
        self.rows[REDEMPTIONS.name].append({"id": redemption_id, **plain(row)})
        if alone:
            assert reference is not None
            self.pay_batch(books, reference, [redemption_id], amount)
        return redemption_id

    def _decide(
        self,
        books: Books,
        redemption_id: int,
        amount: int,
        verb: str,
        actor_id: int,
        move: tuple[int, int],
        **details: str,
    ) -> None:
        """One decision on a redemption (``verb``: approve, pay, reject, cancel) by
        ``actor_id``: ``amount`` moves from the first account of ``move`` to the second, and
        the redemption from the state it was in to the next. ``details`` are the decision's
        own (a payment's ``reference``, a rejection's ``reason``)."""
        source, destination = move
        operation = f"redemption.{verb}"
        reference = details.get("reference")
        transaction_id = self.transaction(
            DECISIONS[verb][0],
            [(source, -amount), (destination, amount)],
            currency=books.currency,
            actor_id=actor_id,
            operation=operation,
            request=redemptions.decision_request(redemption_id, **details),
            object_id=redemption_id,
            memo=redemptions.payment_memo(reference) if reference is not None else "",
        )
        before_state, after_state = DECISIONS[verb][1:]
        before = redemptions.state_before(before_state.value)
        after = redemptions.state_after(after_state.value, transaction_id)
        self.audit(actor_id, operation, "redemption", redemption_id, before=before, after=after)

    def pay_batch(
        self, books: Books, reference: str, redemption_ids: Sequence[int], total: int
    ) -> None:
        """The row, record and audit event of paying ``redemption_ids``, each already paid
        under ``reference``, as one batch (as ``pay_redemptions`` records it after paying
        them), paid when the last of them was."""
        ids = sorted(redemption_ids)
        operation = "redemption.pay_batch"
        batch_id = self._take(PAYOUT_BATCHES)
        paid_at = self.last_paid.pop(reference)
        row = payouts.paid_batch(
            reference, books.currency, len(ids), total, paid_at, books.finance_id
        )
        self.rows[PAYOUT_BATCHES.name].append({"id": batch_id, **row})
        key = f"{self.key_prefix}:batch:{self.next_id[IDEMPOTENCY.name]}"
        request = payouts.batch_request(ids, reference)
        receipt = Receipt(operation, object_id=len(ids))
        self.record(key, books.finance_id, operation, request, receipt)
        after = payouts.batch_audit(reference, ids, total, books.currency)
        self.audit(books.finance_id, operation, "payout_batch", batch_id, after=after)

    def session_cycle(
        self, slot: int, amount: int, books: Books | None = None, reference: str | None = None
    ) -> int:
        """A wallet's life for one therapy session: an allowance of ``amount``, a redemption
        of it held, approved and paid. Eight postings; the wallet ends where it began.
        Returns the redemption's id."""
        books = books or self.books
        self.allowance(slot, amount, books)
        redemption_id = self.redemption(
            slot, amount, RedemptionState.PAID, books, reference=reference
        )
        self.flush_when_full()
        return redemption_id

    def gift(
        self,
        slot: int,
        amount: int,
        state: GiftState,
        books: Books,
        *,
        recipient: Person,
        relation: Relation,
        now: datetime,
    ) -> int:
        """A gift of ``amount`` from one wallet, taken to ``state`` by the operations that
        lead there; a claimed gift creates its recipient's account and wallet. Returns its id.

        Pending gifts run to the earlier of ``now`` plus 30 days and the plan year's end;
        expired ones ran out at the moment they were expired. The claim tokens are random and
        kept by nobody: only their hashes are stored, as for any gift.
        """
        giver_id, wallet_id = books.user_ids[slot], books.wallet_ids[slot]
        available_id, hold_id = books.available_ids[slot], books.hold_ids[slot]
        gift_id = self._take(GIFTS)
        token = secrets.token_urlsafe(32)
        validity = gifts.DEFAULT_GIFT_VALIDITY
        row = gifts.pending_gift(
            fund_id=books.fund_id,
            giver_wallet_id=wallet_id,
            amount=amount,
            currency=books.currency,
            recipient_name=recipient.display_name,
            recipient_email=recipient.email,
            relation=relation,
            message="",
            token=token,
            created_at=self.clock,
            expires_at=gifts.gift_expiry(now, books.deadline or now + validity, validity),
        )
        row.update(settled_at=None, recipient_wallet_id=None)
        hold = self.transaction(
            TransactionKind.GIFT_HOLD,
            [(available_id, -amount), (hold_id, amount)],
            currency=books.currency,
            actor_id=giver_id,
            operation="gift.give",
            request=gifts.give_request(
                wallet_id,
                books.money(amount),
                recipient.display_name,
                recipient.email,
                relation,
                "",
            ),
            object_id=gift_id,
        )
        after = gifts.given_audit(amount, books.currency, hold)
        self.audit(giver_id, "gift.give", "gift", gift_id, after=after)
        if state is GiftState.CLAIMED:
            row.update(self._claim(books, gift_id, hold_id, amount, recipient, token))
        elif state in (GiftState.REVOKED, GiftState.EXPIRED):
            revoked = state is GiftState.REVOKED
            settled_at = self._tick()
            row.update(state=state, settled_at=settled_at)
            if not revoked:
                row.update(created_at=settled_at - validity, expires_at=settled_at)
            actor_id = giver_id if revoked else None
            operation = gifts.release_operation(state)
            release = self.transaction(
                TransactionKind.GIFT_RELEASE,
                [(hold_id, -amount), (available_id, amount)],
                currency=books.currency,
                actor_id=actor_id,
                operation=operation,
                request=gifts.gift_request(gift_id),
                object_id=gift_id,
            )
            after = gifts.released_audit(state, False, release)
            before = gifts.pending_before()
            self.audit(actor_id, operation, "gift", gift_id, before=before, after=after)
        self.rows[GIFTS.name].append({"id": gift_id, **plain(row)})
        return gift_id

    def _claim(
        self, books: Books, gift_id: int, hold_id: int, amount: int, recipient: Person, token: str
    ) -> dict[str, object]:
        """A new recipient's claim of a gift: their account and wallet, the credit moved into
        it. Returns what changes on the gift's row."""
        recipient_id = self._take(USERS)
        self._person(recipient_id, recipient, Role.RECIPIENT, books)
        kind = WalletKind.RECIPIENT
        wallet_id, account_id, _ = self.wallet(books.fund_id, books.currency, recipient_id, kind)
        settled_at = self._tick()
        claim = self.transaction(
            TransactionKind.GIFT_CLAIM,
            [(hold_id, -amount), (account_id, amount)],
            currency=books.currency,
            actor_id=recipient_id,
            operation="gift.claim",
            request=claims.claim_request(token, recipient.display_name),
            object_id=gift_id,
            anonymous=True,
            receipt=lambda transaction_id: claims.claim_receipt(
                gift_id, transaction_id, recipient_id
            ),
        )
        created = claims.recipient_created_audit()
        self.audit(recipient_id, "user.create", "user", recipient_id, after=created)
        before, after = gifts.pending_before(), claims.claimed_audit(wallet_id, claim)
        self.audit(recipient_id, "gift.claim", "gift", gift_id, before=before, after=after)
        return {
            "state": GiftState.CLAIMED,
            "settled_at": settled_at,
            "recipient_wallet_id": wallet_id,
        }

    def grow_to(self, postings: int, rng: random.Random) -> int:
        """Add session cycles on random wallets until the ledger holds ``postings``; returns
        how many cycles were added."""
        cycles = 0
        low, high = CYCLE_DOLLARS
        while self.postings < postings:
            slot = rng.randrange(len(self.books.wallet_ids))
            self.session_cycle(slot, 100 * rng.randint(low, high))
            cycles += 1
        self.flush()
        return cycles


DECISIONS = {
    "approve": (
        TransactionKind.REDEMPTION_APPROVAL,
        RedemptionState.REQUESTED,
        RedemptionState.APPROVED,
    ),
    "pay": (TransactionKind.PROVIDER_PAYMENT, RedemptionState.APPROVED, RedemptionState.PAID),
    "reject": (
        TransactionKind.REDEMPTION_RELEASE,
        RedemptionState.REQUESTED,
        RedemptionState.REJECTED,
    ),
    "cancel": (
        TransactionKind.REDEMPTION_RELEASE,
        RedemptionState.REQUESTED,
        RedemptionState.CANCELLED,
    ),
}
"""What each decision on a redemption posts, and the states it moves the redemption between."""
