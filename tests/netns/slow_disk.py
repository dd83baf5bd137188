"""A validator's home on a disk that can be made slow: an ext4 filesystem on a loop device,
throttled with the cgroup-v1 blkio controller.

``loop_disk_home(home)`` (a context manager; root) moves what is in ``home`` onto a fresh ext4
filesystem in a sparse image file beside it (``citychain-slowdisk-<pid>-<n>.img``), attached to a
loop device and mounted at ``home``, so the node started there keeps every file it writes (its
SQLite, CometBFT's WAL and stores, its logs) on that device. ``LoopDisk.throttle`` then limits
the writes the device takes (``blkio.throttle.write_iops_device`` / ``write_bps_device``).

The limits are set in the root blkio cgroup, for this loop device only. In a child cgroup
holding the node's processes they would reach only the I/O those processes submit themselves:
ext4's journal commits (jbd2) and background writeback run in kernel threads of the root
cgroup, so an fsync there stayed at ~2 ms with 20 write IOPS; at the root, every write to the
device is limited, as on a slow disk. ``fsync_ms`` measures what a small write with fsync costs.

A run removes what a dead run left (``sweep_stale_disks``: its loop devices, mounts and limits,
found by the image's name and the pid in it), and always its own on the way out.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "IMAGE_PREFIX",
    "WRITE_BPS",
    "WRITE_IOPS",
    "LoopDisk",
    "fsync_ms",
    "limits_on",
    "loop_devices",
    "loop_disk_home",
    "median_ms",
    "slow_disk_unavailable",
    "sweep_stale_disks",
]

log = logging.getLogger("netns")

BLKIO = Path("/sys/fs/cgroup/blkio")
WRITE_IOPS, WRITE_BPS = "blkio.throttle.write_iops_device", "blkio.throttle.write_bps_device"
IMAGE_PREFIX = "citychain-slowdisk-"
_IMAGE = re.compile(rf"{IMAGE_PREFIX}(\d+)-\d+\.img$")
IMAGE_BYTES = 1 << 30  # sparse: only what the node writes takes room
PROBE_BYTES = 4096
TOOLS = ("losetup", "mkfs.ext4", "mount", "umount", "findmnt")
LOGS = ("app.log", "cometbft.log")
_serial = itertools.count()


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=120, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


def slow_disk_unavailable() -> str | None:
    """Why this machine cannot give a validator a slow disk, or None."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "loop devices and blkio limits need root on Linux"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed"
    if not (BLKIO / WRITE_IOPS).exists():
        return f"no cgroup-v1 blkio throttling ({BLKIO / WRITE_IOPS})"
    if not Path("/dev/loop-control").exists():
        return "no loop devices (/dev/loop-control)"
    return None


def fsync_ms(directory: Path, samples: int) -> list[float]:
    """Milliseconds each of ``samples`` small writes to a new file in ``directory`` took, from
    open to a completed fsync."""
    took: list[float] = []
    block = os.urandom(PROBE_BYTES)
    for i in range(samples):
        path = directory / f".fsync-probe-{i}"
        started = time.perf_counter()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, block)
            os.fsync(fd)
        finally:
            os.close(fd)
        took.append((time.perf_counter() - started) * 1000)
        path.unlink()
    return took


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples), 2)


def _set_limit(device: str, name: str, value: int) -> None:
    """A root-cgroup limit on ``device`` ("MAJOR:MINOR"); 0 removes it."""
    (BLKIO / name).write_text(f"{device} {value}\n")


def limits_on(device: str) -> dict[str, int]:
    found = {}
    for name in (WRITE_IOPS, WRITE_BPS):
        for line in (BLKIO / name).read_text().splitlines():
            dev, _, value = line.partition(" ")
            if dev == device:
                found[name] = int(value)
    return found


@dataclass
class LoopDisk:
    image: Path
    loop: str  # /dev/loopN
    mountpoint: Path
    limits: dict[str, int] = field(default_factory=dict)

    @property
    def device(self) -> str:
        """MAJOR:MINOR, as the blkio files name it."""
        rdev = os.stat(self.loop).st_rdev
        return f"{os.major(rdev)}:{os.minor(rdev)}"

    def throttle(self, write_iops: int | None = None, write_bps: int | None = None) -> None:
        """Limit the writes this device takes (None: no limit of that kind)."""
        for name, value in ((WRITE_IOPS, write_iops), (WRITE_BPS, write_bps)):
            _set_limit(self.device, name, value or 0)
            if value:
                self.limits[name] = value
            else:
                self.limits.pop(name, None)
        assert limits_on(self.device) == self.limits, limits_on(self.device)

    def unthrottle(self) -> None:
        self.throttle(None, None)


def loop_devices() -> list[tuple[str, str]]:
    """(loop device, its backing file) of every attached loop device."""
    out = _run("losetup", "--list", "--json", "--output", "NAME,BACK-FILE", check=False).stdout
    with contextlib.suppress(ValueError):
        return [(d["name"], d.get("back-file") or "") for d in json.loads(out)["loopdevices"]]
    return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release(loop: str) -> None:
    """Lift ``loop``'s limits, unmount it wherever it is mounted (lazily if busy), detach it."""
    with contextlib.suppress(OSError):
        rdev = os.stat(loop).st_rdev
        for name in (WRITE_IOPS, WRITE_BPS):
            _set_limit(f"{os.major(rdev)}:{os.minor(rdev)}", name, 0)
    targets = _run("findmnt", "-n", "-o", "TARGET", "--source", loop, check=False).stdout
    for target in targets.split():
        if _run("umount", target, check=False).returncode != 0:
            _run("umount", "-l", target, check=False)
    _run("losetup", "-d", loop, check=False)


def sweep_stale_disks() -> list[str]:
    """Release the loop devices of runs that are gone (the pid in their image's name is not
    alive); returns those devices."""
    swept = []
    for loop, back in loop_devices():
        match = _IMAGE.search(back.removesuffix(" (deleted)"))
        if match and not _alive(int(match.group(1))):
            _release(loop)
            swept.append(loop)
    if swept:
        log.warning("released stale slow-disk loop devices %s", swept)
    return swept


def _make_filesystem(image: Path) -> str:
    """A sparse ext4 image attached to a loop device; the device."""
    with open(image, "wb") as out:
        out.truncate(IMAGE_BYTES)
    loop = _run("losetup", "--find", "--show", str(image)).stdout.strip()
    try:
        # Inode tables and journal written now: no lazy-init thread writing later, under limits.
        _run("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", loop)
    except BaseException:
        _run("losetup", "-d", loop, check=False)
        raise
    return loop


@contextlib.contextmanager
def loop_disk_home(home: Path) -> Iterator[LoopDisk]:
    """``home``'s contents on a fresh loop-device ext4 filesystem mounted at ``home``. Whatever
    runs there must have stopped before the block exits; the node's logs are copied beside
    ``home`` (``<home>.disk-logs``) before the filesystem goes."""
    reason = slow_disk_unavailable()
    if reason is not None:
        raise RuntimeError(f"no slow disk here: {reason}")
    sweep_stale_disks()
    image = home.parent / f"{IMAGE_PREFIX}{os.getpid()}-{next(_serial)}.img"
    loop = _make_filesystem(image)
    disk = LoopDisk(image, loop, home)
    before = home.with_name(home.name + ".before-disk")
    try:
        disk.unthrottle()  # a limit a dead run left on this device number
        mode = home.stat().st_mode & 0o7777
        home.rename(before)
        home.mkdir(mode=mode)
        _run("mount", loop, str(home))
        home.chmod(mode)
        shutil.copytree(before, home, symlinks=True, dirs_exist_ok=True)
        log.info("%s on %s (%s, %s)", home, loop, disk.device, image.name)
        yield disk
    finally:
        keep = home.with_name(home.name + ".disk-logs")
        keep.mkdir(exist_ok=True)
        for name in LOGS:
            with contextlib.suppress(OSError):
                shutil.copy(home / name, keep / name)
        _release(loop)
        if before.exists():
            with contextlib.suppress(OSError):
                home.rmdir()
                before.rename(home)
        image.unlink(missing_ok=True)
