"""Open Referral's HSDS 3.0 JSON schemas, vendored unchanged (see ``README.md`` and
``LICENSE`` beside this file), and the validator built on them.

The schemas refer to each other by file name (``service.json`` refers to ``phone.json``);
:func:`registry` holds every one under its file name, so those references resolve here,
without a network. The files carry no ``$schema``: they are read as JSON Schema 2020-12, the
dialect of the HSDS API's OpenAPI description.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_FILES = (
    "accessibility.json",
    "address.json",
    "attribute.json",
    "contact.json",
    "cost_option.json",
    "funding.json",
    "language.json",
    "location.json",
    "metadata.json",
    "organization.json",
    "organization_identifier.json",
    "phone.json",
    "program.json",
    "required_document.json",
    "schedule.json",
    "service.json",
    "service_area.json",
    "service_at_location.json",
    "taxonomy.json",
    "taxonomy_term.json",
)
"""The vendored schema files, each an HSDS object."""


def load(name: str) -> dict[str, Any]:
    """The schema in file ``name`` (``service.json``)."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def registry() -> Registry[Any]:
    """Every vendored schema under its file name, for ``$ref`` to resolve."""
    return Registry().with_resources(
        (name, Resource.from_contents(load(name), default_specification=DRAFT202012))
        for name in SCHEMA_FILES
    )


def validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """A validator of ``schema``, whose references name the vendored files, checking formats
    too (a ``uuid`` must be one)."""
    return Draft202012Validator(
        schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
