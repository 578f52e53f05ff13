"""Datasets for trying and measuring the application, outside the product's own code paths.

- :mod:`grants.seed.demo`: the demo programmes, funds, ambassadors and logins
  (``flask grants seed-demo``), made through the domain operations.
- :mod:`grants.seed.scale`: a realistic programme at scale (``flask grants seed-scale``).
- :mod:`grants.seed.grants`: the scale dataset's grants, through the domain operations.
- :mod:`grants.seed.loader` and :mod:`grants.seed.bulk`: the bulk loader that writes history
  straight into the tables, with the payloads, requests and receipts the domain's own
  builders make, so that both verify commands accept what it wrote.
"""
