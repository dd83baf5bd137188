"""What physics-based ageing would cost the fleet simulator: the time PyBaMM takes to age one
cell through N charge/discharge cycles (docs/fleet.md §1).

PyBaMM is not a dependency of citychain; run this in a separate environment:

    python -m venv /tmp/pybamm-venv && /tmp/pybamm-venv/bin/pip install pybamm
    /tmp/pybamm-venv/bin/python scripts/pybamm_ageing_cost.py 50

It prints, per ageing model, the solve time per cycle and the capacity lost. The parameter set
is OKane2022 (an LG M50 NMC/graphite cell with SEI and lithium-plating parameters): PyBaMM's
LFP set (Prada2013) has no degradation parameters, so no PyBaMM model here reproduces the
A123 LFP cells' late knee without a calibration we have not made.
"""

from __future__ import annotations

import sys
import time

import pybamm  # type: ignore[import-not-found]

STEPS = (
    "Discharge at 1C until 2.5 V",
    "Rest for 5 minutes",
    "Charge at 1C until 4.2 V",
    "Hold at 4.2 V until C/20",
)
MODELS = (
    ("SPM + SEI (solvent-diffusion limited)", {"SEI": "solvent-diffusion limited"}),
    (
        "SPM + SEI + partially reversible lithium plating",
        {"SEI": "solvent-diffusion limited", "lithium plating": "partially reversible"},
    ),
)


def main() -> int:
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    for name, options in MODELS:
        simulation = pybamm.Simulation(
            pybamm.lithium_ion.SPM(options),
            parameter_values=pybamm.ParameterValues("OKane2022"),
            experiment=pybamm.Experiment([STEPS] * cycles),
        )
        started = time.perf_counter()
        solution = simulation.solve()
        elapsed = time.perf_counter() - started
        capacity = solution.summary_variables["Capacity [A.h]"]
        print(
            f"{name}: {cycles} cycles in {elapsed:.1f} s ({elapsed / cycles * 1000:.0f} ms a "
            f"cycle); capacity {capacity[0]:.4f} -> {capacity[-1]:.4f} Ah"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
