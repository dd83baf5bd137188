"""Device telemetry off the ledger: the signed report format (``report``), the RFC 6962 Merkle
tree of a batch (``merkle``), the offline report proof (``proof``), the MQTT gateway that
verifies, stores, batches and anchors reports (``gateway``), and a Mosquitto launcher
(``broker``) (docs/modules/devices.md)."""
