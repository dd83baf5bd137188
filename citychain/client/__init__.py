"""citychain's Python SDK: build, sign and submit transactions; read and verify state.

```python
from citychain.client import Client, Wallet
client = Client("http://127.0.0.1:26680")
alice = Wallet(private_key, client)
receipt = alice.send("city1...", 1_500, wait=True)
```
"""

from citychain.client.errors import ApiError, ClientError, TxFailed
from citychain.client.http import Client
from citychain.client.wallet import Wallet
from citychain.light.verify import VerifyResult, verify_bundle

__all__ = [
    "ApiError",
    "Client",
    "ClientError",
    "TxFailed",
    "VerifyResult",
    "Wallet",
    "verify_bundle",
]
