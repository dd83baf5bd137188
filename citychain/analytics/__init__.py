"""Off-ledger analytics services. ``battery_data`` reads and checks per-cycle battery
telemetry; ``eol_model`` predicts a cell's end of life with an 80 % interval as integers with
the hash of the model that made them; ``baselines`` and ``bench_battery`` measure it
(docs/battery-prediction.md); ``cli_battery`` is the ``citychain battery`` command.

Nothing here is imported by the ledger itself: numpy is needed only when these run.
"""
