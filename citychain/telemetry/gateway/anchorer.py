"""Anchoring a gateway's batches on the ledger (docs/modules/devices.md §5): one
``devices/anchor`` transaction per batch, each batch written as pending before it is sent and
looked up on the ledger after a restart or an error, so that none is anchored twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from citychain.client import ApiError, Client, Wallet
from citychain.codec import decode
from citychain.modules.devices import Anchor, MsgAnchorBatch, anchor_key
from citychain.telemetry.gateway.store import Batch, GatewayStore

__all__ = ["BATCH_EXISTS", "MAX_TXS_PER_REQUEST", "Anchorer"]

log = logging.getLogger("citychain.telemetry.gateway")

BATCH_EXISTS = ("devices", 8)  # the ledger's code for a second anchor of one batch id
MAX_TXS_PER_REQUEST = 64


class Anchorer:
    """Submits the pending batches of one or more gateway stores, one ``devices/anchor``
    transaction per batch, up to MAX_TXS_PER_REQUEST in one ``POST /txs/batch``, and marks each
    anchored in its store with the committed height. One Anchorer per signing key: two
    processes signing with one key would take each other's nonces.

    A batch that may already be on the ledger (pending at start-up, or after an error with an
    unknown outcome) is looked up (``dev/b/<id>``) before it is sent again; the ledger refuses a
    second anchor of one id anyway (``devices/8``)."""

    def __init__(
        self,
        stores: Sequence[GatewayStore],
        wallet: Wallet,
        client: Client,
        gateway_device: bytes,
        registry: CollectorRegistry | None = None,
        on_anchored: Callable[[Batch], None] | None = None,
    ) -> None:
        self.stores = list(stores)
        self.wallet = wallet
        self.client = client
        self.gateway_device = gateway_device
        self.on_anchored = on_anchored
        self.anchored = 0
        self._lookup_first: set[bytes] = set()
        self.recheck()
        self._m_anchored: Counter | None = None
        self._m_pending: Gauge | None = None
        if registry is not None:
            self._m_anchored = Counter(
                "citychain_gateway_batches_anchored", "batches anchored", registry=registry
            )
            self._m_pending = Gauge(
                "citychain_gateway_batches_pending", "batches awaiting anchor", registry=registry
            )

    def recheck(self) -> None:
        """Look every pending batch up on the ledger before sending it (after an error)."""
        self._lookup_first.update(b.id for s in self.stores for b in s.pending_batches())

    def pending_count(self) -> int:
        return sum(store.pending_count() for store in self.stores)

    def _ledger_anchor(self, batch: Batch) -> Anchor | None:
        value = self.client.state(anchor_key(batch.id))["value"]
        return decode(bytes.fromhex(value), Anchor) if value else None

    def _anchored(self, store: GatewayStore, batch: Batch, height: int, tx_hash: str) -> None:
        store.mark_anchored(batch.id, height, tx_hash)
        self._lookup_first.discard(batch.id)
        self.anchored += 1
        if self._m_anchored is not None:
            self._m_anchored.inc()
        if self.on_anchored is not None:
            self.on_anchored(batch)

    def run_once(self) -> None:
        """Anchor every batch pending now; raise on an error (the caller waits and retries)."""
        try:
            while self._round():
                pass
        finally:
            if self._m_pending is not None:
                self._m_pending.set(self.pending_count())

    def _round(self) -> bool:
        """One request's worth of pending batches; False when none was pending."""
        pending = self._take_pending()
        if not pending:
            return False
        to_submit = [(store, b) for store, b in pending if not self._found_on_ledger(store, b)]
        if to_submit:
            self._submit(to_submit)
        return True

    def _take_pending(self) -> list[tuple[GatewayStore, Batch]]:
        """Up to MAX_TXS_PER_REQUEST pending batches, the first stores' first."""
        pending: list[tuple[GatewayStore, Batch]] = []
        for store in self.stores:
            room = MAX_TXS_PER_REQUEST - len(pending)
            if room > 0:
                pending.extend((store, b) for b in store.pending_batches(room))
        return pending

    def _found_on_ledger(self, store: GatewayStore, batch: Batch) -> bool:
        """Whether a batch that may already be anchored is (then marked so); a batch that is
        not on the ledger is sent without a look-up from now on."""
        if batch.id not in self._lookup_first:
            return False
        found = self._ledger_anchor(batch)
        if found is None:
            self._lookup_first.discard(batch.id)
            return False
        if found.root != batch.root or found.count != batch.count:
            raise RuntimeError(f"batch {batch.id.hex()} anchored differently")
        self._anchored(store, batch, found.height, "")
        return True

    def _submit(self, to_submit: list[tuple[GatewayStore, Batch]]) -> None:
        """Send one anchor transaction per batch in one request; mark the committed ones."""
        raws = [
            self.wallet.sign([MsgAnchorBatch(b.id, b.root, b.count, self.gateway_device)])
            for _, b in to_submit
        ]
        try:
            results = self.client.broadcast_batch(raws, wait=True)
        except ApiError:
            # Unknown outcome: some may have committed. Look every one up before resending.
            self._lookup_first.update(b.id for _, b in to_submit)
            raise
        failed = False
        for (store, batch), result in zip(to_submit, results, strict=True):
            code = (result.get("codespace"), result.get("code"))
            if result.get("code") == 0 and result.get("height") is not None:
                self._anchored(store, batch, int(result["height"]), str(result["hash"]))
            elif code == BATCH_EXISTS:
                self._lookup_first.add(batch.id)
            else:
                failed = True
                self._lookup_first.add(batch.id)
                log.warning("anchor of batch %s refused: %s", batch.id.hex(), result)
        if failed:
            self.wallet.resync()
            raise RuntimeError("an anchor transaction was refused")

    def loop(self, stop: threading.Event, wake: threading.Event, poll_s: float = 1.0) -> None:
        """Anchor on every wake (or every ``poll_s``) until ``stop``; one last pass then."""
        while True:
            wake.wait(timeout=poll_s)
            wake.clear()
            stopping = stop.is_set()
            try:
                self.run_once()
            except Exception:
                log.exception("anchoring failed; retrying")
                self.wallet.resync()
                self.recheck()
                if not stopping:
                    stop.wait(1.0)
            if stopping:
                return
