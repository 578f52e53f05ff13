"""Bar charts for the report, as geometry that ``templates/reports/_chart.html`` draws as
inline SVG: text stays text, nothing is fetched and nothing runs.

Each bar is stacked from parts that add up to its whole (a fund's budget, a cell's
allowance), scaled to the largest bar of the chart. Colours come from a fixed palette, never
from data; labels are escaped by the template like any other text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grants.domain.money import format_money
from grants.reports.queries import CellKind, ReportData

WIDTH = 640
LABEL_WIDTH = 170
BAR_HEIGHT = 16
BAR_GAP = 10
TOP = 8
PLOT_WIDTH = WIDTH - LABEL_WIDTH - 10


@dataclass(frozen=True)
class Part:
    label: str
    colour: str


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    colour: str


@dataclass(frozen=True)
class Bar:
    label: str
    note: str
    y: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: tuple[Bar, ...]
    legend: tuple[Part, ...]


FUND_PARTS = (
    Part("Paid", "#1b5e20"),
    Part("Outstanding", "#f9a825"),
    Part("Remaining", "#90a4ae"),
)
THERAPY_PARTS = (
    Part("Redeemed", "#1b5e20"),
    Part("Claimed by recipients", "#6a1b9a"),
    Part("Expired", "#b71c1c"),
    Part("Outstanding", "#f9a825"),
)


def _chart(
    title: str,
    description: str,
    parts: Sequence[Part],
    rows: Sequence[tuple[str, str, Sequence[int] | None]],
) -> Chart:
    largest = max((sum(values) for _, _, values in rows if values), default=0) or 1
    bars = []
    for index, (label, note, values) in enumerate(rows):
        y = TOP + index * (BAR_HEIGHT + BAR_GAP)
        segments = []
        x: float = LABEL_WIDTH
        for part, value in zip(parts, values or (), strict=False):
            width = PLOT_WIDTH * max(value, 0) / largest
            if width > 0:
                segments.append(Segment(round(x, 2), round(width, 2), part.colour))
            x += width
        bars.append(Bar(label, note, y, tuple(segments)))
    height = TOP * 2 + len(rows) * (BAR_HEIGHT + BAR_GAP)
    return Chart(
        title=title,
        description=description,
        width=WIDTH,
        height=height,
        label_width=LABEL_WIDTH,
        bar_height=BAR_HEIGHT,
        bars=tuple(bars),
        legend=tuple(parts),
    )


def fund_chart(data: ReportData) -> Chart:
    """Each fund's budget split into paid, outstanding and remaining."""
    currency = data.parameters.currency
    return _chart(
        "Funds: budget paid, outstanding and remaining",
        "One bar per fund, as long as its budget.",
        FUND_PARTS,
        [
            (
                fund.name,
                format_money(fund.budget, currency),
                (fund.paid or 0, fund.outstanding or 0, fund.remaining or 0),
            )
            if not fund.withheld
            else (fund.name, "withheld: fewer than 5 people", None)
            for fund in data.funds
        ],
    )


def therapy_chart(data: ReportData) -> Chart:
    """Each programme and country's allowance split by where the credit went; a withheld
    cell has no bar."""
    currency = data.parameters.currency
    rows: list[tuple[str, str, Sequence[int] | None]] = []
    for cell in data.therapy:
        label = f"{cell.programme} {cell.country}"
        if cell.suppressed:
            combined = cell.kind is CellKind.COMBINED
            note = "withheld: fewer than 5 people" if combined else "withheld: see Withheld groups"
            rows.append((label, note, None))
            continue
        assert cell.allocated is not None
        rows.append(
            (
                label,
                format_money(cell.allocated, currency),
                (cell.redeemed or 0, cell.claimed or 0, cell.expired or 0, cell.outstanding or 0),
            )
        )
    return _chart(
        "Therapy allowance by programme and country",
        "One bar per programme and country, as long as the allowance allocated.",
        THERAPY_PARTS,
        rows,
    )
