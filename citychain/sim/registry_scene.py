"""The civil registry's part of the demo: a registrar office registers the week's births
through one member's node, corrects one, records a death that freezes the person's wallet,
and a certificate is checked offline against the genesis, as a bank's clerk would."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from citychain.client import Client, Wallet
from citychain.client.certificates import present_bundle, refresh_bundle
from citychain.client.registrar import Registrar
from citychain.credentials import verify_certificate
from citychain.credentials.qr import qr_parts
from citychain.crypto.keys import PrivateKey
from citychain.sim.audit import Audit

__all__ = ["RegistryScene", "run_registry_scene"]

GIVEN = ("Amara", "Jonas", "Lea", "Mateo", "Noor", "Oskar", "Priya", "Rafael", "Sofia", "Yuki")
FAMILY = ("Almeida", "Berger", "Chen", "Dubois", "Eze", "Fischer", "Garcia", "Haddad", "Ivanova")


@dataclass
class RegistryScene:
    births: int
    amended: bool
    death_record: str
    qr_bytes: int
    qr_codes: int


def _newborn(rng: random.Random, day: int) -> dict[str, str]:
    family = rng.choice(FAMILY)
    return {
        "given_name": rng.choice(GIVEN),
        "family_name": family,
        "date_of_birth": f"2026-11-{day:02d}",
        "place_of_birth": "Citychain",
        "sex": rng.choice("FMX"),
        "parent_1_name": f"{rng.choice(GIVEN)} {family}",
    }


def run_registry_scene(
    client: Client,
    registrar_key: PrivateKey,
    trusted: Iterable[tuple[bytes, int]],
    deceased_wallet: str,
    audit: Audit,
    births: int = 12,
) -> RegistryScene:
    """Register ``births`` births, amend the first, register a death freezing
    ``deceased_wallet``; add the offline checks to ``audit``."""
    validators = list(trusted)
    rng = random.Random(2026)
    office = Registrar(Wallet(registrar_key, client))
    issued = [office.register_birth(_newborn(rng, 1 + i % 28)) for i in range(births)]
    first = issued[0]
    verdict = verify_certificate(first.bundle, None, validators)
    audit.add(
        "birth certificate offline",
        verdict.valid,
        f"{births} births registered; a certificate verifies against the genesis: {verdict.reason}"
        if verdict.valid
        else verdict.reason,
    )
    corrected = office.amend(first.record_id, {**first.content, "family_name": "Okafor"})
    old = verify_certificate(refresh_bundle(client, first.bundle), None, validators)
    new = verify_certificate(corrected.bundle, None, validators)
    audit.add(
        "amended certificate",
        old.status == "superseded" and new.valid,
        f"after a correction the old certificate is {old.status}, the new one {new.status}",
    )
    balance_before = client.balance(deceased_wallet)["balance"]
    death = office.register_death(
        {
            "given_name": "Walter",
            "family_name": "Brandt",
            "date_of_birth": "1948-03-02",
            "date_of_death": "2026-11-24",
            "place_of_death": "Citychain",
            "sex": "M",
        },
        wallets=[deceased_wallet],
    )
    record = client.registry_record(death.record_id.hex())
    balance_after = client.balance(deceased_wallet)["balance"]
    audit.add(
        "death freezes the estate",
        record["wallets"] == [deceased_wallet] and balance_after == balance_before,
        f"death record {death.record_id.hex()[:16]}… froze {deceased_wallet[:14]}…; its "
        f"balance {balance_after} is intact for the estate",
    )
    shown = present_bundle(corrected.bundle, ["born_in_city", "age_over_18"])
    parts = qr_parts(shown)
    return RegistryScene(births, True, death.record_id.hex(), sum(map(len, parts)), len(parts))


def describe(scene: RegistryScene) -> str:
    return (
        f"civil registry: {scene.births} births, 1 correction, 1 death; an age-and-birthplace "
        f"presentation, proof included, is {scene.qr_codes} QR code(s), {scene.qr_bytes:,} bytes"
    )
