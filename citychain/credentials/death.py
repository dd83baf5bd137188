"""The death certificate's schema (docs/modules/registry.md §7).

Content fields: ``given_name``, ``family_name``, ``date_of_birth``, ``date_of_death``
(YYYY-MM-DD, not before the birth), ``place_of_death``, ``sex`` (F, M or X) and, optionally,
``cause_of_death`` (free text, e.g. an ICD-10 code; the most sensitive field, so a holder
such as an heir or a notary shows it only where it is needed).

Derived claim: ``died_in_city``, so that an estate bank can learn that the death falls under
the city's registry without learning where or how.
"""

from __future__ import annotations

from citychain.credentials.birth import CITY
from citychain.credentials.schema import (
    CertificateSchema,
    CredentialError,
    check_sex,
    check_text,
    parse_date,
)

VCT = "https://citychain.example/vct/death-certificate/v1"
SD_SLOTS = 10


def derived_claims(content: dict[str, str], issued_at: int, city: str = CITY) -> dict[str, bool]:
    return {"died_in_city": content["place_of_death"].casefold() == city.casefold()}


def _dates_in_order(content: dict[str, str]) -> None:
    born = parse_date("date_of_birth", content["date_of_birth"])
    died = parse_date("date_of_death", content["date_of_death"])
    if died < born:
        raise CredentialError(f"date_of_death {died} is before date_of_birth {born}")


DEATH = CertificateSchema(
    kind="death",
    vct=VCT,
    checks={
        "given_name": check_text,
        "family_name": check_text,
        "date_of_birth": parse_date,
        "date_of_death": parse_date,
        "place_of_death": check_text,
        "sex": check_sex,
        "cause_of_death": check_text,
    },
    required=(
        "given_name",
        "family_name",
        "date_of_birth",
        "date_of_death",
        "place_of_death",
        "sex",
    ),
    derived=("died_in_city",),
    derive=derived_claims,
    sd_slots=SD_SLOTS,
    cross_check=_dates_in_order,
)
