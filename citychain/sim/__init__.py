"""The city simulator (DESIGN.md, "Interfaces"): a seeded city's payments driven through a node.

```python
from citychain.sim import CityConfig, CitySimulation
sim = CitySimulation(client, issuer_key, kyc_key, CityConfig(citizens=300, merchants=20))
sim.setup()
sim.run(10)
assert sim.audit().ok
```

``citychain demo`` (``citychain.sim.demo``) runs it against a fresh local node.
"""

from citychain.sim.audit import Audit, Check
from citychain.sim.city import CitySimulation
from citychain.sim.config import MERCHANT_KINDS, CityConfig, MerchantKind
from citychain.sim.stats import Stats
from citychain.sim.transactions import SimulationError

__all__ = [
    "MERCHANT_KINDS",
    "Audit",
    "Check",
    "CityConfig",
    "CitySimulation",
    "MerchantKind",
    "SimulationError",
    "Stats",
]
