"""The node API's routers, one per domain, each a module-level ``router`` that ``create_api``
includes in one line (FastAPI, "Bigger Applications").

- ``chain``: health, status, metrics, transactions, blocks, raw state, event index, search
- ``bank``: accounts, balances with proofs, supply, payment requests
- ``consortium``, ``registry``, ``devices``: those modules' reads (docs/modules/)
- ``battery``: the battery passport (docs/battery-api.md); its read-request gate in
  ``battery_access``
- ``ws``: the block event stream; ``pages``: the explorer's pages
- ``deps``: what they share: ``NodeDep`` (the node, from ``app.state``), settled reads, proofs,
  parsing into the API's error shape
"""
