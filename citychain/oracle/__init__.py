"""The battery oracle: end-of-life prediction and the service that attests it.

``battery_data`` reads and checks per-cycle battery data; ``eol_model`` predicts a cell's end
of life with an 80 % interval as integers with the hash of the model that made them
(docs/battery-prediction.md); ``service`` turns anchored telemetry into health commitments and
attested predictions (docs/fleet.md §2). The benchmark is ``citychain.benchmarks.battery``.

Nothing here is imported by the ledger itself: numpy is needed only when these run.
"""
