"""ABCI requests mapped onto the Application (spec/abci/abci++_methods.md, CometBFT 0.38).

The state machine is the one the solo engine drives; only the transport differs. What CometBFT
adds is handled here: genesis arrives in ``InitChain`` (our genesis document is CometBFT's
``app_state``), block time comes from the BFT timestamp, validator-set changes go back in
``FinalizeBlock``, and ``Commit`` answers only once the block is durable.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from citychain.app import Application, BlockResult, CheckResult, StateCorruptedError
from citychain.block import CometHeaderInfo, list_hash
from citychain.codec import encode
from citychain.engines.verifier import Verifier
from citychain.errors import CityError
from citychain.genesis import Genesis, GenesisError
from citychain.pb.tendermint.abci import types_pb2 as abci
from citychain.pb.tendermint.crypto import keys_pb2, proof_pb2
from citychain.store.sqlite import BlockRecord
from citychain.tx.envelope import DecodedTx

__all__ = ["APP_VERSION", "MAX_PROPOSAL_TXS", "AbciHandler", "FinalizedBlock"]

log = logging.getLogger(__name__)

APP_VERSION = 1
# Fewer gossiped transactions than this in one read are verified on the event loop, in CheckTx:
# the round trip to a worker would cost more than it saves.
MIN_PREVERIFY = 32
# The most transactions PrepareProposal puts in one block (CometBFT limits only bytes): about
# the solo engine's max_block_txs, and a block's execution stays well under a second.
MAX_PROPOSAL_TXS = 10_000
QUERY_STORE_KEY = "store/key"


@dataclass(frozen=True, slots=True)
class FinalizedBlock:
    """A block CometBFT decided and the Application committed durably."""

    record: BlockRecord
    result: BlockResult
    seconds: float  # execute + commit, as the solo engine measures it
    proposer_address: bytes


class AbciHandler:
    """Serves one Application to CometBFT; see ``AbciServer`` for the transport."""

    def __init__(
        self,
        app: Application,
        *,
        on_check: Callable[[bytes, CheckResult], None] | None = None,
        on_block: Callable[[FinalizedBlock], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        verify: Callable[[list[bytes]], Awaitable[list[bool]]] | None = None,
        verify_off_loop: Callable[[list[bytes]], Awaitable[list[bool]]] | None = None,
        max_proposal_txs: int = MAX_PROPOSAL_TXS,
    ) -> None:
        self.app = app
        self.verify = verify
        # Proposals' signatures are checked here, never on the event loop (a thread by default).
        self.verify_off_loop = verify_off_loop or Verifier(0).verify_off_loop
        self.max_proposal_txs = max_proposal_txs
        self.on_check = on_check
        self.on_block = on_block
        self.on_failure = on_failure
        self.writing: asyncio.Future[None] | None = None
        self.write_wait_seconds = 0.0
        self.requests = 0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="block-writer")
        self._finalized: tuple[abci.RequestFinalizeBlock, BlockResult, float] | None = None
        # Every request answered at once, by its oneof name; Commit (which awaits a block
        # write) and the proposals (which await signature checks off the loop) are in handle.
        self._answers: dict[str, Callable[[abci.Request], abci.Response]] = {
            "check_tx": lambda r: abci.Response(check_tx=self.check_tx(r.check_tx)),
            "finalize_block": lambda r: abci.Response(
                finalize_block=self.finalize_block(r.finalize_block)
            ),
            "info": lambda _: abci.Response(info=self.info()),
            "query": lambda r: abci.Response(query=self.query(r.query)),
            "init_chain": lambda r: abci.Response(init_chain=self.init_chain(r.init_chain)),
            **STATELESS_ANSWERS,
        }
        # After each commit the check state is rebased here (committed state plus the waiting
        # transactions that still pass); CometBFT's recheck then only asks about each waiting
        # transaction, and evicts those the rebase dropped (check_tx).
        app.track_pending = True

    def close(self) -> None:
        self._writer.shutdown(wait=True)

    async def prepare(self, requests: list[abci.Request]) -> None:
        """Verify, in the node's signature workers, the signatures of the transactions that
        arrived by gossip in one read of the mempool connection, before CheckTx runs them in
        order: the event loop then only looks the results up (``Application.mark_verified``).
        """
        if self.verify is None:
            return
        app = self.app
        raws = [
            r.check_tx.tx
            for r in requests
            if r.WhichOneof("value") == "check_tx"
            and not app.is_verified(hashlib.sha256(r.check_tx.tx).digest())
        ]
        if len(raws) < MIN_PREVERIFY:
            return
        valid = await self.verify(raws)
        app.mark_verified(
            hashlib.sha256(raw).digest() for raw, ok in zip(raws, valid, strict=True) if ok
        )

    async def handle(self, request: abci.Request) -> abci.Response:
        self.requests += 1
        kind = request.WhichOneof("value")
        try:
            if kind == "commit":
                return abci.Response(commit=await self.commit())
            if kind == "prepare_proposal":
                prepared = await self.prepare_proposal(request.prepare_proposal)
                return abci.Response(prepare_proposal=prepared)
            if kind == "process_proposal":
                processed = await self.process_proposal(request.process_proposal)
                return abci.Response(process_proposal=processed)
            answer = self._answers.get(kind) if kind is not None else None
            if answer is None:
                return _exception(f"unsupported ABCI request {kind!r}")
            return answer(request)
        except (GenesisError, StateCorruptedError) as exc:
            self._fail(str(exc))
            return _exception(str(exc))
        except Exception as exc:
            # Anything else on the consensus path means this node can no longer follow the
            # chain: answer with an exception (CometBFT stops) rather than guess.
            log.exception("ABCI %s failed", kind)
            self._fail(f"{kind} failed: {exc!r}")
            return _exception(f"{kind} failed: {exc}")

    def _fail(self, reason: str) -> None:
        if self.on_failure is not None:
            self.on_failure(reason)

    # --- info / genesis -------------------------------------------------------------------
    def info(self) -> abci.ResponseInfo:
        # Not only at CometBFT's handshake: its RPC ``abci_info`` asks the same, any time.
        app = self.app
        height = max(app.height, 0)
        return abci.ResponseInfo(
            data="citychain",
            version="citychain/1",
            app_version=APP_VERSION,
            last_block_height=height,
            last_block_app_hash=app.app_hash if height > 0 else b"",
        )

    def init_chain(self, request: abci.RequestInitChain) -> abci.ResponseInitChain:
        try:
            genesis = Genesis.from_bytes(request.app_state_bytes)
        except ValueError as exc:
            raise GenesisError(f"app_state is not a citychain genesis document: {exc}") from None
        if genesis.chain_id != request.chain_id:
            raise GenesisError(
                f"app_state is for chain {genesis.chain_id!r}, CometBFT runs {request.chain_id!r}"
            )
        if request.initial_height > 1:
            raise GenesisError("citychain chains start at height 1")
        ours = sorted((v.public_key, v.power) for v in genesis.validators)
        theirs = sorted((v.pub_key.ed25519, v.power) for v in request.validators)
        if ours != theirs:
            raise GenesisError(
                "CometBFT's genesis validators differ from the citychain genesis validators"
            )
        app = self.app
        if app.height == 0 and app.genesis is not None:
            # A crash between InitChain and the first Commit: CometBFT asks again.
            if app.genesis.raw != genesis.raw:
                raise GenesisError("this node was initialised with a different genesis")
            return abci.ResponseInitChain(app_hash=app.app_hash)
        return abci.ResponseInitChain(app_hash=app.init_chain(genesis))

    # --- mempool --------------------------------------------------------------------------
    def mempool_closed(self) -> None:
        """CometBFT's mempool connection closed (``AbciServer``): that CometBFT is gone, and
        the mempool that held what ``check_tx`` accepted with it; one started again under this
        process starts empty. So nothing is pending here any more (a payer, or the node's
        ingress journal, may hand the same transactions over again)."""
        self.app.forget_pending_checks()

    def check_tx(self, request: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        raw = request.tx
        if request.type == abci.RECHECK and self.app.is_pending(hashlib.sha256(raw).digest()):
            # Already re-applied by rebase_check_state (a CometBFT configured with recheck on).
            return abci.ResponseCheckTx(code=0, gas_wanted=1)
        result = self.app.check_tx(raw)
        if self.on_check is not None and request.type != abci.RECHECK:
            # The decoded transaction already carries its hash; only undecodable bytes need one.
            tx_hash = result.tx.hash if result.tx is not None else hashlib.sha256(raw).digest()
            self.on_check(tx_hash, result)
        return abci.ResponseCheckTx(
            code=result.code, codespace=result.codespace, log=result.log, gas_wanted=1
        )

    # --- proposals ------------------------------------------------------------------------
    async def _screen(self, raws: Sequence[bytes]) -> list[DecodedTx | None]:
        """Each transaction decoded, or None where it does not decode or its signature fails:
        a property of the bytes alone. Signatures this node has not verified yet are verified
        off the event loop (``verify_off_loop``) and remembered; the answer never depends on
        what the cache forgets meanwhile."""
        app = self.app
        decoded: list[DecodedTx | None] = []
        unknown: list[int] = []
        for raw in raws:
            try:
                tx = app.decode_cached(raw)
            except CityError:
                decoded.append(None)
                continue
            if not app.is_verified(tx.hash):
                unknown.append(len(decoded))
            decoded.append(tx)
        if unknown:
            checked = [tx for tx in (decoded[i] for i in unknown) if tx is not None]
            valid = await self.verify_off_loop([tx.raw for tx in checked])
            app.mark_verified(tx.hash for tx, ok in zip(checked, valid, strict=True) if ok)
            for index, ok in zip(unknown, valid, strict=True):
                if not ok:
                    decoded[index] = None
        return decoded

    async def prepare_proposal(
        self, request: abci.RequestPrepareProposal
    ) -> abci.ResponsePrepareProposal:
        """CometBFT's mempool transactions, in order, that decode, are signed and pass the ante
        step run in block order (so an honest proposal passes ``process_proposal``), within
        ``max_tx_bytes`` and ``max_proposal_txs``."""
        budget = request.max_tx_bytes
        candidates: list[DecodedTx] = []
        for tx in await self._screen(request.txs):
            if len(candidates) >= self.max_proposal_txs:
                break
            if tx is None:
                continue
            if len(tx.raw) > budget:
                break
            candidates.append(tx)
            budget -= len(tx.raw)
        kept = self.app.proposal_ante_passing(request.height, _time_ms(request.time), candidates)
        return abci.ResponsePrepareProposal(txs=[candidates[i].raw for i in kept])

    async def process_proposal(
        self, request: abci.RequestProcessProposal
    ) -> abci.ResponseProcessProposal:
        """REJECT a block holding a transaction that does not decode, is not signed, or fails
        the ante step when the block's transactions run in order on the committed state: such
        a transaction would pay no fee yet stay in the chain for ever. A proposer that includes
        one is faulty; refusing its block costs a round."""
        reject = abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.REJECT)
        screened = await self._screen(request.txs)
        txs = [tx for tx in screened if tx is not None]
        if len(txs) != len(screened):
            log.warning(
                "rejecting block %d: a transaction is malformed or unsigned", request.height
            )
            return reject
        failure = self.app.proposal_ante_failure(request.height, _time_ms(request.time), txs)
        if failure is not None:
            index, error = failure
            log.warning(
                "rejecting block %d: transaction %d fails the ante step: %s/%d %s",
                request.height,
                index,
                error.codespace,
                error.code,
                error.message,
            )
            return reject
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)

    # --- blocks ---------------------------------------------------------------------------
    def finalize_block(self, request: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        started = time.perf_counter()
        result = self.app.finalize_block(request.height, _time_ms(request.time), list(request.txs))
        self._finalized = (request, result, started)
        return abci.ResponseFinalizeBlock(
            tx_results=[
                abci.ExecTxResult(code=r.code, data=r.data, log=r.log, codespace=r.codespace)
                for r in result.tx_results
            ],
            validator_updates=[
                abci.ValidatorUpdate(
                    pub_key=keys_pb2.PublicKey(ed25519=u.public_key), power=u.power
                )
                for u in result.validator_updates
            ],
            app_hash=result.app_hash,
        )

    async def commit(self) -> abci.ResponseCommit:
        """Make the block the state in memory and start writing it; answer at once.

        The disk write overlaps the next height's consensus instead of holding it up. This is
        safe because CometBFT keeps every block it decided: if the app dies before the write
        lands, its Info answers the height before, and CometBFT's handshake replays the block
        into it (consensus/replay.go, app behind the store). At most one block is ever ahead of
        the disk: the next Commit first waits for this write. The node's own readers and
        submitters see the block only once it is durable (``settled``, ``on_block``).
        """
        if self._finalized is None:
            raise RuntimeError("Commit without FinalizeBlock")
        request, result, started = self._finalized
        self._finalized = None
        previous_write = self.writing
        if previous_write is not None and not previous_write.done():
            waited = time.perf_counter()
            await asyncio.shield(previous_write)
            self.write_wait_seconds += time.perf_counter() - waited
        previous = self.app.last_block
        info = CometHeaderInfo(
            chain_id=self.app.chain_id,
            height=request.height,
            time_ms=result.time_ms,
            prev_hash=previous.hash if previous is not None else b"",
            txs_hash=list_hash(result.tx_hashes),
            results_hash=list_hash([r.consensus_hash() for r in result.tx_results]),
            app_hash=result.app_hash,
            proposer_address=bytes(request.proposer_address),
            next_validators_hash=bytes(request.next_validators_hash),
        )
        record = BlockRecord(
            height=request.height,
            hash=request.hash,
            time_ms=result.time_ms,
            header=encode(info),
            signature=b"",  # the commit signatures stay in CometBFT's block store
            app_hash=result.app_hash,
            num_txs=len(result.tx_raws),
        )
        store_write = self.app.commit(record, defer_write=True)
        assert store_write is not None
        self.app.rebase_check_state()
        block = FinalizedBlock(
            record, result, time.perf_counter() - started, bytes(request.proposer_address)
        )
        writing = self.writing = asyncio.get_running_loop().run_in_executor(
            self._writer, store_write
        )
        writing.add_done_callback(lambda done: self._written(block, done))
        return abci.ResponseCommit(retain_height=0)

    def _written(self, block: FinalizedBlock, done: asyncio.Future[None]) -> None:
        if done.cancelled() or done.exception() is not None:
            # Memory is ahead of the disk and cannot catch up: stop; a restart resumes from the
            # last block on disk and CometBFT replays the rest.
            self._fail(f"writing block {block.record.height} failed: {done.exception()!r}")
            return
        if self.on_block is not None:
            self.on_block(block)

    # --- queries --------------------------------------------------------------------------
    def query(self, request: abci.RequestQuery) -> abci.ResponseQuery:
        app = self.app
        if request.path != QUERY_STORE_KEY:
            return abci.ResponseQuery(
                code=1, codespace="abci", log=f"unknown query path {request.path!r}"
            )
        if request.height not in (0, app.height):
            return abci.ResponseQuery(
                code=2,
                codespace="abci",
                log=f"only the latest height ({app.height}) can be queried",
                height=app.height,
            )
        value, proof = app.prove(bytes(request.data))
        response = abci.ResponseQuery(
            code=0, key=request.data, value=value or b"", height=app.height
        )
        if request.prove:
            response.proof_ops.CopyFrom(
                proof_pb2.ProofOps(
                    ops=[
                        proof_pb2.ProofOp(
                            type="citychain/hexary",
                            key=request.data,
                            data=json.dumps(proof.to_json()).encode(),
                        )
                    ]
                )
            )
        return response


def _time_ms(timestamp: Timestamp) -> int:
    """A block's BFT time in milliseconds, as the Application sees it."""
    return int(timestamp.seconds) * 1000 + int(timestamp.nanos) // 1_000_000


def _exception(message: str) -> abci.Response:
    return abci.Response(exception=abci.ResponseException(error=message))


# Requests whose answer does not depend on the state. State sync: this node offers no snapshots
# and accepts none, so a new member syncs by replaying blocks (blocksync), which re-executes and
# re-checks them all. Vote extensions are not used.
STATELESS_ANSWERS: dict[str, Callable[[abci.Request], abci.Response]] = {
    "flush": lambda _: abci.Response(flush=abci.ResponseFlush()),
    "echo": lambda r: abci.Response(echo=abci.ResponseEcho(message=r.echo.message)),
    "extend_vote": lambda _: abci.Response(extend_vote=abci.ResponseExtendVote()),
    "verify_vote_extension": lambda _: abci.Response(
        verify_vote_extension=abci.ResponseVerifyVoteExtension(
            status=abci.ResponseVerifyVoteExtension.ACCEPT
        )
    ),
    "list_snapshots": lambda _: abci.Response(list_snapshots=abci.ResponseListSnapshots()),
    "offer_snapshot": lambda _: abci.Response(
        offer_snapshot=abci.ResponseOfferSnapshot(result=abci.ResponseOfferSnapshot.REJECT)
    ),
    "load_snapshot_chunk": lambda _: abci.Response(
        load_snapshot_chunk=abci.ResponseLoadSnapshotChunk()
    ),
    "apply_snapshot_chunk": lambda _: abci.Response(
        apply_snapshot_chunk=abci.ResponseApplySnapshotChunk(
            result=abci.ResponseApplySnapshotChunk.ABORT
        )
    ),
}
