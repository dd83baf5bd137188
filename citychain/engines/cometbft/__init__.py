"""The CometBFT engine: citychain's Application served to CometBFT over ABCI (``server``,
``wire``, ``handler``), and transactions submitted through CometBFT's RPC (``engine``)."""
