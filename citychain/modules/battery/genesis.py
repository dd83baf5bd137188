"""Battery genesis: parameters only; batteries enter through signed manufacturer transactions.

```json
{"params": {"horizon_days": 30}}
```

Both the section and ``params`` are optional; ``horizon_days`` is 1..3650 (ten years: any
further and every battery on the road would be "due").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citychain.modules.battery.state import DEFAULT_HORIZON_DAYS, BatteryParams, set_params
from citychain.state.overlay import Overlay

MAX_HORIZON_DAYS = 3_650


def parse_params(section: Mapping[str, Any]) -> BatteryParams:
    if not isinstance(section, Mapping) or not set(section) <= {"params"}:
        raise ValueError(f"the battery section may hold only 'params', got {section!r}")
    params = section.get("params", {})
    if not isinstance(params, Mapping) or not set(params) <= {"horizon_days"}:
        raise ValueError(f"battery params may hold only 'horizon_days', got {params!r}")
    horizon = params.get("horizon_days", DEFAULT_HORIZON_DAYS)
    if not isinstance(horizon, int) or isinstance(horizon, bool):
        raise ValueError(f"horizon_days must be an integer, got {horizon!r}")
    if not 1 <= horizon <= MAX_HORIZON_DAYS:
        raise ValueError(f"horizon_days must be in 1..{MAX_HORIZON_DAYS}, got {horizon}")
    return BatteryParams(horizon_days=horizon)


def init_genesis(state: Overlay, section: Mapping[str, Any]) -> None:
    set_params(state, parse_params(section))
