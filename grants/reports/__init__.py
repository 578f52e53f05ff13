"""The finance allocation report: its figures at a cutoff, the ledger fingerprint, the PDF
(WeasyPrint, PDF/A-3b with the CSV attached), the CSV export, the cache of made reports
and the background jobs that make large ones.

``queries`` computes the figures in SQL; ``build`` turns parameters into a report's bytes,
from the cache when the ledger and the figures are unchanged.
"""
