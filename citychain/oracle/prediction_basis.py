"""Which model a battery's attested prediction comes from (docs/fleet.md §2, "Which basis").

Two models predict a battery's end of life. The curve model (``curve_model``) reads the
early-life test curves of the battery's lot, which its passport's test report carries from
registration on; the capacity model (``eol_model``) reads the battery's own capacity telemetry,
from its first cut-off (100 cycles) on, and improves as the history grows. The oracle attests
the curve prediction until the capacity model's 80 % interval for the battery is narrower than
the curve model's (both are calibrated alike, so the narrower is the one expected to err
less), then the capacity prediction; each attestation's ``basis`` says which.

Two facts about the battery itself come first, because the curve prediction is of its lot's
test cell and assumes the battery ages like it: a crossing already reported (the capacity model
then attests that cycle), and a capacity prediction whose 80 % interval does not meet the
curve prediction's (the battery's own telemetry says it does not age like its lot).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from citychain.modules.battery import TEST_REPORTS, Battery, commit_part
from citychain.oracle.curve_model import CurveModel, predict_curves
from citychain.oracle.eol_model import Prediction
from citychain.oracle.lot_curves import model_inputs
from citychain.passport.lot_curves import LotCurves, lot_curves_of, lot_curves_ref

__all__ = [
    "CAPACITY",
    "CURVES",
    "LotPrediction",
    "TestReport",
    "capacity_takes_over",
    "opened_lot_curves",
    "predict_lot",
    "prefer_capacity",
]

# A battery's opened test report (Annex XIII point 3): its fields and the salt of its commitment.
TestReport = tuple[Mapping[str, Any], bytes]

# MsgAttestPrediction.basis: the ledger's names (citychain.modules.battery.BASIS_NAMES)
CAPACITY: Final = "capacity"
CURVES: Final = "curves"


@dataclass(frozen=True)
class LotPrediction:
    """The curve model's prediction of a lot's test cell: what the oracle attests (basis
    ``curves``) for each battery of that lot until its own telemetry is preferred."""

    prediction: Prediction
    model_hash: bytes
    inputs_ref: bytes  # lot_curves_ref of the curves it read


def capacity_takes_over(capacity_interval: tuple[int, int], lot: LotPrediction) -> bool:
    """The switch rule: the capacity model replaces the curve model once its 80 % interval
    for this battery is narrower than the lot's. Both intervals are calibrated the same way
    (split-conformal on held-out training cells), so the narrower one is the model expected to
    err less at this many cycles; the comparison moves with the battery's own history, not
    with a constant here. A tie keeps the curves: no switch without a gain."""
    low, high = capacity_interval
    return high - low < lot.prediction.high - lot.prediction.low


def prefer_capacity(lot: LotPrediction, capacity_interval: tuple[int, int], crossed: bool) -> bool:
    """Whether a battery with lot curves gets the capacity model's prediction (its 80 %
    interval ``capacity_interval``, in cycles) rather than its lot's: a reported crossing, a
    capacity interval narrower than the lot's, or intervals that do not meet."""
    low, high = capacity_interval
    disagree = high < lot.prediction.low or low > lot.prediction.high
    return crossed or disagree or capacity_takes_over(capacity_interval, lot)


def opened_lot_curves(battery_id: bytes, battery: Battery, report: TestReport) -> LotCurves | None:
    """The lot curves of a battery's test report, after checking that the report opens the
    ledger's commitment to it (``authority_commitment``); None when it carries none.
    ValueError names the battery when the report is not the committed one or is malformed."""
    fields, salt = report
    try:
        opened = commit_part(TEST_REPORTS, fields, salt) == battery.authority_commitment
        lot = lot_curves_of(fields)
    except ValueError as exc:  # floats in the fields, malformed lot curves (LotCurvesError)
        raise ValueError(f"test report of battery {battery_id.hex()}: {exc}") from None
    if not opened:
        raise ValueError(
            f"the test report given for battery {battery_id.hex()} does not open the ledger's "
            "commitment to it (authority_commitment)"
        )
    return lot


def predict_lot(model: CurveModel, model_hash: bytes, lot: LotCurves) -> LotPrediction:
    """The curve model on a lot's test curves (PredictionError or CurveDataError when it
    cannot use them). Anyone holding the opened test report gets the same integers."""
    curves, series, nominal = model_inputs(lot)
    return LotPrediction(
        predict_curves(model, curves, series, nominal),
        model_hash,
        lot_curves_ref(lot),
    )
