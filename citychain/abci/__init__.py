"""ABCI: citychain's Application served to CometBFT over its socket protocol."""
