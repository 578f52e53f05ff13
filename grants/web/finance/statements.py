"""Finance's bank files and statements: payment files of a batch, a fund's payment settings,
statement imports and what they settled.

A batch's pain.001 and NACHA files are built afresh on each download from the batch's own
rows (:mod:`grants.domain.payment_files`); a batch the files cannot pay (a session without
a provider from the directory, a provider without bank details, a fund without its own
account, NACHA for pounds) is answered with the list of batches and the reason, never a
file. A statement (camt.053 or CSV, :mod:`grants.domain.reconciliation`) is read whole or
refused whole: nothing of a file that cannot be read, or was imported before, is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from cryptography.fernet import MultiFernet
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from grants import clock
from grants.data_key import current_data_keys
from grants.domain.errors import DomainError
from grants.domain.paging import paginate, paginate_rows
from grants.domain.payment_files import BankFile, nacha_file, pain001_file, set_payer
from grants.domain.payouts import payout_batches
from grants.domain.reconciliation import (
    ATTENTION,
    AlreadyImported,
    Unsettled,
    import_statement,
    lines_needing_attention,
    unsettled_payments,
)
from grants.extensions import db
from grants.models import (
    Fund,
    FundKind,
    Grant,
    LineOutcome,
    PayoutBatch,
    Role,
    StatementImport,
    StatementLine,
    Tranche,
    User,
)
from grants.payments.bank_details import BankDetails, check_scheme
from grants.payments.statements import MAX_BYTES
from grants.web import roles_required
from grants.web.actions import read, refusal_status, submit
from grants.web.documents import DOWNLOAD_POLICY, upload_view
from grants.web.finance.blueprint import bp
from grants.web.finance.statement_forms import FundPaymentsForm, StatementForm
from grants.web.hooks import money
from grants.web.listing import requested_page

LINES_PER_PAGE = 200
"""Lines of one statement shown per page."""
ATTENTION_PER_PAGE = 50
"""Lines to look into shown per page of their full list."""
ATTENTION_SHOWN = 10
"""Lines to look into shown on the finance dashboard."""

BuildFile = Callable[..., BankFile]
IMPORTS = (
    select(
        StatementImport.id,
        StatementImport.imported_at,
        StatementImport.filename,
        StatementImport.format,
        StatementImport.lines,
        StatementImport.settled,
        User.display_name.label("importer"),
    )
    .join(User, User.id == StatementImport.imported_by_id)
    .order_by(StatementImport.imported_at.desc(), StatementImport.id.desc())
)
"""The statements imported, latest first, each with who imported it."""


# --- payment files ---------------------------------------------------------------------------


@bp.route("/batches/<int:batch_id>/pain001")
@roles_required(Role.FINANCE)
def batch_pain001(batch_id: int) -> ResponseReturnValue:
    """Batch ``batch_id`` as an ISO 20022 pain.001 credit transfer file, to upload to the
    bank."""
    return _bank_file(pain001_file, batch_id)


@bp.route("/batches/<int:batch_id>/nacha")
@roles_required(Role.FINANCE)
def batch_nacha(batch_id: int) -> ResponseReturnValue:
    """Batch ``batch_id`` as a NACHA ACH file (US dollars only), to upload to the bank."""
    return _bank_file(nacha_file, batch_id)


def _bank_file(build: BuildFile, batch_id: int) -> ResponseReturnValue:
    keys: MultiFernet = current_data_keys()
    file = read(lambda: build(db.session(), actor=current_user, batch_id=batch_id, keys=keys))
    if isinstance(file, DomainError):
        page = payout_batches(db.session(), actor=current_user, page=requested_page(request))
        return render_template(
            "finance/batches.html", page=page, refusal=file.message
        ), refusal_status(file)
    response = Response(file.content, mimetype=file.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{file.filename}"'
    response.headers["Content-Security-Policy"] = DOWNLOAD_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@dataclass(frozen=True, slots=True)
class BatchFiles:
    """What the list of batches needs beyond a batch's reference: its id, for its files,
    and when a statement showed it settled."""

    id: int
    settled_at: datetime | None


def batch_files(batches: Iterable[Any]) -> dict[str, BatchFiles]:
    """Each of ``batches`` (anything with a ``payment_reference``) by its reference, in one
    query."""
    references = [batch.payment_reference for batch in batches]
    if not references:
        return {}
    rows = db.session.execute(
        select(PayoutBatch.payment_reference, PayoutBatch.id, PayoutBatch.settled_at).where(
            PayoutBatch.payment_reference.in_(references)
        )
    )
    return {reference: BatchFiles(id, settled) for reference, id, settled in rows}


@bp.context_processor
def _batch_files() -> dict[str, object]:
    return {"batch_files": batch_files}


# --- a fund's payment settings ---------------------------------------------------------------


@bp.route("/funds/<int:fund_id>/payments", methods=["GET", "POST"])
@roles_required(Role.FINANCE)
def fund_payments(fund_id: int) -> ResponseReturnValue:
    """A therapy fund's payment settings: the invoice rule, the account its providers are
    paid from, and the ACH company details of its US files."""
    fund = db.session.get(Fund, fund_id)
    if fund is None or fund.kind is not FundKind.THERAPY:
        abort(404)
    form = FundPaymentsForm(
        invoice_required=fund.invoice_required,
        scheme="us" if fund.currency == "USD" else "gb",
        ach_company_id=fund.ach_company_id,
        ach_bank_name=fund.ach_bank_name,
    )
    outcome = submit(
        form,
        lambda: set_payer(
            db.session(),
            actor=current_user,
            fund_id=fund_id,
            details=_payer_details(form),
            ach_company_id=form.ach_company_id.data or "",
            ach_bank_name=form.ach_bank_name.data or "",
            invoice_required=bool(form.invoice_required.data),
            keys=current_data_keys(),
            now=clock.now(),
        ),
        fields=_account_fields(form.scheme.data),
    )
    if outcome.done:
        flash(f"The payment settings of {fund.name} were saved.", "success")
        return redirect(url_for("finance.fund_payments", fund_id=fund_id), 303)
    return render_template("finance/fund_payments.html", form=form, fund=fund), outcome.status


def _payer_details(form: FundPaymentsForm) -> BankDetails | None:
    """The new account the form gives, checked; ``None`` when it gives none (the account
    held is kept)."""
    if not form.new_account_given():
        return None
    return check_scheme(
        form.scheme.data or "",
        account_holder=form.account_holder.data or "",
        routing_number=form.routing_number.data or "",
        us_account_number=form.us_account_number.data or "",
        account_type=form.account_type.data or "",
        sort_code=form.sort_code.data or "",
        gb_account_number=form.gb_account_number.data or "",
        iban=form.iban.data or "",
        bic=form.bic.data or "",
    )


def _account_fields(scheme: str | None) -> dict[str, str]:
    """The form's field for the domain's ``account_number``, by the kind of account."""
    return {"account_number": "gb_account_number" if scheme == "gb" else "us_account_number"}


# --- statements ------------------------------------------------------------------------------


@bp.route("/statements", methods=["GET", "POST"])
@roles_required(Role.FINANCE)
@upload_view
def statements() -> ResponseReturnValue:
    """Upload a bank statement to settle the payments it shows; the statements imported so
    far, latest first."""
    form = StatementForm()
    outcome = submit(
        form,
        lambda: import_statement(
            db.session(),
            actor=current_user,
            data=_capped(form.file.data.stream),
            filename=form.file.data.filename or "",
            currency=form.currency.data or None,
            now=clock.now(),
        ),
    )
    if outcome.done:
        assert outcome.result is not None
        flash(_imported_message(outcome.result), "success")
        return redirect(url_for("finance.statement", import_id=outcome.result.id), 303)
    earlier = outcome.refusal.earlier_id if isinstance(outcome.refusal, AlreadyImported) else None
    page = paginate_rows(
        db.session(),
        IMPORTS,
        requested_page(request),
        counted=select(func.count(StatementImport.id)),
    )
    return render_template(
        "finance/statements.html",
        form=form,
        page=page,
        earlier=earlier,
        to_look_into=_attention_counts([row.id for row in page.items]),
        max_mib=MAX_BYTES // (1024 * 1024),
    ), outcome.status


def _capped(stream: IO[bytes]) -> bytes:
    """The upload's bytes, read no further than one byte past :data:`MAX_BYTES`: a longer
    file is refused by the reader, which names the limit, without holding all of it."""
    return stream.read(MAX_BYTES + 1)


def _imported_message(imported: StatementImport) -> str:
    lines = "1 line" if imported.lines == 1 else f"{imported.lines:,} lines"
    settled = "1 payment" if imported.settled == 1 else f"{imported.settled:,} payments"
    return f"{lines}, {settled} settled."


def _attention_counts(import_ids: Sequence[int]) -> dict[int, int]:
    """How many lines of each of these imports are for finance to look into."""
    if not import_ids:
        return {}
    rows = db.session.execute(
        select(StatementLine.import_id, func.count())
        .where(StatementLine.import_id.in_(import_ids), StatementLine.outcome.in_(ATTENTION))
        .group_by(StatementLine.import_id)
    )
    return {import_id: count for import_id, count in rows}  # noqa: C416  (rows, not pairs)


@bp.route("/statements/<int:import_id>")
@roles_required(Role.FINANCE)
def statement(import_id: int) -> ResponseReturnValue:
    """One imported statement: every line, what it was matched to, and why not."""
    found = db.session.get(StatementImport, import_id) or abort(404)
    importer = db.session.get(User, found.imported_by_id)
    page = paginate(
        db.session(),
        select(StatementLine)
        .where(StatementLine.import_id == import_id)
        .order_by(StatementLine.line_number),
        requested_page(request),
        per_page=LINES_PER_PAGE,
    )
    return render_template(
        "finance/statement.html",
        statement=found,
        importer=importer,
        page=page,
        lines=described(db.session(), page.items),
    )


@bp.route("/statements/attention")
@roles_required(Role.FINANCE)
def statement_attention() -> ResponseReturnValue:
    """Every statement line that matched nothing or named a payment for another amount,
    latest first."""
    page = paginate(
        db.session(),
        select(StatementLine)
        .where(StatementLine.outcome.in_(ATTENTION))
        .order_by(StatementLine.booked_on.desc(), StatementLine.id.desc()),
        requested_page(request),
        per_page=ATTENTION_PER_PAGE,
    )
    return render_template(
        "finance/statement_attention.html",
        page=page,
        lines=described(db.session(), page.items),
    )


# --- what a line did, in words ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Named:
    """A payment a line names, as a sentence names it, and where finance can look at it."""

    article: str
    """``"batch "`` for a batch, empty for a tranche (its name says what it is)."""
    name: str
    href: str
    expected: str
    """Its amount, as the line should have shown it."""


@dataclass(frozen=True, slots=True)
class ShownLine:
    """A statement line and its outcome in words: ``lead``, then ``name`` (a link to the
    payment when ``href`` is given), then ``tail``."""

    line: StatementLine
    lead: str
    name: str = ""
    href: str | None = None
    tail: str = ""

    @property
    def words(self) -> str:
        """The outcome as one sentence, without its link."""
        return f"{self.lead}{self.name}{self.tail}"

    @property
    def attention(self) -> bool:
        """Whether finance must look into the line."""
        return self.line.outcome in ATTENTION


OUTCOME_LEAD = {
    LineOutcome.SETTLED_BATCH: "Settled ",
    LineOutcome.SETTLED_TRANCHE: "Settled ",
    LineOutcome.ALREADY_SETTLED: "Already settled: ",
    LineOutcome.AMOUNT_DIFFERS: "Amount differs from ",
}
"""How the outcome of a line that names a payment begins."""
OUTCOME_WORDS = {
    LineOutcome.UNMATCHED: "No payment with this reference",
    LineOutcome.NOT_A_PAYMENT: "Money in",
}
"""The outcome of a line that names no payment."""


def described(session: Session, lines: Sequence[StatementLine]) -> list[ShownLine]:
    """``lines`` with their outcomes in words, the batches and tranches they name loaded in
    two queries."""
    batch_ids = {line.payout_batch_id for line in lines if line.payout_batch_id is not None}
    tranche_ids = {line.tranche_id for line in lines if line.tranche_id is not None}
    named: dict[tuple[str, int], Named] = {}
    if batch_ids:
        for batch in session.scalars(select(PayoutBatch).where(PayoutBatch.id.in_(batch_ids))):
            named["batch", batch.id] = _batch_named(batch)
    if tranche_ids:
        for tranche in session.scalars(
            select(Tranche)
            .options(joinedload(Tranche.grant).joinedload(Grant.partner))
            .where(Tranche.id.in_(tranche_ids))
        ):
            named["tranche", tranche.id] = _tranche_named(tranche)
    return [_shown(line, named) for line in lines]


def _shown(line: StatementLine, named: dict[tuple[str, int], Named]) -> ShownLine:
    payment = None
    if line.payout_batch_id is not None:
        payment = named.get(("batch", line.payout_batch_id))
    elif line.tranche_id is not None:
        payment = named.get(("tranche", line.tranche_id))
    lead = OUTCOME_LEAD.get(line.outcome)
    if payment is None or lead is None:
        return ShownLine(line, OUTCOME_WORDS.get(line.outcome, "No payment with this reference"))
    tail = f" (expected {payment.expected})" if line.outcome is LineOutcome.AMOUNT_DIFFERS else ""
    return ShownLine(line, lead + payment.article, payment.name, payment.href, tail)


def _batch_named(batch: PayoutBatch) -> Named:
    return Named(
        "batch ",
        f"{batch.file_id} ({batch.payment_reference})",
        url_for("finance.export_batch", reference=batch.payment_reference),
        money(batch.amount, batch.currency),
    )


def _tranche_named(tranche: Tranche) -> Named:
    grant = tranche.grant
    return Named(
        "",
        f"tranche of {grant.partner.display_name} grant",
        url_for("finance.pay", tranche_id=tranche.id),
        money(tranche.amount, grant.currency),
    )


# --- the finance dashboard -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShownPayment:
    """A payment no statement has shown yet, with where finance can look at it."""

    payment: Unsettled
    name: str
    href: str


def reconciliation_overview(today: date) -> dict[str, object]:
    """What the finance dashboard shows of reconciliation: the latest statement lines to look
    into (``attention``) and the payments not settled within five working days
    (``unsettled``)."""
    session = db.session()
    lines = lines_needing_attention(session, limit=ATTENTION_SHOWN)
    unsettled = [
        ShownPayment(payment, *_payment_link(payment))
        for payment in unsettled_payments(session, today=today)
    ]
    return {"attention": described(session, lines), "unsettled": unsettled}


def _payment_link(payment: Unsettled) -> tuple[str, str]:
    if payment.kind == "batch":
        return (
            f"Batch {payment.reference}",
            url_for("finance.export_batch", reference=payment.reference),
        )
    return (
        f"Grant tranche {payment.reference}".rstrip(),
        url_for("finance.pay", tranche_id=payment.object_id),
    )
