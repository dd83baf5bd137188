"""The birth certificate's schema (docs/modules/registry.md §7).

Content fields: ``given_name``, ``family_name``, ``date_of_birth`` (YYYY-MM-DD),
``place_of_birth``, ``sex`` (F, M or X), ``parent_1_name`` and, optionally, ``parent_2_name``.

Derived claims, disclosable on their own:

- ``born_in_city``: ``place_of_birth`` is the city (compared case-insensitively);
- ``age_over_18``: true as of ``iat`` only. A holder under 18 at issuance keeps a credential
  that says false until the registrar reissues it; a verifier reads it as "was 18 or over at
  ``iat``" (which stays true once true). A child born on 29 February turns 18 on 1 March of a
  common year.
"""

from __future__ import annotations

import datetime as _dt

from citychain.credentials.schema import (
    CertificateSchema,
    check_sex,
    check_text,
    date_of,
    parse_date,
)

VCT = "https://citychain.example/vct/birth-certificate/v1"
CITY = "Citychain"
"""The city whose births make ``born_in_city`` true."""
SD_SLOTS = 12


def age_over_18(date_of_birth: _dt.date, as_of: _dt.date) -> bool:
    year = date_of_birth.year + 18
    try:
        birthday = date_of_birth.replace(year=year)
    except ValueError:  # 29 February in a common year
        birthday = _dt.date(year, 3, 1)
    return as_of >= birthday


def derived_claims(content: dict[str, str], issued_at: int, city: str = CITY) -> dict[str, bool]:
    born = parse_date("date_of_birth", content["date_of_birth"])
    return {
        "born_in_city": content["place_of_birth"].casefold() == city.casefold(),
        "age_over_18": age_over_18(born, date_of(issued_at)),
    }


BIRTH = CertificateSchema(
    kind="birth",
    vct=VCT,
    checks={
        "given_name": check_text,
        "family_name": check_text,
        "date_of_birth": parse_date,
        "place_of_birth": check_text,
        "sex": check_sex,
        "parent_1_name": check_text,
        "parent_2_name": check_text,
    },
    required=(
        "given_name",
        "family_name",
        "date_of_birth",
        "place_of_birth",
        "sex",
        "parent_1_name",
    ),
    derived=("born_in_city", "age_over_18"),
    derive=derived_claims,
    sd_slots=SD_SLOTS,
)
