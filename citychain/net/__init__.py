"""A local consortium on loopback: N CometBFT validators, each beside its own citychain node."""
