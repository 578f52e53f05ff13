"""The managers' forms of funding rounds and their applications and reports. They check
shape only; the domain checks meaning."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from grants.domain.rounds import MAX_CRITERIA, MAX_QUESTIONS
from grants.models import SCORE_MAX, SCORE_MIN, GrantCategory, QuestionKind, RoundCriterion
from grants.web.actions import ActionForm, PlainTextForm
from grants.web.listing import record_id

QUESTION_ROWS = 8
CRITERION_ROWS = 6
MOMENT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
KIND_LABELS = {
    QuestionKind.TEXT: "Text",
    QuestionKind.NUMBER: "Number",
    QuestionKind.AMOUNT: "Amount of money",
    QuestionKind.CHOICE: "Choice from options",
    QuestionKind.FILE: "A document",
}
SCORE_WORDS = {SCORE_MIN: "weak", SCORE_MAX: "strong"}


class CheckboxesField(SelectMultipleField):
    """Several choices, each a checkbox."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class QuestionRow(Form):
    """One question of a round; a row without a question is ignored."""

    prompt = StringField("Wording", validators=[Length(max=500)])
    kind = SelectField(
        "Answer",
        choices=[SelectChoice(kind.value, label) for kind, label in KIND_LABELS.items()],
        default=QuestionKind.TEXT.value,
    )
    choices = TextAreaField(
        "Options (for a choice)",
        validators=[Length(max=3000)],
        render_kw={"rows": 2},
    )
    required = BooleanField("An answer is required", default=True)

    def options(self) -> list[str]:
        """The options as typed: separated by "|" or one a line; blanks dropped."""
        parts = re.split(r"[|\r\n]+", self.choices.data or "")
        return [part.strip() for part in parts if part.strip()]


class CriterionRow(Form):
    """One criterion reviewers score; a blank row is ignored."""

    title = StringField("Criterion", validators=[Length(max=200)])


class RoundForm(ActionForm):
    """A funding round: what it funds, when, what it asks and who reviews."""

    fund_id = SelectField("Fund", coerce=record_id, validate_choice=False)
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    categories = CheckboxesField(
        "What it funds", choices=[SelectChoice(c.value, c.label) for c in GrantCategory]
    )
    max_amount = StringField(
        "Most one application may ask for", validators=[DataRequired(), Length(max=30)]
    )
    opens = DateTimeLocalField(
        "Opens", format=MOMENT_FORMATS, validators=[InputRequired("Say when the round opens.")]
    )
    closes = DateTimeLocalField(
        "Closes", format=MOMENT_FORMATS, validators=[InputRequired("Say when the round closes.")]
    )
    eligibility = TextAreaField("Who may apply", validators=[Length(max=4000)])
    questions = FieldList(
        FormField(QuestionRow), min_entries=QUESTION_ROWS, max_entries=MAX_QUESTIONS
    )
    criteria = FieldList(
        FormField(CriterionRow), min_entries=CRITERION_ROWS, max_entries=MAX_CRITERIA
    )
    reviewer_ids = CheckboxesField("Reviewers", coerce=record_id, validate_choice=False)

    fund_zones: Mapping[int, str] = MappingProxyType({})
    """The time zone of each fund offered, by id: the round's times are typed in it."""


class DeclarationForm(PlainTextForm):
    """A reviewer says whether they have a conflict of interest with an application."""

    conflicted = RadioField(
        "Do you have a conflict of interest with this application?",
        choices=[
            SelectChoice("no", "No conflict: I will score it"),
            SelectChoice("yes", "I have a conflict of interest: I will not see or give scores"),
        ],
        validators=[InputRequired("Say whether you have a conflict of interest.")],
    )
    note = TextAreaField("Note (optional)", validators=[Length(max=1000)], render_kw={"rows": 2})


class ScoreForm(PlainTextForm):
    """A reviewer's scores, one field ``score_<criterion id>`` each (:func:`score_form`),
    and a comment."""

    comment = TextAreaField("Comment", validators=[Length(max=4000)], render_kw={"rows": 4})


def score_form(criteria: list[RoundCriterion], *, formdata: object = None) -> ScoreForm:
    """The scoring form of a round with ``criteria``: a 1 to 5 choice per criterion."""

    class Scores(ScoreForm):
        pass

    choices = [SelectChoice("", "Choose a score")] + [
        SelectChoice(
            str(value),
            f"{value} ({SCORE_WORDS[value]})" if value in SCORE_WORDS else str(value),
        )
        for value in range(SCORE_MIN, SCORE_MAX + 1)
    ]
    for criterion in criteria:
        setattr(
            Scores,
            f"score_{criterion.id}",
            SelectField(
                criterion.title,
                choices=choices,
                validators=[InputRequired(f"Score {criterion.title}.")],
            ),
        )
    if formdata is None:
        return Scores()
    return Scores(formdata=formdata)


class AwardForm(ActionForm):
    """Award an application an amount, with an optional note to the partner."""

    amount = StringField(
        "Amount to award", id="award-amount", validators=[DataRequired(), Length(max=30)]
    )
    reason = TextAreaField(
        "Note to the partner (optional)",
        id="award-reason",
        validators=[Length(max=2000)],
        render_kw={"rows": 2},
    )


class DeclineForm(ActionForm):
    """Decline an application; the partner reads the reason."""

    reason = TextAreaField(
        "Reason for declining",
        id="decline-reason",
        validators=[
            DataRequired("Say why the application is declined: the partner reads it."),
            Length(max=2000),
        ],
        render_kw={"rows": 3},
    )


class ReportDecisionForm(ActionForm):
    """A decision on a progress report, with a comment."""

    comment = TextAreaField("Comment", validators=[Length(max=4000)], render_kw={"rows": 3})


class AcceptForm(ReportDecisionForm):
    """Accept a progress report; the comment is optional."""

    comment = TextAreaField(
        "Comment (optional)",
        id="accept-comment",
        validators=[Length(max=4000)],
        render_kw={"rows": 3},
    )


class ChangesForm(ReportDecisionForm):
    """Ask for changes to a progress report; the domain requires the comment."""

    comment = TextAreaField(
        "What should change",
        id="changes-comment",
        validators=[Length(max=4000)],
        render_kw={"rows": 3},
    )


def optional_record_id(value: object) -> int | None:
    """A record's id as a form sends it, or ``None`` for a blank choice."""
    return None if value is None or value == "" else record_id(value)


class ReleaseForm(PlainTextForm):
    """The report a tranche waits for: a report's id, or blank for none."""

    release_after = SelectField(
        "Paid once this report is accepted",
        coerce=optional_record_id,
        validate_choice=False,
    )
