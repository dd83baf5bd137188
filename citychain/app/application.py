"""The Application (see the package's docstring): genesis, checks, proposals, blocks, commits
and queries over the modules' handlers."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from citychain.app.block_run import BlockRun
from citychain.app.results import (
    AppInfo,
    BlockResult,
    CheckResult,
    TxResult,
    block_records,
    error_result,
)
from citychain.errors import CityError
from citychain.genesis import Genesis, GenesisError
from citychain.modules import auth, bank, battery, consortium, devices, registry
from citychain.modules.auth import RoutedMessage, get_nonce, run_ante
from citychain.modules.base import Context, MessageRoute, Module, ValidatorUpdate
from citychain.state import MerkleTree, Proof
from citychain.state.overlay import Committed, Overlay
from citychain.store.sqlite import BlockRecord, BlockStore
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import DecodedTx, decode_tx

__all__ = ["DEFAULT_MODULES", "VERIFIED_CACHE_SIZE", "Application", "StateCorruptedError"]

DEFAULT_MODULES: tuple[Module, ...] = (
    auth.MODULE,
    consortium.MODULE,
    bank.MODULE,
    registry.MODULE,
    devices.MODULE,
    battery.MODULE,
)

# Signature checks are remembered for this many transactions, so a transaction verified at
# ingress is not verified again in finalize_block. A valid signature is a property of the bytes,
# so skipping the check cannot make two nodes disagree.
VERIFIED_CACHE_SIZE = 500_000


class StateCorruptedError(RuntimeError):
    """The stored state does not hash to the stored app hash: refuse to run rather than diverge."""


class Application:
    def __init__(self, store: BlockStore, modules: Sequence[Module] = DEFAULT_MODULES) -> None:
        self.store = store
        self.modules = tuple(sorted(modules, key=lambda m: m.genesis_order))
        self.routes: dict[str, MessageRoute] = {}
        for module in self.modules:
            for route in module.routes:
                if route.type in self.routes:
                    raise ValueError(f"message type {route.type} registered twice")
                self.routes[route.type] = route
        self.height = store.last_height()
        self.committed = Committed(store.load_state())
        self.tree = MerkleTree.from_items(self.committed.values.items())
        self.app_hash = store.app_hash()
        if self.height >= 0 and self.tree.root() != self.app_hash:
            raise StateCorruptedError(
                f"state at height {self.height} hashes to {self.tree.root().hex()}, "
                f"but the stored app hash is {self.app_hash.hex()}"
            )
        raw_genesis = store.get_meta("genesis")
        self.genesis = Genesis.from_bytes(raw_genesis) if raw_genesis else None
        self.chain_id = self.genesis.chain_id if self.genesis else ""
        raw_changes = store.get_meta("valset_changes")
        self.valset_changes: list[int] = json.loads(raw_changes) if raw_changes else []
        self._verified: dict[bytes, None] = {}
        self._decoded: dict[bytes, DecodedTx] = {}
        self._check = Overlay(self.committed)
        # Under CometBFT with its recheck off: transactions this node's check state holds that no
        # block has included yet, in the order they were checked (see rebase_check_state).
        self.track_pending = False
        self._pending_checks: dict[bytes, DecodedTx] = {}
        # The last proposal whose transactions all passed the ante step, run (block_run.py).
        self._ahead: BlockRun | None = None
        self._block: Overlay | None = None
        self._pending: BlockResult | None = None
        # The newest block header, which may be ahead of the store while its write is queued.
        self.last_block: BlockRecord | None = store.block(self.height) if self.height > 0 else None

    # --- ABCI: Info / InitChain -----------------------------------------------------------
    def info(self) -> AppInfo:
        return AppInfo(self.chain_id, self.height, self.app_hash)

    def init_chain(self, genesis: Genesis) -> bytes:
        """Write every module's genesis section as height 0; return the genesis app hash."""
        if self.height >= 0:
            raise GenesisError("chain already initialised")
        known = {m.name for m in self.modules}
        unknown = sorted(set(genesis.app_state) - known)
        if unknown:
            raise GenesisError(f"genesis has sections for unknown modules: {', '.join(unknown)}")
        validators = sorted((v.public_key, v.power) for v in genesis.validators)
        for module in self.modules:
            section = genesis.app_state.get(module.name)
            if section is not None and module.check_genesis is not None:
                try:
                    module.check_genesis(section, validators)
                except (KeyError, TypeError, ValueError) as exc:
                    raise GenesisError(f"genesis section {module.name!r}: {exc}") from None
        overlay = Overlay(self.committed)
        for module in self.modules:
            section = genesis.app_state.get(module.name)
            if section is not None and module.init_genesis is not None:
                try:
                    module.init_genesis(overlay, section)
                except (KeyError, TypeError, ValueError) as exc:
                    raise GenesisError(f"genesis section {module.name!r}: {exc}") from None
        writes = sorted(overlay.writes.items())
        self.tree.update(writes)
        app_hash = self.tree.root()
        self.store.commit(
            height=0,
            app_hash=app_hash,
            writes=writes,
            meta=[("genesis", genesis.raw), ("chain_id", genesis.chain_id.encode())],
        )
        self.committed.apply(dict(writes))
        self.height, self.app_hash = 0, app_hash
        self.genesis, self.chain_id = genesis, genesis.chain_id
        self._check = Overlay(self.committed)
        return app_hash

    # --- signature cache ------------------------------------------------------------------
    def mark_verified(self, tx_hashes: Iterable[bytes]) -> None:
        """Record transactions whose signatures a verifier process has already checked."""
        verified = self._verified
        for tx_hash in tx_hashes:
            verified[tx_hash] = None
        while len(verified) > VERIFIED_CACHE_SIZE:
            del verified[next(iter(verified))]

    def is_verified(self, tx_hash: bytes) -> bool:
        return tx_hash in self._verified

    def _signature_valid(self, tx: DecodedTx) -> bool:
        """The ante step's signature check, verifying each transaction's signature once."""
        if tx.hash in self._verified:
            return True
        if not tx.signature_valid():
            return False
        self.mark_verified((tx.hash,))
        return True

    # --- ABCI: CheckTx --------------------------------------------------------------------
    def decode_cached(self, raw: bytes) -> DecodedTx:
        """``decode_tx`` once per transaction: proposals, checks and blocks share the result."""
        tx_hash = hashlib.sha256(raw).digest()
        tx = self._decoded.get(tx_hash)
        if tx is None:
            tx = decode_tx(raw)
            self._decoded[tx_hash] = tx
        return tx

    def check_tx(self, raw: bytes) -> CheckResult:
        """Validate ``raw`` against the mempool's view of state; apply it there if valid."""
        try:
            tx = decode_tx(raw)
        except CityError as exc:
            return CheckResult(exc.code, exc.codespace, exc.message, None)
        if self.height < 0:
            return CheckResult(tx_errors.WRONG_CHAIN.code, "tx", "chain not initialised", tx)
        # The ante step writes the fee and nonce before the messages run; a refused transaction
        # never reaches a block, so none of its writes may stay in the mempool's view.
        branch = Overlay(self._check)
        result = self._run_tx(branch, tx, self.height + 1, 0)
        if result.ok:
            branch.merge_into_parent()
            self._decoded[tx.hash] = tx
            if self.track_pending:
                self._pending_checks[tx.hash] = tx
        return CheckResult(result.code, result.codespace, result.log, tx)

    def is_pending(self, tx_hash: bytes) -> bool:
        return tx_hash in self._pending_checks

    def forget_pending_checks(self) -> None:
        """The mempool that held the transactions ``check_tx`` accepted is gone (its CometBFT's
        mempool connection closed; one restarted under this process starts with an empty
        one): the check state becomes the committed state again, so they can be checked in
        again."""
        self._pending_checks.clear()
        self._check = Overlay(self.committed)

    def rebase_check_state(self) -> int:
        """After a commit, rebuild the check state: the committed state plus, in the order they
        were checked, the transactions this node accepted that no block has included yet.

        CometBFT's own recheck would do the same through ABCI, one request per waiting
        transaction, after every block; here it runs in process, on exactly the transactions
        that passed this node's ``check_tx``, and drops those the block made invalid (a nonce
        used by another transaction, money spent elsewhere). Returns how many were dropped.
        """
        self._check = check = Overlay(self.committed)
        height = self.height + 1
        dropped = 0
        for tx_hash, tx in list(self._pending_checks.items()):
            branch = Overlay(check)
            if self._run_tx(branch, tx, height, 0).ok:
                branch.merge_into_parent()
            else:
                del self._pending_checks[tx_hash]
                dropped += 1
        return dropped

    def next_nonce(self, address: bytes) -> int:
        """The nonce the mempool expects next from ``address`` (check state)."""
        return get_nonce(self._check, address)

    def committed_nonce(self, address: bytes) -> int:
        return get_nonce(self.committed, address)

    def can_pay_fees(self, address: bytes, fees: int) -> bool:
        """Whether ``address`` has an account in the mempool's view of state and could pay
        ``fees`` more there: the mempool's admission rule for transactions that wait for a
        nonce gap (docs/network.md, "Mempool admission and block limits").

        The fee is charged as the ante step charges it (bank ``pay_fee``), on a scratch branch,
        so nothing is written. An account exists once it has used a nonce or holds some of the
        fee denomination, so a key nobody has funded cannot queue anything even on a chain whose
        minimum fee is 0."""
        least = fees if get_nonce(self._check, address) > 0 else max(fees, 1)
        try:
            bank.pay_fee(Overlay(self._check), address, least)
        except CityError:
            return False
        return True

    # --- ABCI: PrepareProposal / ProcessProposal ------------------------------------------
    def proposal_ante_failure(
        self, height: int, time_ms: int, txs: Sequence[DecodedTx]
    ) -> tuple[int, CityError] | None:
        """ProcessProposal's check: the first transaction of a proposed block that would fail
        the ante step (wrong chain, bad signature, expired, fee too low or unpayable, nonce used
        or ahead, unknown message or role), as ``(index, error)``, or None if none would.

        The transactions run in block order on a branch of the committed state exactly as
        ``finalize_block`` will run them (messages included, since they move the money that
        a later fee is paid from), so two transactions of one sender with consecutive nonces
        pass; a block that passes is kept, run, for ``finalize_block`` (block_run.py). A
        signature missing from the verified cache is verified here, on the calling thread (the
        ABCI handler verifies a proposal's unknown signatures off the event loop first); the
        answer depends only on the state and the bytes.
        """
        if self._ran_ahead(height, time_ms, [tx.hash for tx in txs]):
            return None  # this very block passed already (the proposer's own, or asked again)
        run = self._new_run(height, time_ms)
        for index, tx in enumerate(txs):
            error = self._run_for_proposal(run, tx)
            if error is not None:
                return index, error
        self._ahead = run
        return None

    def proposal_ante_passing(
        self, height: int, time_ms: int, txs: Sequence[DecodedTx]
    ) -> list[int]:
        """PrepareProposal's filter: the indexes of ``txs`` that pass the ante step when run in
        order after the ones kept before them; a proposal of exactly those passes
        ``proposal_ante_failure`` (which finds it run already)."""
        run = self._new_run(height, time_ms)
        kept = [index for index, tx in enumerate(txs) if self._run_for_proposal(run, tx) is None]
        self._ahead = run
        return kept

    def _ran_ahead(self, height: int, time_ms: int, tx_hashes: Sequence[bytes]) -> bool:
        ahead = self._ahead
        return ahead is not None and ahead.matches(self.height, height, time_ms, tx_hashes)

    def _new_run(self, height: int, time_ms: int) -> BlockRun:
        return BlockRun(self.height, height, time_ms, Overlay(self.committed))

    def _run_for_proposal(self, run: BlockRun, tx: DecodedTx) -> CityError | None:
        """Run ``tx`` as the block would and add it to ``run``; its ante error (nothing
        written, nothing added), or None once it has paid its fee (whether or not its
        messages then succeed)."""
        try:
            routed = self._ante(run.block, tx, run.height)
        except CityError as exc:
            return exc
        run.add(
            tx.hash, tx.sender, self._run_messages(run.block, tx, routed, run.height, run.time_ms)
        )
        return None

    # --- ABCI: FinalizeBlock / Commit -----------------------------------------------------
    def finalize_block(self, height: int, time_ms: int, txs: Sequence[bytes]) -> BlockResult:
        """Run the block; a proposal of the same block already run (``_ahead``) is taken as
        it is, since running it again would give the same writes and results."""
        if height != self.height + 1:
            raise ValueError(f"expected block {self.height + 1}, got {height}")
        hashes = [hashlib.sha256(raw).digest() for raw in txs]
        # Each transaction leaves the decode cache and the pending checks either way.
        known = [self._take_decoded(tx_hash) for tx_hash in hashes]
        run, self._ahead = self._ahead, None
        if run is None or not run.matches(self.height, height, time_ms, hashes):
            run = self._run_block(height, time_ms, txs, hashes, known)
        block = run.block
        updates = self._end_block(block, height, time_ms)
        self._block = block
        self.tree.update(block.writes.items())
        app_hash = self.tree.root()
        self._pending = BlockResult(
            height, time_ms, hashes, list(txs), run.results, run.senders, app_hash, updates
        )
        return self._pending

    def _take_decoded(self, tx_hash: bytes) -> DecodedTx | None:
        """The decoded transaction this node holds for ``tx_hash``, if any, no longer cached
        or pending once a block includes it."""
        tx = self._decoded.pop(tx_hash, None)
        included = self._pending_checks.pop(tx_hash, None)
        return tx if tx is not None else included

    def _run_block(
        self,
        height: int,
        time_ms: int,
        txs: Sequence[bytes],
        hashes: Sequence[bytes],
        known: Sequence[DecodedTx | None],
    ) -> BlockRun:
        run = self._new_run(height, time_ms)
        for raw, tx_hash, tx in zip(txs, hashes, known, strict=True):
            if tx is None:
                try:
                    tx = decode_tx(raw)
                except CityError as exc:
                    run.add(tx_hash, None, error_result(exc))
                    continue
            run.add(tx_hash, tx.sender, self._run_tx(run.block, tx, height, time_ms))
        return run

    def _end_block(self, block: Overlay, height: int, time_ms: int) -> list[ValidatorUpdate]:
        updates: list[ValidatorUpdate] = []
        for module in self.modules:
            if module.end_block is not None:
                ctx = Context(block, chain_id=self.chain_id, height=height, time_ms=time_ms)
                updates.extend(module.end_block(ctx))
        return updates

    def commit(
        self, block: BlockRecord | None = None, *, defer_write: bool = False
    ) -> Callable[[], None] | None:
        """Make the finalized block the committed state and persist it atomically.

        With ``defer_write`` the block becomes the in-memory state at once and the durable
        write is returned for the caller to run (on a writer thread, in block order) before it
        acknowledges anything: a crash before that write simply loses a block nobody was told
        about, and the node restarts from the last block on disk.
        """
        pending, overlay = self._pending, self._block
        if pending is None or overlay is None:
            raise RuntimeError("commit without finalize_block")
        height = pending.height
        txs, account_index, event_index = block_records(pending)
        meta: list[tuple[str, bytes]] = []
        if pending.validator_updates:
            # CometBFT applies updates from FinalizeBlock(H) at H+2; light-client proofs need the
            # headers where the set changed (docs/light-client.md).
            self.valset_changes = [*self.valset_changes, height + 2]
            meta.append(("valset_changes", json.dumps(self.valset_changes).encode()))
        store_write = functools.partial(
            self.store.commit,
            height=height,
            app_hash=pending.app_hash,
            meta=meta,
            writes=sorted(overlay.writes.items()),
            block=block,
            txs=txs,
            account_index=account_index,
            event_index=event_index,
        )
        if not defer_write:
            store_write()
        self.committed.apply(overlay.writes)
        self.height, self.app_hash = height, pending.app_hash
        if block is not None:
            self.last_block = block
        self._block = self._pending = None
        self._check = Overlay(self.committed)
        if len(self._decoded) > VERIFIED_CACHE_SIZE:
            # Decoded transactions of evicted mempool entries; decoding again is only slower.
            self._decoded.clear()
        return store_write if defer_write else None

    # --- ABCI: Query ----------------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        return self.committed.get(key)

    def prove(self, key: bytes) -> tuple[bytes | None, Proof]:
        """The committed value of ``key`` (None if absent) and its proof against ``app_hash``."""
        return self.committed.get(key), self.tree.prove(key)

    def query(self, path: str, data: bytes) -> dict[str, Any]:
        """ABCI Query for ``store/key``: the raw value and its proof at the last commit."""
        if path != "store/key":
            raise KeyError(f"unknown query path {path!r}")
        value, proof = self.prove(data)
        return {
            "height": self.height,
            "key": data.hex(),
            "value": value.hex() if value is not None else None,
            "proof": proof.to_json(),
        }

    def check_invariants(self) -> list[str]:
        """Every module's invariants over the committed state; empty when all hold."""

        def scan(prefix: bytes) -> list[tuple[bytes, bytes]]:
            return list(self.committed.items_with_prefix(prefix))

        broken: list[str] = []
        for module in self.modules:
            for invariant in module.invariants:
                broken.extend(invariant(scan))
        return broken

    # --- the shared transaction runner ----------------------------------------------------
    def _run_tx(self, parent: Overlay, tx: DecodedTx, height: int, time_ms: int) -> TxResult:
        try:
            routed = self._ante(parent, tx, height)
        except CityError as exc:
            return error_result(exc)
        return self._run_messages(parent, tx, routed, height, time_ms)

    def _ante(self, parent: Overlay, tx: DecodedTx, height: int) -> list[RoutedMessage]:
        """The ante step (auth ``run_ante``): raises CityError and writes nothing on failure,
        else charges the fee and advances the nonce in ``parent``."""
        return run_ante(
            parent,
            tx,
            chain_id=self.chain_id,
            height=height,
            routes=self.routes,
            signature_valid=self._signature_valid,
        )

    def _run_messages(
        self,
        parent: Overlay,
        tx: DecodedTx,
        routed: list[RoutedMessage],
        height: int,
        time_ms: int,
    ) -> TxResult:
        """Run a transaction's messages in a branch of ``parent``, merged only if all succeed."""
        branch = Overlay(parent)
        ctx = Context(
            branch,
            chain_id=self.chain_id,
            height=height,
            time_ms=time_ms,
            sender=tx.sender,
            tx_hash=tx.hash,
        )
        data = b""
        try:
            for index, (route, message) in enumerate(routed):
                ctx.msg_index = index
                returned = route.handler(ctx, message)
                if returned:
                    data = returned
        except CityError as exc:
            return error_result(exc)
        branch.merge_into_parent()
        return TxResult(0, "", "", data, tuple(ctx.events))
