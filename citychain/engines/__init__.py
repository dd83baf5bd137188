"""Engines drive the Application; nothing above them knows which one runs (DESIGN.md).

- ``solo``: the embedded single-node block maker and its mempool.
- ``cometbft``: CometBFT over ABCI, with submission through its RPC.
"""
