"""The roles a privileged message may require, granted at genesis and then by governance vote.

A role is held by an account address, not by a member organisation: a bank may hold ``issuer``
on a dedicated issuing account while its operator account only votes. The names are part of the
state keys (``cons/r/<role>/...``), so a released name is never renamed.
"""

ISSUER = "issuer"  # mints and burns the city currency
KYC_VERIFIER = "kyc"  # moves wallets between tiers after identity checks
REGISTRAR = "registrar"  # records births, deaths and marriages (civil registry)
ELECTION_AUTHORITY = "election"  # opens elections, registers candidates, publishes results
MANUFACTURER = "manufacturer"  # registers batteries and devices it has built
REGULATOR = "regulator"  # approves securities and may freeze them
ORACLE = "oracle"  # attests battery health and end-of-life predictions from telemetry

ALL_ROLES = (
    ISSUER,
    KYC_VERIFIER,
    REGISTRAR,
    ELECTION_AUTHORITY,
    MANUFACTURER,
    REGULATOR,
    ORACLE,
)


def is_role(name: str) -> bool:
    return name in ALL_ROLES
