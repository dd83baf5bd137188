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
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from citychain.app import Application, BlockResult, CheckResult, StateCorruptedError
from citychain.block import CometHeaderInfo, list_hash
from citychain.codec import encode
from citychain.errors import CityError
from citychain.genesis import Genesis, GenesisError
from citychain.pb.tendermint.abci import types_pb2 as abci
from citychain.pb.tendermint.crypto import keys_pb2, proof_pb2
from citychain.store.sqlite import BlockRecord

__all__ = ["APP_VERSION", "AbciHandler", "FinalizedBlock"]

log = logging.getLogger(__name__)

APP_VERSION = 1
# Fewer gossiped transactions than this in one read are verified on the event loop, in CheckTx:
# the round trip to a worker would cost more than it saves.
MIN_PREVERIFY = 32
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
    ) -> None:
        self.app = app
        self.verify = verify
        self.on_check = on_check
        self.on_block = on_block
        self.on_failure = on_failure
        self.writing: asyncio.Future[None] | None = None
        self.write_wait_seconds = 0.0
        self.requests = 0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="block-writer")
        self._finalized: tuple[abci.RequestFinalizeBlock, BlockResult, float] | None = None
        # Every request but Commit (the one that awaits a block write), by its oneof name.
        self._answers: dict[str, Callable[[abci.Request], abci.Response]] = {
            "check_tx": lambda r: abci.Response(check_tx=self.check_tx(r.check_tx)),
            "finalize_block": lambda r: abci.Response(
                finalize_block=self.finalize_block(r.finalize_block)
            ),
            "prepare_proposal": lambda r: abci.Response(
                prepare_proposal=self.prepare_proposal(r.prepare_proposal)
            ),
            "process_proposal": lambda r: abci.Response(
                process_proposal=self.process_proposal(r.process_proposal)
            ),
            "info": lambda _: abci.Response(info=self.info()),
            "query": lambda r: abci.Response(query=self.query(r.query)),
            "init_chain": lambda r: abci.Response(init_chain=self.init_chain(r.init_chain)),
            **STATELESS_ANSWERS,
        }
        # CometBFT runs with its mempool recheck off (citychain net writes recheck = false);
        # the check state is rebased here after each commit instead.
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
    def _well_formed(self, raw: bytes) -> bool:
        """Decodes and carries a valid signature: a property of the bytes alone.

        A proposer that includes anything else is faulty; refusing its block costs a round, and
        keeps free garbage out of the chain (a transaction that fails here could pay no fee).
        """
        try:
            tx = self.app.decode_cached(raw)
        except CityError:
            return False
        if self.app.is_verified(tx.hash):
            return True
        if tx.signature_valid():
            self.app.mark_verified((tx.hash,))
            return True
        return False

    def prepare_proposal(
        self, request: abci.RequestPrepareProposal
    ) -> abci.ResponsePrepareProposal:
        budget = request.max_tx_bytes
        chosen: list[bytes] = []
        for raw in request.txs:
            if len(raw) > budget:
                break
            if self._well_formed(raw):
                chosen.append(raw)
                budget -= len(raw)
        return abci.ResponsePrepareProposal(txs=chosen)

    def process_proposal(
        self, request: abci.RequestProcessProposal
    ) -> abci.ResponseProcessProposal:
        ok = all(self._well_formed(raw) for raw in request.txs)
        status = abci.ResponseProcessProposal.ACCEPT if ok else abci.ResponseProcessProposal.REJECT
        return abci.ResponseProcessProposal(status=status)

    # --- blocks ---------------------------------------------------------------------------
    def finalize_block(self, request: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        started = time.perf_counter()
        time_ms = request.time.seconds * 1000 + request.time.nanos // 1_000_000
        result = self.app.finalize_block(request.height, time_ms, list(request.txs))
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
