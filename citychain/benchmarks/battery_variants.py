"""What the battery benchmark compares (docs/battery-prediction.md, "Benchmark"): the model,
its ablation variants, and the names of the two baselines."""

from __future__ import annotations

from citychain.oracle.eol_model import (
    AUGMENT_FACTORS,
    BASE_FEATURES,
    CURVE_FEATURES,
    KNEE_FEATURES,
    FitOptions,
)

__all__ = [
    "CURVE_BASELINE",
    "DEFAULT_CUTOFFS",
    "MAIN",
    "MEAN_BASELINE",
    "RATED_NOMINAL_AH",
    "VARIANTS",
]

RATED_NOMINAL_AH = 1.1  # the data's definition: EOL below 0.88 Ah = 80 % of 1.1 Ah
DEFAULT_CUTOFFS = (100, 200, 300, 500)

# Each row removes or changes one lever of the model (FitOptions() is the model); "tried"
# rows are levers that did not help in the within-batch cross-validation and were not kept.
VARIANTS: dict[str, FitOptions] = {
    "model (all levers)": FitOptions(),
    "previous model (committed before this change)": FitOptions(
        augment=AUGMENT_FACTORS, select=False, lambda_select="policy", finite_sample=False
    ),
    "- finite-sample conformal correction": FitOptions(finite_sample=False),
    "- wide time augmentation (0.7-1.5x)": FitOptions(augment=AUGMENT_FACTORS),
    "- lambda scored on life blocks (policy folds only)": FitOptions(lambda_select="policy"),
    "- CV picks feature group and augmentation": FitOptions(select=False),
    "- trajectory matching (ridge, life-block intervals)": FitOptions(trajectory=False),
    "- life-block calibration (policy-fold residuals)": FitOptions(calibrate="policy"),
    "- curve extrapolation features": FitOptions(features=BASE_FEATURES + KNEE_FEATURES),
    "- knee-sign features": FitOptions(features=BASE_FEATURES + CURVE_FEATURES),
    "- survival conditioning (target log EOL)": FitOptions(target="life"),
    "tried: + blend weight also scored on life blocks": FitOptions(blend_select="both"),
    "tried: + match-spread interval width": FitOptions(width="match-spread"),
    "tried: + pooled policy and life-block residuals": FitOptions(calibrate="pooled"),
}
MAIN = "model (all levers)"
MEAN_BASELINE = "baseline: training mean life (alive at cut-off)"
CURVE_BASELINE = "baseline: per-cell linear extrapolation"
