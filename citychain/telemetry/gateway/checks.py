"""The gateway's checks of a group of messages, all but the counter's (docs/modules/devices.md
§6): what needs no device first (decode, topic, ranges: ``parse``); then the group's devices,
looked up together (DeviceCache.resolve); then the signatures, on threads; then one refresh of
the devices whose key or status failed.

A message whose device lookup got no answer (the node slow, down or restarting) is marked
``unanswered``: neither refused nor accepted. Its group is held (``Held``) and tried again,
carrying the lookups answered so far (``Answers``)."""

from __future__ import annotations

from collections.abc import Container
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from citychain.modules.devices import STATUS_ACTIVE, Device
from citychain.telemetry import report as rep
from citychain.telemetry.gateway.devices import DeviceCache, Resolved
from citychain.telemetry.gateway.topics import report_topic

__all__ = ["COUNTER_LIMIT", "Answers", "Check", "GroupChecker", "Held", "Incoming", "parse"]

COUNTER_LIMIT = 2**63 - 1  # SQLite's INTEGER; a device never counts that far
MIN_CHUNK = 32  # signatures per verifier thread below which a thread is not worth it


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message as paho's thread queued it (``generation``: the connection it came on)."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    generation: int


@dataclass(slots=True)
class Check:
    """One message through the checks: its report once decoded, then its device; ``error``
    if refused."""

    item: Incoming
    report: rep.Report | None = None
    device: Device | None = None
    error: rep.ReportError | None = None
    signature_ok: bool = False
    unanswered: bool = False  # a lookup it needs got no answer: the group is held

    def attach(self, found: Resolved) -> None:
        """Its device from a lookup: unknown (no such device), throttled (no lookup allowed),
        or unanswered (no answer yet: neither refused nor accepted)."""
        device_id = self.device_id()
        if device_id in found.devices:
            device = found.devices[device_id]
            if device is None:
                self.error = rep.ReportError(rep.UNKNOWN_DEVICE, f"no device {device_id.hex()}")
            else:
                self.device = device
        elif device_id in found.throttled:
            self.error = rep.ReportError(
                rep.THROTTLED, f"device {device_id.hex()} not looked up: lookup budget spent"
            )
        else:
            self.unanswered = True

    def pair(self) -> tuple[rep.Report, Device]:
        assert self.report is not None and self.device is not None
        return self.report, self.device

    def device_id(self) -> bytes:
        """Its report's device id."""
        assert self.report is not None
        return self.report.body.device_id

    def suspect(self) -> bool:
        """A failed signature or an inactive device: worth one look at the ledger's record."""
        _, device = self.pair()
        return not self.signature_ok or device.status != STATUS_ACTIVE

    def awaits(self, refreshed: Resolved) -> bool:
        """A failed signature of an active device whose refresh got no answer: only the
        ledger's current key tells a rotation from a forgery. (A decommissioning is final, so
        a cached inactive record settles the report.)"""
        report, device = self.pair()
        return (
            not self.signature_ok
            and device.status == STATUS_ACTIVE
            and report.body.device_id in refreshed.unanswered
        )

    def settle(self, refreshed: dict[bytes, Device | None]) -> None:
        """Signature (under a refreshed key if it rotated), status, kind; ReportError else."""
        report, device = self.pair()
        body = report.body
        fresh = refreshed.get(body.device_id)
        if not self.signature_ok:
            if (
                fresh is None
                or fresh.public_key == device.public_key
                or not report.signature_valid(fresh.public_key)
            ):
                raise rep.ReportError(rep.FORGED, f"bad signature for {body.device_id.hex()}")
            device = fresh
        if device.status != STATUS_ACTIVE:
            if fresh is None or fresh.status != STATUS_ACTIVE:
                raise rep.ReportError(rep.DECOMMISSIONED, f"{body.device_id.hex()} is retired")
            device = fresh
        if body.kind != device.kind:
            raise rep.ReportError(
                rep.MALFORMED, f"{body.kind} readings from a {device.kind} device"
            )
        self.device = device


@dataclass(slots=True)
class Answers:
    """The device lookups answered for one group, kept while the group is held, so that each
    try asks only for what is still unanswered (not again for what the cache expired since)."""

    devices: dict[bytes, Device | None] = field(default_factory=dict)
    refreshed: dict[bytes, Device | None] = field(default_factory=dict)


class Held(Exception):
    """A group with reports whose device lookups got no answer: neither stored nor
    acknowledged, tried again (Gateway._ingest_until_settled)."""


def parse(item: Incoming) -> rep.Report:
    """Decode the payload and check what needs no device: the topic is the report's device's,
    the counter fits, the readings are in range (ReportError otherwise)."""
    report = rep.parse_report(item.payload)
    body = report.body
    if item.topic != report_topic(body.device_id):
        raise rep.ReportError(rep.MALFORMED, f"device {body.device_id.hex()} on {item.topic}")
    if body.counter > COUNTER_LIMIT:
        raise rep.ReportError(rep.OUT_OF_RANGE, f"counter {body.counter} > 2^63-1")
    rep.check_ranges(body)
    return report


class GroupChecker:
    """The checks of a group against the ledger's devices (``devices``, the cache), with the
    signatures verified on ``verify_threads`` threads; a group waits for its lookups at most
    ``lookup_timeout_s``."""

    def __init__(self, devices: DeviceCache, verify_threads: int, lookup_timeout_s: float) -> None:
        self.devices = devices
        self.verify_threads = verify_threads
        self.lookup_timeout_s = lookup_timeout_s
        self._pool = ThreadPoolExecutor(max(1, verify_threads), "gateway-verify")

    def close(self) -> None:
        self._pool.shutdown()
        self.devices.close()

    def check(
        self, group: list[Incoming], answers: Answers, vouched: Container[bytes]
    ) -> list[Check]:
        """A Check per message, refused (``error``), ``unanswered``, or passed with its device.
        Devices in ``vouched`` (whose reports the gateway has stored) are looked up outside the
        budget; ``answers`` carries the lookups of earlier tries of the group, and takes the
        new ones."""
        checks = [Check(item) for item in group]
        for check in checks:
            try:
                check.report = parse(check.item)
            except rep.ReportError as exc:
                check.error = exc
        decoded = [check for check in checks if check.report is not None]
        found = self._resolve(
            [check.device_id() for check in decoded], answers.devices, vouched, refresh=False
        )
        for check in decoded:
            check.attach(found)
        live = [check for check in decoded if check.device is not None]
        signatures = self._verify_signatures([check.pair() for check in live])
        for check, ok in zip(live, signatures, strict=True):
            check.signature_ok = ok
        suspects = [check.device_id() for check in live if check.suspect()]
        refreshed = self._resolve(suspects, answers.refreshed, vouched, refresh=True)
        for check in live:
            if check.awaits(refreshed):
                check.unanswered = True
                continue
            try:
                check.settle(refreshed.devices)
            except rep.ReportError as exc:
                check.error = exc
        return checks

    def _resolve(
        self,
        ids: list[bytes],
        answered: dict[bytes, Device | None],
        vouched: Container[bytes],
        *,
        refresh: bool,
    ) -> Resolved:
        """The devices of ``ids``: those ``answered`` on an earlier try of the group as they
        were, the rest from the cache (DeviceCache.resolve); new answers into ``answered``."""
        ask = [device_id for device_id in ids if device_id not in answered]
        if not ask:
            return Resolved(answered, frozenset(), frozenset())
        found = self.devices.resolve(ask, self.lookup_timeout_s, refresh=refresh, vouched=vouched)
        for device_id, device in found.devices.items():
            if device_id not in found.unanswered:
                answered[device_id] = device
        return Resolved({**answered, **found.devices}, found.throttled, found.unanswered)

    def _verify_signatures(self, pairs: list[tuple[rep.Report, Device]]) -> list[bool]:
        """Check a group's signatures, split over threads: libsodium runs without the GIL, so
        they verify on every core while paho's thread keeps reading the socket."""

        def verify_chunk(chunk: list[tuple[rep.Report, Device]]) -> list[bool]:
            return [report.signature_valid(device.public_key) for report, device in chunk]

        threads = self.verify_threads
        if threads <= 1 or len(pairs) < 2 * MIN_CHUNK:
            return verify_chunk(pairs)
        size = max(MIN_CHUNK, -(-len(pairs) // threads))
        chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
        return [ok for result in self._pool.map(verify_chunk, chunks) for ok in result]
