"""Engines drive the Application; nothing above them knows which one runs (DESIGN.md).

- ``interface``: ``Engine``, the one interface the node holds (ingress, lifecycle, commit
  notifications, proofs), and ``Admission``, ingress's answer for one transaction.
- ``factory``: ``open_engine``, the engine a home's config names; the one place that knows both.
- ``verifier``: signature checks in worker processes, shared by both engines' ingress.
- ``solo``: the embedded single-node block maker, its mempool and its proof bundles.
- ``cometbft``: CometBFT over ABCI, with submission through its RPC and its proof bundles.

``solo`` and ``cometbft`` do not import each other (.importlinter).
"""
