"""ARM userlands of Debian bookworm and trixie (what Raspberry Pi OS 12 and 13 are built on),
made from Debian's own packages, run under qemu-user.

No chroot, no binfmt_misc and no root are needed. apt-get resolves and downloads the
packages of the foreign architecture and release with a private state folder and its own
sources list (Debian's archive signed by Debian's keyring; this machine's apt settings, so
the same proxy), dpkg-deb unpacks them into a folder, and
`qemu-aarch64-static -L ROOT ROOT/usr/bin/python3.13` runs Debian's ARM Python: qemu looks
every absolute path up in ROOT first and falls back to the host's (so the data set and the
work folder are reachable as they are).

Everything is cached under CACHE: the package lists and .debs per release and architecture,
the unpacked root (named by a digest of the exact package versions, so a Debian update makes
a new one), and the qemu binaries (from Debian's qemu-user-static for this machine).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

Log = Callable[[str], None]


@dataclass(frozen=True)
class Arch:
    """One Debian architecture as qemu runs it, posing as the Raspberry Pi it stands for."""

    debian: str  # Debian's name: arm64, armhf, armel
    triplet: str  # multiarch library folder
    qemu: str  # qemu-user binary
    cpu: str  # QEMU_CPU: the Pi's core, so the runtimes pick the kernels a Pi would
    cpuinfo: str  # /proc/cpuinfo of one core, {i} for its number
    machine: str  # what pip calls the platform: aarch64, armv7l, armv6l


@dataclass(frozen=True)
class Suite:
    """One Debian release, as the Raspberry Pi OS built on it has it."""

    name: str  # bookworm, trixie
    pi_os: str  # the Raspberry Pi OS release built on it
    python: str  # its python3: 3.11, 3.13
    glibc: int  # glibc 2.N: the newest manylinux tag its wheels may carry

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    def wheel_platforms(self, arch: Arch) -> list[str]:
        """pip --platform tags of wheels that install on this release."""
        tags = [f"manylinux_2_{minor}_{arch.machine}" for minor in range(self.glibc, 16, -1)]
        return [*tags, f"manylinux2014_{arch.machine}", f"linux_{arch.machine}"]


ARCHES = {
    "arm64": Arch(
        "arm64", "aarch64-linux-gnu", "qemu-aarch64-static", "cortex-a72",
        "processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n"
        "CPU part\t: 0xd08\nCPU revision\t: 3\n", "aarch64",
    ),
    "armhf": Arch(
        "armhf", "arm-linux-gnueabihf", "qemu-arm-static", "cortex-a7",
        "processor\t: {i}\nmodel name\t: ARMv7 Processor rev 5 (v7l)\nBogoMIPS\t: 38.40\n"
        "Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 "
        "lpae evtstrm\nCPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x0\n"
        "CPU part\t: 0xc07\nCPU revision\t: 5\n", "armv7l",
    ),
    # The Pi 1 and Zero (ARM1176JZF-S, ARMv6 with VFPv2). Raspberry Pi OS rebuilds armhf for
    # ARMv6; Debian's armhf needs ARMv7, so Debian's armel (ARMv5TE, soft-float calls) is
    # the Debian userland that runs on this core.
    "armel": Arch(
        "armel", "arm-linux-gnueabi", "qemu-arm-static", "arm1176",
        "processor\t: {i}\nmodel name\t: ARMv6-compatible processor rev 7 (v6l)\n"
        "BogoMIPS\t: 697.95\nFeatures\t: half thumb fastmult vfp edsp java tls\n"
        "CPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x0\n"
        "CPU part\t: 0xb76\nCPU revision\t: 7\n", "armv6l",
    ),
}  # fmt: skip
SUITES = {
    "bookworm": Suite("bookworm", "Raspberry Pi OS 12", "3.11", 36),
    "trixie": Suite("trixie", "Raspberry Pi OS 13", "3.13", 41),
}
# Installed by maintainer scripts (update-alternatives), which nobody runs here.
ALTERNATIVES = ("blas/libblas.so.3", "lapack/liblapack.so.3")
READY = ".ready"
LAYOUT = 2  # what finish_root makes: a new number makes every cached root again
LACKING = re.compile(r"/([^/ ]+\.deb)\s+404")  # E: Failed to fetch URL/NAME.deb  404  Not Found
SIMULATED = re.compile(r"Inst (\S+) \((\S+) [^[]*\[(\S+)\]\)")  # Inst NAME (VERSION SUITES [ARCH])
NO_SECURITY = "no-security"
UPDATED = "updated"  # touched after each apt-get update that worked
DEFAULT_APT_HOURS = 24
DAY_S = 24 * 3600
WEEK_S = 7 * DAY_S
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# Where Debian's packages come from: EDGECNN_DEBIAN_MIRROR overrides the archive (e.g. a
# local mirror); security updates come from Debian's security archive either way.
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"


class UserlandError(RuntimeError):
    """A userland could not be made: the message says which step and why."""


class MirrorLacks(UserlandError):
    """The archive lists .debs it does not have (404): a point release not yet built for an
    architecture (trixie's armel, seen here), or a mirror in sync."""


def run(command: list[str], log: Log, **kwargs) -> subprocess.CompletedProcess:
    """Run a host command; its output goes to the log, a failure raises with its last lines."""
    proc = subprocess.run(command, capture_output=True, text=True, **kwargs)
    log(f"$ {' '.join(command)}\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise UserlandError(f"{Path(command[0]).name} failed ({proc.returncode}): {tail}")
    return proc


def debian_sources(suite: str, security: bool = True) -> str:
    """A sources.list of Debian `suite`: the release, its updates and its security fixes."""
    mirror = os.environ.get("EDGECNN_DEBIAN_MIRROR", DEFAULT_MIRROR).rstrip("/")
    signed = f"[signed-by={DEBIAN_KEYRING}]"
    lines = [f"deb {signed} {mirror} {suite} main", f"deb {signed} {mirror} {suite}-updates main"]
    if security:
        lines.append(f"deb {signed} {SECURITY_MIRROR} {suite}-security main")
    return "\n".join(lines) + "\n"


class Apt:
    """apt-get for one architecture with its own lists and archives under `state`: of Debian
    `suite` (its own sources list), or with this machine's sources when `suite` is None."""

    def __init__(self, state: Path, arch: str, log: Log, suite: str | None = None) -> None:
        self.state, self.arch, self.log, self.suite = state, arch, log, suite
        self.archives = state / "cache" / "archives"
        for folder in (state / "lists" / "partial", self.archives / "partial", state / "parts"):
            folder.mkdir(parents=True, exist_ok=True)
        (state / "status").touch()  # nothing installed: every dependency gets resolved
        if suite is not None:
            marker = state / NO_SECURITY
            recent = marker.exists() and time.time() - marker.stat().st_mtime < WEEK_S
            sources, wanted = state / "sources.list", debian_sources(suite, security=not recent)
            if not sources.exists() or sources.read_text() != wanted:
                sources.write_text(wanted)
                (state / UPDATED).unlink(missing_ok=True)  # other sources: fetch their lists
        self.security_dropped = suite is None or recent

    def without_security(self) -> None:
        """The release and its updates only, for a week. Debian's security archive lists fixes
        for some architectures (trixie's armel) whose .debs it does not have (404)."""
        self.log(f"{self.arch}: the security archive lacks .debs it lists: going without it")
        (self.state / NO_SECURITY).touch()
        self.security_dropped = True
        (self.state / "sources.list").write_text(debian_sources(self.suite, security=False))
        self.update(force=True)

    def options(self) -> list[str]:
        s = self.state
        sources = []
        if self.suite is not None:  # this release only, whatever this machine runs
            sources = ["-o", f"Dir::Etc::SourceList={s / 'sources.list'}",
                       "-o", f"Dir::Etc::SourceParts={s / 'parts'}"]  # fmt: skip
        return [
            "-o", f"Dir::State={s}", "-o", f"Dir::State::Lists={s / 'lists'}",
            "-o", f"Dir::State::status={s / 'status'}", "-o", f"Dir::Cache={s / 'cache'}",
            "-o", f"APT::Architecture={self.arch}", "-o", f"APT::Architectures={self.arch}",
            "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root",
            "-o", "Acquire::Languages=none", *sources, "-q",
        ]  # fmt: skip

    def update(self, force: bool = False) -> None:
        """Fresh lists, unless they were fetched less than EDGECNN_PI_APT_HOURS (default 24)
        ago: tried twice (a mirror in sync fails for a moment), then the last ones do
        (offline, for instance: their .debs are cached too)."""
        stamp = self.state / UPDATED
        hours = float(os.environ.get("EDGECNN_PI_APT_HOURS", DEFAULT_APT_HOURS))
        if not force and stamp.exists() and time.time() - stamp.stat().st_mtime < hours * 3600:
            return
        for attempt in range(2):
            try:
                run(["apt-get", *self.options(), "update"], self.log)
                stamp.touch()
                return
            except UserlandError as exc:
                failure = exc
                time.sleep(5 * (attempt + 1))
        if not any((self.state / "lists").glob("*_Packages*")):
            raise failure
        self.log(f"apt-get update failed, using the lists it has: {failure}")

    def resolve(self, packages: tuple[str, ...]) -> list[tuple[str, str, str]]:
        """(name, version, arch) of every package needed, dependencies included; kept in
        resolved.json for the same lists and packages (apt takes seconds to resolve)."""
        lists = sorted((self.state / "lists").glob("*_Packages*"))
        facts = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in lists]
        key = hashlib.sha256(repr((packages, facts)).encode()).hexdigest()
        kept = self.state / "resolved.json"
        with contextlib.suppress(OSError, ValueError):
            saved = json.loads(kept.read_text())
            if saved["key"] == key:
                return [tuple(package) for package in saved["resolved"]]
        proc = run(
            ["apt-get", *self.options(), "install", "-s", "--no-install-recommends", *packages],
            self.log,
        )
        resolved = [
            match.groups() for match in map(SIMULATED.match, proc.stdout.splitlines()) if match
        ]
        if not resolved:
            raise UserlandError(f"apt resolved nothing for {' '.join(packages)} ({self.arch})")
        kept.write_text(json.dumps({"key": key, "resolved": resolved}))
        return resolved

    def download(self, packages: tuple[str, ...], debs: list[Path]) -> None:
        """Download `packages`; `debs` are the files expected. An archive found lacking some
        of them is believed for a day (lacks.json) when the same files are asked for again."""
        wanted = sorted(deb.name for deb in debs if not deb.exists())
        lacks = self.state / "lacks.json"
        with contextlib.suppress(OSError, ValueError, KeyError):
            seen = json.loads(lacks.read_text())
            if seen["wanted"] == wanted and time.time() - lacks.stat().st_mtime < DAY_S:
                raise MirrorLacks(seen["message"])
        command = ["apt-get", *self.options(), "install", "-d", "-y", "--no-install-recommends",
                   *packages]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True)
        said = proc.stdout + proc.stderr
        self.log(f"$ {' '.join(command)}\n{said}")
        if proc.returncode == 0:
            return
        lacking = sorted({unquote(deb).split("_")[0] for deb in LACKING.findall(said)})
        if lacking:
            message = (
                f"the {self.suite or 'host'} {self.arch} archive lists .debs it does not have "
                f"(404): {', '.join(lacking[:6])}{' ...' if len(lacking) > 6 else ''}"
            )
            lacks.write_text(json.dumps({"wanted": wanted, "message": message}))
            raise MirrorLacks(message)
        tail = " | ".join(said.strip().splitlines()[-3:])
        raise UserlandError(f"apt-get failed ({proc.returncode}): {tail}")

    def deb_path(self, name: str, version: str, arch: str) -> Path:
        return self.archives / f"{name}_{version.replace(':', '%3a')}_{arch}.deb"


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def finish_root(root: Path, arch: Arch) -> None:
    """What dpkg's maintainer scripts and the kernel would have provided."""
    # Merged /usr (trixie): packages ship /usr/lib only, and base-files, which nobody asks
    # for here, makes /lib -> usr/lib, where the programs look for their loader.
    for folder in ("bin", "sbin", "lib"):
        if not (root / folder).exists() and (root / "usr" / folder).is_dir():
            (root / folder).symlink_to(f"usr/{folder}")
    libs = root / "usr" / "lib" / arch.triplet
    for target in ALTERNATIVES:
        if (libs / target).exists():
            (libs / Path(target).name).symlink_to(target)
    # qemu before 8.2 shows the host's x86 /proc/cpuinfo to the guest, and the runtimes'
    # CPU detection (pytorch/cpuinfo) crashes on it: show what a Pi shows instead.
    (root / "proc").mkdir(exist_ok=True)
    cores = "\n".join(arch.cpuinfo.format(i=i) for i in range(cpu_count()))
    (root / "proc" / "cpuinfo").write_text(cores)


def userland_name(suite: str, arch: str) -> str:
    """The name of a release's userland for one architecture: trixie-arm64."""
    return f"{suite}-{arch}"


def build_root(
    cache: Path, suite: str, arch_name: str, packages: tuple[str, ...], log: Log
) -> Path:
    """The unpacked root of `packages` of Debian `suite` for `arch_name`, made or taken from
    the cache."""
    arch, name = ARCHES[arch_name], userland_name(suite, arch_name)
    apt = Apt(cache / "apt" / name, arch.debian, log, suite=suite)
    apt.update()
    resolved = apt.resolve(packages)
    debs = [apt.deb_path(*package) for package in resolved]
    if not all(deb.exists() for deb in debs):
        try:
            apt.download(packages, debs)
        except MirrorLacks:
            if apt.security_dropped:
                raise
            apt.without_security()
            resolved = apt.resolve(packages)
            debs = [apt.deb_path(*package) for package in resolved]
            apt.download(packages, debs)
    recipe = (sorted(resolved), ALTERNATIVES, arch, cpu_count(), LAYOUT)
    key = hashlib.sha256(repr(recipe).encode()).hexdigest()[:16]
    root = cache / "roots" / f"{name}-{key}"
    if (root / READY).exists():
        return root
    missing = [deb.name for deb in debs if not deb.exists()]
    if missing:
        raise UserlandError(f"apt-get did not download {', '.join(missing[:3])}")
    root.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    for deb in debs:
        run(["dpkg-deb", "-x", str(deb), str(building)], lambda _: None)
    finish_root(building, arch)
    (building / READY).touch()
    shutil.rmtree(root, ignore_errors=True)
    building.rename(root)
    for old in root.parent.glob(f"{name}-*"):  # earlier package versions
        if old != root:
            shutil.rmtree(old, ignore_errors=True)
    for deb in apt.archives.glob("*.deb"):
        if deb not in debs:
            deb.unlink()
    log(f"{name}: {len(debs)} packages unpacked into {root}")
    return root


def host_arch() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def qemu_binaries(cache: Path, log: Log) -> Path:
    """The folder holding qemu-aarch64-static and qemu-arm-static, from Debian's package."""
    arch = host_arch()
    apt = Apt(cache / "apt" / f"host-{arch}", arch, log)
    apt.update()
    resolved = apt.resolve(("qemu-user-static",))
    [(name, version, deb_arch)] = [p for p in resolved if p[0] == "qemu-user-static"]
    folder = cache / "qemu" / version.replace(":", "_")
    wanted = sorted({f"./usr/bin/{a.qemu}" for a in ARCHES.values()})
    if all((folder / w).exists() for w in wanted):
        return folder / "usr" / "bin"
    deb = apt.deb_path(name, version, deb_arch)
    if not deb.exists():
        apt.download(("qemu-user-static",), [deb])
    folder.mkdir(parents=True, exist_ok=True)
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    run(["tar", "-x", "-C", str(folder), *wanted], log, stdin=tar.stdout)
    tar.wait()
    for old in folder.parent.iterdir():
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    return folder / "usr" / "bin"


@dataclass(frozen=True)
class Userland:
    """A ready root of one Debian release and the qemu that runs its programs."""

    suite: Suite
    arch: Arch
    root: Path
    qemu: Path
    note: str | None = None  # why it is not of the release asked for (a profile's fallback)

    @property
    def name(self) -> str:
        return userland_name(self.suite.name, self.arch.debian)

    def command(self, program: str | Path, *args: str) -> list[str]:
        """Run an ARM program (e.g. a venv's python) with the root's libraries."""
        return [str(self.qemu), "-L", str(self.root), str(program), *args]

    def python(self, *args: str) -> list[str]:
        return self.command(self.root / "usr" / "bin" / f"python{self.suite.python}", *args)

    def env(self, cpu: str | None = None) -> dict[str, str | None]:
        """QEMU_CPU: the Pi's core (or `cpu`); "default" leaves qemu's own CPU model (None
        removes the variable)."""
        cpu = cpu or self.arch.cpu
        return {"QEMU_CPU": None if cpu == "default" else cpu}

    def pip_wheel(self) -> Path:
        """Debian's pip wheel, the one `python3 -m venv` (ensurepip) installs on the Pi."""
        wheels = sorted((self.root / "usr" / "share" / "python-wheels").glob("pip-*.whl"))
        if not wheels:
            raise UserlandError(f"no pip wheel in {self.root}: is python3-venv in the packages?")
        return wheels[-1]

    @property
    def system_site(self) -> Path:
        return self.root / "usr" / "lib" / "python3" / "dist-packages"
