"""A NACHA ACH file reader for the tests, written from the published record layouts alone.

It knows nothing of the code that writes the files: it splits the records, reads every
field by its position (1-based, inclusive, as the NACHA Operating Rules list them), and
checks what a receiving bank checks: record width, record order, counts, entry hash,
totals, blocks and the padding of nines. Anything wrong raises :class:`NachaError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RECORD_LENGTH = 94
BLOCKING_FACTOR = 10

Layout = tuple[tuple[str, int, int], ...]

FILE_HEADER: Layout = (
    ("record_type", 1, 1),
    ("priority_code", 2, 3),
    ("immediate_destination", 4, 13),
    ("immediate_origin", 14, 23),
    ("creation_date", 24, 29),
    ("creation_time", 30, 33),
    ("file_id_modifier", 34, 34),
    ("record_size", 35, 37),
    ("blocking_factor", 38, 39),
    ("format_code", 40, 40),
    ("destination_name", 41, 63),
    ("origin_name", 64, 86),
    ("reference_code", 87, 94),
)
BATCH_HEADER: Layout = (
    ("record_type", 1, 1),
    ("service_class", 2, 4),
    ("company_name", 5, 20),
    ("company_discretionary", 21, 40),
    ("company_id", 41, 50),
    ("entry_class", 51, 53),
    ("entry_description", 54, 63),
    ("descriptive_date", 64, 69),
    ("effective_date", 70, 75),
    ("settlement_date", 76, 78),
    ("originator_status", 79, 79),
    ("originating_dfi", 80, 87),
    ("batch_number", 88, 94),
)
ENTRY: Layout = (
    ("record_type", 1, 1),
    ("transaction_code", 2, 3),
    ("receiving_dfi", 4, 11),
    ("check_digit", 12, 12),
    ("account_number", 13, 29),
    ("amount", 30, 39),
    ("individual_id", 40, 54),
    ("individual_name", 55, 76),
    ("discretionary", 77, 78),
    ("addenda_indicator", 79, 79),
    ("trace_number", 80, 94),
)
ADDENDA: Layout = (
    ("record_type", 1, 1),
    ("addenda_type", 2, 3),
    ("payment_info", 4, 83),
    ("addenda_sequence", 84, 87),
    ("entry_sequence", 88, 94),
)
BATCH_CONTROL: Layout = (
    ("record_type", 1, 1),
    ("service_class", 2, 4),
    ("entry_addenda_count", 5, 10),
    ("entry_hash", 11, 20),
    ("total_debit", 21, 32),
    ("total_credit", 33, 44),
    ("company_id", 45, 54),
    ("authentication_code", 55, 73),
    ("reserved", 74, 79),
    ("originating_dfi", 80, 87),
    ("batch_number", 88, 94),
)
FILE_CONTROL: Layout = (
    ("record_type", 1, 1),
    ("batch_count", 2, 7),
    ("block_count", 8, 13),
    ("entry_addenda_count", 14, 21),
    ("entry_hash", 22, 31),
    ("total_debit", 32, 43),
    ("total_credit", 44, 55),
    ("reserved", 56, 94),
)
CREDIT_CODES = frozenset({"22", "32"})


class NachaError(ValueError):
    """The file breaks a rule of the format."""


@dataclass
class Entry:
    """An entry detail record and its addenda records."""

    fields: dict[str, str]
    addenda: list[dict[str, str]] = field(default_factory=list)

    @property
    def amount(self) -> int:
        return int(self.fields["amount"])


@dataclass
class Batch:
    header: dict[str, str]
    entries: list[Entry] = field(default_factory=list)
    control: dict[str, str] = field(default_factory=dict)


@dataclass
class NachaFile:
    """What the reader found, once every check has passed."""

    header: dict[str, str]
    batches: list[Batch]
    control: dict[str, str]
    records: int
    padding: int

    @property
    def entries(self) -> list[Entry]:
        return [entry for batch in self.batches for entry in batch.entries]

    @property
    def total_credit(self) -> int:
        return int(self.control["total_credit"])


def parse(record: str, layout: Layout) -> dict[str, str]:
    """The fields of ``record`` by ``layout``'s 1-based, inclusive positions."""
    return {name: record[start - 1 : end] for name, start, end in layout}


def aba_check_digit(first_eight: str) -> int:
    """The ninth digit of an ABA routing number: weights 3, 7, 1 repeated, modulo 10."""
    weights = (3, 7, 1, 3, 7, 1, 3, 7)
    total = sum(int(digit) * weight for digit, weight in zip(first_eight, weights, strict=True))
    return (10 - total % 10) % 10


def _numeric(value: str, name: str) -> int:
    if not value.isdigit():
        raise NachaError(f"{name} {value!r} is not numeric")
    return int(value)


def read_nacha(data: bytes) -> NachaFile:
    """Parse and check ``data``: every line 94 characters ending ``\\n``, the records in
    order, and every count, hash and total in the controls equal to what the entries add
    up to."""
    text = data.decode("ascii")
    if not text.endswith("\n"):
        raise NachaError("the last record does not end with a line feed")
    lines = text[:-1].split("\n")
    for number, line in enumerate(lines, start=1):
        if len(line) != RECORD_LENGTH:
            raise NachaError(f"record {number} is {len(line)} characters, not 94")
    if len(lines) % BLOCKING_FACTOR:
        raise NachaError(f"{len(lines)} records is not a multiple of {BLOCKING_FACTOR}")
    if not lines[0].startswith("1"):
        raise NachaError("the file does not start with a file header")
    header = parse(lines[0], FILE_HEADER)
    if (header["record_size"], header["blocking_factor"], header["format_code"]) != (
        "094",
        "10",
        "1",
    ):
        raise NachaError("the file header's record size, blocking factor or format is wrong")

    batches: list[Batch] = []
    control: dict[str, str] | None = None
    current: Batch | None = None
    index = 1
    while index < len(lines) and control is None:
        line = lines[index]
        kind = line[0]
        if kind == "5" and current is None:
            current = Batch(parse(line, BATCH_HEADER))
        elif kind == "6" and current is not None:
            current.entries.append(Entry(parse(line, ENTRY)))
        elif kind == "7" and current is not None and current.entries:
            current.entries[-1].addenda.append(parse(line, ADDENDA))
        elif kind == "8" and current is not None:
            current.control = parse(line, BATCH_CONTROL)
            batches.append(current)
            current = None
        elif kind == "9" and current is None and line != "9" * RECORD_LENGTH:
            control = parse(line, FILE_CONTROL)
        else:
            raise NachaError(f"record {index + 1} (type {kind}) is out of place")
        index += 1
    if control is None:
        raise NachaError("the file has no file control record")
    padding = lines[index:]
    if any(line != "9" * RECORD_LENGTH for line in padding):
        raise NachaError("a record after the file control is not all nines")
    records = index
    for batch in batches:
        _check_batch(batch)
    _check_file(control, batches, records, len(lines))
    return NachaFile(header, batches, control, records, len(padding))


def _check_batch(batch: Batch) -> None:
    header, control = batch.header, batch.control
    if header["service_class"] != control["service_class"]:
        raise NachaError("batch header and control disagree on the service class")
    for name in ("originating_dfi", "batch_number", "company_id"):
        if header[name] != control[name]:
            raise NachaError(f"batch header and control disagree on {name}")
    count = entry_hash = debit = credit = 0
    previous_trace = 0
    for entry in batch.entries:
        fields = entry.fields
        count += 1 + len(entry.addenda)
        receiving = fields["receiving_dfi"]
        entry_hash += _numeric(receiving, "receiving DFI")
        if int(fields["check_digit"]) != aba_check_digit(receiving):
            raise NachaError(f"check digit of {receiving} is wrong")
        amount = _numeric(fields["amount"], "amount")
        if fields["transaction_code"] in CREDIT_CODES:
            credit += amount
        else:
            debit += amount
        if fields["addenda_indicator"] != ("1" if entry.addenda else "0"):
            raise NachaError("addenda indicator does not match the addenda")
        trace = fields["trace_number"]
        if trace[:8] != header["originating_dfi"]:
            raise NachaError("trace number does not start with the originating DFI")
        sequence = _numeric(trace[8:], "trace sequence")
        if sequence <= previous_trace:
            raise NachaError("trace numbers are not ascending")
        previous_trace = sequence
        for number, addenda in enumerate(entry.addenda, start=1):
            if addenda["addenda_sequence"] != f"{number:04d}":
                raise NachaError("addenda sequence number is wrong")
            if addenda["entry_sequence"] != trace[8:]:
                raise NachaError("addenda does not name its entry's sequence number")
    if _numeric(control["entry_addenda_count"], "batch count") != count:
        raise NachaError("batch entry/addenda count is wrong")
    if control["entry_hash"] != f"{entry_hash % 10**10:010d}":
        raise NachaError("batch entry hash is wrong")
    if _numeric(control["total_debit"], "debit") != debit:
        raise NachaError("batch total debit is wrong")
    if _numeric(control["total_credit"], "credit") != credit:
        raise NachaError("batch total credit is wrong")


def _check_file(control: dict[str, str], batches: list[Batch], records: int, lines: int) -> None:
    if _numeric(control["batch_count"], "batch count") != len(batches):
        raise NachaError("file batch count is wrong")
    blocks = -(-records // BLOCKING_FACTOR)
    if _numeric(control["block_count"], "block count") != blocks or lines != blocks * 10:
        raise NachaError("file block count is wrong")
    count = sum(int(batch.control["entry_addenda_count"]) for batch in batches)
    if _numeric(control["entry_addenda_count"], "file count") != count:
        raise NachaError("file entry/addenda count is wrong")
    entry_hash = sum(
        int(entry.fields["receiving_dfi"]) for batch in batches for entry in batch.entries
    )
    if control["entry_hash"] != f"{entry_hash % 10**10:010d}":
        raise NachaError("file entry hash is wrong")
    for name in ("total_debit", "total_credit"):
        total = sum(int(batch.control[name]) for batch in batches)
        if _numeric(control[name], name) != total:
            raise NachaError(f"file {name} is wrong")
