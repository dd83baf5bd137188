"""Device telemetry off the ledger: the signed report format, the RFC 6962 Merkle tree of a
batch, the offline report proof, and a Mosquitto launcher (docs/modules/devices.md)."""
