"""The curve model's parameters, their file and hash (docs/battery-prediction.md, "The curve
model"): one ridge regression of log cycle life, its feature group, and the interval offsets.

Numbers are rounded to 10 significant digits when fitted, so the JSON is canonical, the hash
identifies the model exactly, and a prediction computed from the file equals the one computed
right after fitting. The prediction sums in plain Python (``math.fsum``, fixed order), so its
last bits do not depend on numpy's BLAS.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citychain.oracle.eol_params import canonical_json

__all__ = [
    "CURVE_FORMAT",
    "CURVE_PARAMS_PATH",
    "CurveModel",
    "curve_model_hash",
    "load_curve_params",
    "save_curve_params",
]

CURVE_FORMAT = "citychain-eol-curve-model/1"
CURVE_PARAMS_PATH = Path(__file__).with_name("curve_params.json")


@dataclass(frozen=True)
class CurveModel:
    group: str  # the feature group cross-validation chose
    features: tuple[str, ...]
    ridge_lambda: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float
    leverage_inverse: tuple[tuple[float, ...], ...]
    n_train: int
    interval_log_offsets: tuple[float, float]  # 10 % and 90 % of residual / width, log life
    cv_error: float  # cross-validated mean relative error of the life (policy folds + life blocks)
    trained_on: str

    def _z(self, x: Sequence[float]) -> list[float]:
        return [(v - m) / s for v, m, s in zip(x, self.mean, self.scale, strict=True)]

    def log_life(self, x: Sequence[float]) -> float:
        z = self._z(x)
        return math.fsum([self.intercept, *(w * v for w, v in zip(self.weights, z, strict=True))])

    def width(self, x: Sequence[float]) -> float:
        """sqrt(1 + leverage) of a new cell: its interval widens as it lies far from the
        training cells."""
        z = self._z(x)
        quad = math.fsum(
            z[i] * self.leverage_inverse[i][j] * z[j] for i in range(len(z)) for j in range(len(z))
        )
        return math.sqrt(1.0 + 1.0 / self.n_train + quad)

    def log_interval(self, x: Sequence[float]) -> tuple[float, float, float]:
        """(centre, low, high) in log cycle life."""
        centre, w = self.log_life(x), self.width(x)
        low, high = self.interval_log_offsets
        return centre, centre + low * w, centre + high * w

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CURVE_FORMAT,
            "group": self.group,
            "features": list(self.features),
            "ridge_lambda": self.ridge_lambda,
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "leverage_inverse": [list(r) for r in self.leverage_inverse],
            "n_train": self.n_train,
            "interval_log_offsets": list(self.interval_log_offsets),
            "cv_error": self.cv_error,
            "trained_on": self.trained_on,
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> CurveModel:
        if doc.get("format") != CURVE_FORMAT:
            raise ValueError(f"not a curve model ({CURVE_FORMAT}): format {doc.get('format')!r}")
        low, high = doc["interval_log_offsets"]
        return CurveModel(
            group=str(doc["group"]),
            features=tuple(str(f) for f in doc["features"]),
            ridge_lambda=float(doc["ridge_lambda"]),
            mean=tuple(float(v) for v in doc["mean"]),
            scale=tuple(float(v) for v in doc["scale"]),
            weights=tuple(float(v) for v in doc["weights"]),
            intercept=float(doc["intercept"]),
            leverage_inverse=tuple(tuple(float(v) for v in r) for r in doc["leverage_inverse"]),
            n_train=int(doc["n_train"]),
            interval_log_offsets=(float(low), float(high)),
            cv_error=float(doc["cv_error"]),
            trained_on=str(doc["trained_on"]),
        )


def curve_model_hash(model: CurveModel) -> str:
    """sha256 (hex) of the canonical JSON of the parameters: what an attestation names."""
    return hashlib.sha256(canonical_json(model.to_json()).encode()).hexdigest()


def load_curve_params(path: Path = CURVE_PARAMS_PATH) -> CurveModel:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return CurveModel.from_json(doc)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot load curve model parameters {path}: {exc}") from None


def save_curve_params(model: CurveModel, path: Path = CURVE_PARAMS_PATH) -> None:
    path.write_text(json.dumps(model.to_json(), sort_keys=True, indent=1) + "\n", encoding="utf-8")
