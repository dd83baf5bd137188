"""The roles a privileged message may require (granted at genesis; by governance later)."""

ISSUER = "issuer"  # mints and burns the city currency
KYC_VERIFIER = "kyc"  # moves wallets between tiers after identity checks

ALL_ROLES = (ISSUER, KYC_VERIFIER)
