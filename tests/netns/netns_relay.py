"""A TCP relay that delays what it forwards: link latency where the kernel has no ``tc netem``.

    python netns_relay.py --listen HOST:PORT --target HOST:PORT --control FILE

The harness (netns_harness.py) runs one inside each validator's network namespace, listening on
the validator's p2p address and forwarding to CometBFT's p2p listener on the namespace's
loopback. Every peer connection ends at the listener's relay, so each link carries exactly one
relay each way.

* Every chunk read from one side is written to the other ``delay_ms`` after it was read, in
  order: one-way latency ``delay_ms`` for a link, in both directions.
* ``loss_pct``: a chunk is, with that probability, held ``STALL_MS`` longer (and what follows it
  waits behind it). A user-space relay sees a byte stream, not packets, so this is what a TCP
  stream sees when a segment is lost (a stall of about a retransmission timeout), not packet
  loss itself.
* Each connection goes to the target from source address 127.B.C.D, where B.C.D are the last
  three octets of the client's IPv4 address: CometBFT refuses a second peer from one address
  unless ``allow_duplicate_ip``, and the members' nodes must not need it.

The control file is JSON ``{"version", "delay_ms", "loss_pct"}``, re-read when it changes; once
a version is in force the relay writes it to ``FILE.applied``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 16
POLL_S = 0.05
STALL_MS = 200  # Linux's minimum TCP retransmission timeout


@dataclass
class Settings:
    version: int = 0
    delay_s: float = 0.0
    loss: float = 0.0

    def read(self, path: Path) -> None:
        doc = json.loads(path.read_text())
        self.delay_s = max(0, int(doc.get("delay_ms", 0))) / 1000
        self.loss = min(100.0, max(0.0, float(doc.get("loss_pct", 0)))) / 100
        self.version = int(doc.get("version", 0))


def source_for(client_ip: str) -> str | None:
    """127.B.C.D for IPv4 client A.B.C.D: one loopback source address per peer."""
    parts = client_ip.split(".")
    if len(parts) != 4:
        return None
    return "127." + ".".join(parts[1:])


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    settings: Settings,
    rng: random.Random,
) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``settings.delay_s`` after it was read."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read_side() -> None:
        try:
            while data := await reader.read(CHUNK):
                due = loop.time() + settings.delay_s
                if settings.loss and rng.random() < settings.loss:
                    due += STALL_MS / 1000
                queue.put_nowait((due, data))
        except OSError:
            pass
        queue.put_nowait((0.0, b""))

    reading = asyncio.create_task(read_side())
    previous = 0.0
    try:
        while True:
            due, data = await queue.get()
            if not data:
                break
            previous = max(due, previous)  # in order: a stalled chunk holds back the next
            wait = previous - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        pass
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await reading


class Relay:
    def __init__(self, target: tuple[str, int], settings: Settings, seed: int = 0) -> None:
        self.target = target
        self.settings = settings
        self.rng = random.Random(seed)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source = source_for(str(peer[0])) if peer else None
        try:
            up_reader, up_writer = await asyncio.open_connection(
                *self.target, local_addr=(source, 0) if source else None
            )
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(
                _pump(reader, up_writer, self.settings, self.rng),
                _pump(up_reader, writer, self.settings, self.rng),
            )
        finally:
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(OSError):
                    await w.wait_closed()


async def watch(control: Path, settings: Settings) -> None:
    """Apply the control file whenever it changes; acknowledge each version."""
    seen: int | None = None
    while True:
        with contextlib.suppress(OSError, ValueError):
            mtime = control.stat().st_mtime_ns
            if mtime != seen:
                settings.read(control)
                seen = mtime
                applied = control.with_name(control.name + ".applied")
                tmp = applied.with_name(applied.name + ".tmp")
                tmp.write_text(str(settings.version))
                os.replace(tmp, applied)
        await asyncio.sleep(POLL_S)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def serve(listen: tuple[str, int], relay: Relay, control: Path) -> None:
    server = await asyncio.start_server(relay.handle, *listen, reuse_address=True)
    async with server:
        await asyncio.gather(server.serve_forever(), watch(control, relay.settings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, type=_host_port)
    parser.add_argument("--target", required=True, type=_host_port)
    parser.add_argument("--control", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.listen, Relay(args.target, Settings(), args.seed), args.control))


if __name__ == "__main__":
    main()
