"""The MQTT telemetry gateway: subscribe, verify, store, batch, anchor
(docs/modules/devices.md §5)."""

from citychain.telemetry.gateway.service import Gateway, GatewayConfig
from citychain.telemetry.gateway.store import GatewayStore

__all__ = ["Gateway", "GatewayConfig", "GatewayStore"]
