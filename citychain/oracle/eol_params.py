"""The fitted model's parameters and their file (docs/battery-prediction.md, "Parameters").

The fitted numbers are rounded to SIG_DIGITS significant digits before use, so that the JSON
holding them is canonical, :func:`model_hash` identifies them exactly, and a prediction
computed from the JSON equals the one computed right after fitting. The hash is what the
ledger stores with each attested prediction: any change to this file's format is a change of
every model hash.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citychain.oracle.eol_features import MAX_REMAINING, SMOOTH_WINDOW, Array, PredictionError
from citychain.oracle.trajectory import STEP, Curve

__all__ = [
    "DEFAULT_THRESHOLD",
    "INTERVAL_QUANTILES",
    "MODEL_FORMAT",
    "PARAMS_PATH",
    "Calibration",
    "CutoffModel",
    "EolModel",
    "canonical_json",
    "load_params",
    "model_hash",
    "round_sig",
    "save_params",
]

PARAMS_PATH = Path(__file__).with_name("eol_params.json")
DEFAULT_THRESHOLD = 0.8
SIG_DIGITS = 10
MODEL_FORMAT = "citychain-eol-model/2"
INTERVAL_QUANTILES = (0.1, 0.9)


def round_sig(x: float) -> float:
    """``x`` to SIG_DIGITS significant digits: what the parameter file holds."""
    return float(f"{x:.{SIG_DIGITS}g}")


@dataclass(frozen=True)
class Calibration:
    """Interval offsets in log(remaining life), from out-of-fold residuals."""

    low: float
    high: float


@dataclass(frozen=True)
class CutoffModel:
    cutoff: int
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float
    leverage: tuple[tuple[float, ...], ...]  # empty: intervals of constant width in log space
    n_fit_rows: int
    ridge_lambda: float
    augment: tuple[float, ...]
    calibration: Calibration
    target: str  # "remaining" (log(EOL - c)) or "life" (log EOL, the no-conditioning ablation)
    n_train: int
    # blend with trajectory matching: centre = w ridge + (1 - w) matching (log space)
    ridge_weight: float = 1.0
    # interval width x (1 + |ridge - matching| / disagreement_scale); 0: not used
    disagreement_scale: float = 0.0
    # interval offsets for a cell that trajectory matching cannot serve (ridge alone)
    ridge_calibration: Calibration | None = None
    # interval width x (1 + match spread / spread_scale), the spread being that of the k best
    # trajectory matches' lives (log): per-cell uncertainty of the curve match; 0: not used
    spread_scale: float = 0.0

    def _z(self, x: Array) -> list[float]:
        return [(float(v) - mu) / sd for v, mu, sd in zip(x, self.mean, self.scale, strict=True)]

    def log_target(self, x: Array) -> float:
        """Plain Python sums in a fixed order: the same bits whatever BLAS numpy uses."""
        return self.intercept + math.fsum(
            w * z for w, z in zip(self.weights, self._z(x), strict=True)
        )

    def spread(self, x: Array) -> float:
        if not self.leverage:
            return 1.0
        z = self._z(x)
        lev = 1.0 / self.n_fit_rows + math.fsum(
            z[i] * m * z[j] for i, row in enumerate(self.leverage) for j, m in enumerate(row)
        )
        return math.sqrt(1.0 + max(lev, 0.0))

    def log_interval(
        self,
        x: Array,
        matched: float | None = None,
        matched_spread: float | None = None,
    ) -> tuple[float, float, float]:
        """(centre, low, high) of log remaining life (or log life for target 'life').

        ``matched``: trajectory matching's estimate of the same quantity, or None when it
        cannot be made (then the ridge alone, with its own calibration); ``matched_spread``:
        the log-spread of its k best matches (None: the typical spread)."""
        ridge = self.log_target(x)
        s = self.spread(x)
        if matched is None or (
            self.ridge_weight >= 1.0 and self.disagreement_scale <= 0 and self.spread_scale <= 0
        ):
            cal = self.ridge_calibration or self.calibration
            return ridge, ridge + cal.low * s, ridge + cal.high * s
        w = self.ridge_weight
        centre = w * ridge + (1.0 - w) * matched
        if self.disagreement_scale > 0:
            s *= 1.0 + abs(ridge - matched) / self.disagreement_scale
        if self.spread_scale > 0:
            sd = self.spread_scale if matched_spread is None else matched_spread
            s *= 1.0 + sd / self.spread_scale
        return centre, centre + self.calibration.low * s, centre + self.calibration.high * s

    def to_json(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff,
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "leverage_inverse": [list(r) for r in self.leverage],
            "n_fit_rows": self.n_fit_rows,
            "ridge_lambda": self.ridge_lambda,
            "augment_factors": list(self.augment),
            "interval_log_offsets": [self.calibration.low, self.calibration.high],
            "target": self.target,
            "n_train": self.n_train,
            "ridge_weight": self.ridge_weight,
            "disagreement_scale": self.disagreement_scale,
            "ridge_interval_log_offsets": (
                None
                if self.ridge_calibration is None
                else [self.ridge_calibration.low, self.ridge_calibration.high]
            ),
            "match_spread_scale": self.spread_scale,
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> CutoffModel:
        low, high = doc["interval_log_offsets"]
        ridge_cal = doc.get("ridge_interval_log_offsets")
        return CutoffModel(
            cutoff=int(doc["cutoff"]),
            features=tuple(doc["features"]),
            mean=tuple(float(v) for v in doc["mean"]),
            scale=tuple(float(v) for v in doc["scale"]),
            weights=tuple(float(v) for v in doc["weights"]),
            intercept=float(doc["intercept"]),
            leverage=tuple(tuple(float(v) for v in r) for r in doc["leverage_inverse"]),
            n_fit_rows=int(doc["n_fit_rows"]),
            ridge_lambda=float(doc["ridge_lambda"]),
            augment=tuple(float(v) for v in doc["augment_factors"]),
            calibration=Calibration(float(low), float(high)),
            target=str(doc["target"]),
            n_train=int(doc["n_train"]),
            ridge_weight=float(doc.get("ridge_weight", 1.0)),
            disagreement_scale=float(doc.get("disagreement_scale", 0.0)),
            ridge_calibration=(
                None if ridge_cal is None else Calibration(float(ridge_cal[0]), float(ridge_cal[1]))
            ),
            spread_scale=float(doc.get("match_spread_scale", 0.0)),
        )


@dataclass(frozen=True)
class EolModel:
    models: tuple[CutoffModel, ...]  # increasing cut-off
    threshold: float = DEFAULT_THRESHOLD
    rated_nominal_ah: float | None = None
    trained_on: str = ""
    # trajectory matching's training curves (compact, derived: see trajectory.py)
    library: tuple[Curve, ...] = ()

    def for_cycles(self, last_cycle: int) -> CutoffModel:
        """The model of the largest cut-off not after the last observed cycle."""
        usable = [m for m in self.models if m.cutoff <= last_cycle]
        if not usable:
            raise PredictionError(
                f"needs at least {self.models[0].cutoff} cycles of history "
                f"(the last cycle given is {last_cycle})"
            )
        return usable[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "threshold_default": self.threshold,
            "rated_nominal_ah": self.rated_nominal_ah,
            "smooth_window": SMOOTH_WINDOW,
            "max_remaining_cycles": MAX_REMAINING,
            "interval_quantiles": list(INTERVAL_QUANTILES),
            "trained_on": self.trained_on,
            "models": [m.to_json() for m in self.models],
            "trajectory_step": STEP,
            "trajectories": [{"life": c.life, "q": list(c.q)} for c in self.library],
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> EolModel:
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a {MODEL_FORMAT} parameter file")
        if (
            doc.get("smooth_window") != SMOOTH_WINDOW
            or doc.get("max_remaining_cycles") != MAX_REMAINING
            or doc.get("trajectory_step") != STEP
        ):
            raise ValueError("parameter file was made by a different version of the code")
        models = tuple(CutoffModel.from_json(m) for m in doc["models"])
        if not models or [m.cutoff for m in models] != sorted({m.cutoff for m in models}):
            raise ValueError("parameter file: models must have distinct increasing cut-offs")
        nominal = doc.get("rated_nominal_ah")
        return EolModel(
            models,
            float(doc["threshold_default"]),
            None if nominal is None else float(nominal),
            str(doc.get("trained_on", "")),
            tuple(
                Curve(int(t["life"]), tuple(int(v) for v in t["q"]))
                for t in doc.get("trajectories", [])
            ),
        )


def canonical_json(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def model_hash(model: EolModel) -> str:
    """sha256 (hex) of the canonical JSON of the parameters: what the ledger stores."""
    return hashlib.sha256(canonical_json(model.to_json()).encode()).hexdigest()


def load_params(path: Path = PARAMS_PATH) -> EolModel:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load model parameters {path}: {exc}") from None
    return EolModel.from_json(doc)


def save_params(model: EolModel, path: Path = PARAMS_PATH) -> None:
    text = json.dumps(model.to_json(), sort_keys=True, indent=1) + "\n"
    path.write_text(text, encoding="utf-8")
