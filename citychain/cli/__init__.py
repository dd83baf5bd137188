"""The ``citychain`` command line (docs/cli.md); its entry point is ``citychain.cli.main:main``.

One module per command group: ``node`` (init, start, status), ``keys``, ``tx``, ``query``,
``verify``, and ``delegate`` (demo, bench); ``common`` holds what they share.
"""
