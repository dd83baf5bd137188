"""The solo engine: an in-process block maker for one machine (``engine``) and its mempool."""
