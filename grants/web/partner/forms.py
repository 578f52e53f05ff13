"""The partner portal's forms. They check shape only; the domain checks meaning."""

from __future__ import annotations

import pycountry
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from grants.domain.applications import ANSWER_MAX, PURPOSE_MAX
from grants.domain.progress import NARRATIVE_MAX
from grants.models import FundingRound, GrantCategory, QuestionKind, RoundQuestion
from grants.web.actions import ActionForm
from grants.web.manager.forms import TrancheRow

BUDGET_ROWS = 8
TRANCHE_ROWS = 6
REPORT_ROWS = 4
REACH_ROWS = 6
SPENDING_ROWS = 10

COUNTRIES = [
    SelectChoice("", "Choose a country"),
    *sorted(
        (SelectChoice(country.alpha_2, country.name) for country in pycountry.countries),
        key=lambda choice: choice.label,
    ),
]


class BudgetRow(Form):
    """One budget line; a blank line is ignored."""

    item = StringField("What it pays for", validators=[Length(max=200)])
    amount = StringField("Amount", validators=[Length(max=30)])


class ProposedReportRow(Form):
    """A progress report the partner proposes; a blank line is ignored."""

    title = StringField("Report", validators=[Length(max=200)])
    due_date = DateField("Due date", validators=[Optional()])


class ApplicationForm(ActionForm):
    """An application's own fields; :func:`application_form` adds one field per question."""

    purpose = TextAreaField("What the grant would pay for", validators=[Length(max=PURPOSE_MAX)])
    category = SelectField("What it is for", validate_choice=False)
    amount = StringField("Amount asked", validators=[Length(max=30)])
    budget = FieldList(FormField(BudgetRow), min_entries=BUDGET_ROWS, max_entries=BUDGET_ROWS)
    tranches = FieldList(FormField(TrancheRow), min_entries=TRANCHE_ROWS, max_entries=TRANCHE_ROWS)
    reports = FieldList(
        FormField(ProposedReportRow), min_entries=REPORT_ROWS, max_entries=REPORT_ROWS
    )


def answer_field_name(question: RoundQuestion) -> str:
    return f"answer_{question.id}"


def application_form_class(funding_round: FundingRound) -> type[ApplicationForm]:
    """The form of applications to ``funding_round``: its own fields and one per question
    (a ``file`` question is answered by uploading a document instead)."""
    fields: dict[str, object] = {}
    for number, question in enumerate(funding_round.questions, start=1):
        label = f"{number}. {question.prompt}"
        if question.kind is QuestionKind.TEXT:
            fields[answer_field_name(question)] = TextAreaField(
                label, validators=[Length(max=ANSWER_MAX)]
            )
        elif question.kind is QuestionKind.CHOICE:
            fields[answer_field_name(question)] = SelectField(
                label,
                choices=[
                    SelectChoice("", "Choose one"),
                    *(SelectChoice(choice, choice) for choice in question.choices),
                ],
                validate_choice=False,
            )
        elif question.kind is not QuestionKind.FILE:
            fields[answer_field_name(question)] = StringField(label, validators=[Length(max=30)])
    return type(f"ApplicationForm{funding_round.id}", (ApplicationForm,), fields)


def category_choices(funding_round: FundingRound) -> list[SelectChoice]:
    return [
        SelectChoice("", "Choose one"),
        *(
            SelectChoice(category.value, category.label)
            for category in funding_round.funded_categories
        ),
    ]


class UploadForm(ActionForm):
    """A document for an application or a report; for an application, optionally the
    answer to one of its file questions."""

    document = FileField("Document", validators=[DataRequired()])
    question_id = IntegerField("Answers question", validators=[Optional()])


class ReachRow(Form):
    """People reached in one country; a blank line is ignored."""

    country = SelectField("Country", choices=COUNTRIES, validate_choice=False)
    people = StringField("People reached", validators=[Length(max=15)])


class SpendingRow(Form):
    """An amount spent against one budget line; a blank line is ignored."""

    item = StringField("Budget line", validators=[Length(max=200)])
    amount = StringField("Spent", validators=[Length(max=30)])


class ProgressForm(ActionForm):
    """A progress report version."""

    narrative = TextAreaField("What happened in the period", validators=[Length(max=NARRATIVE_MAX)])
    sessions_held = StringField("Sessions or events held", validators=[Length(max=15)])
    reach = FieldList(FormField(ReachRow), min_entries=REACH_ROWS, max_entries=REACH_ROWS)
    spending = FieldList(
        FormField(SpendingRow), min_entries=SPENDING_ROWS, max_entries=SPENDING_ROWS
    )


class WithdrawForm(ActionForm):
    """Withdraw an application: the box must be ticked."""

    sure = BooleanField("Yes, withdraw this application", validators=[DataRequired()])


__all__ = [
    "COUNTRIES",
    "ApplicationForm",
    "GrantCategory",
    "ProgressForm",
    "UploadForm",
    "WithdrawForm",
]
