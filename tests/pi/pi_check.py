"""`make pi-check`: edgecnn on Raspberry Pi OS, in ARM userlands under qemu-user.

    .venv/bin/python tests/pi/pi_check.py [--cache DIR] [--model model.tflite --video items.mp4]

1. On this machine: build the wheel from this checkout, train and convert the tiny model,
   make the demo video and classify it (the x86 labels to compare with). Meanwhile, make
   (or take from the cache) Debian bookworm userlands for arm64 and armhf (userland.py).
2. For each profile (profiles.py), as the README tells a Pi user: the venv, the pip command
   (Debian's own pip, run by the ARM Python, against PyPI), then `edgecnn verify` on 500 test
   images, `edgecnn run` on the video, `edgecnn bench`, each through probe.py so that what
   they imported is known.
3. Print one JSON line; exit 1 when any acceptance value fails (listed on stderr).

Emulation details: `python3 -m venv` would run ensurepip in a child process, which qemu-user
cannot start without binfmt_misc, so the venv is made --without-pip and pip runs from the
same wheel ensurepip installs (Debian's python3-pip-whl); `--no-compile` only skips compiling
every .py under emulation.

Downloads are cached under $EDGECNN_CACHE (default ~/.cache/edgecnn)/pi: the .debs and the
unpacked userlands (userland.py), and the wheels pip installed, fetched again by this
machine's pip into wheels/ARCH and offered with --find-links (pip takes a local file before
the index's copy of the same version; its own HTTP cache may be off, as here). The work
folder is removed on success (--keep keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from profiles import PROFILES, Profile, acceptance_failures, root_packages
from userland import ARCHES, Userland, UserlandError, build_root, qemu_binaries

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).resolve().with_name("probe.py")
STEP_TIMEOUT_S = 900
VERIFY_IMAGES = 500
BENCH_FRAMES = 60
TINY = ("--preset", "tiny", "--seed", "1")


class StepFailed(RuntimeError):
    """A step of the check failed; the message names it and its log."""


def default_cache() -> Path:
    base = os.environ.get("EDGECNN_CACHE")
    if base:
        return Path(base).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgecnn"


class Work:
    """The run's folder: logs, venvs, outputs; progress lines on stderr."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.logs = folder / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.start = time.monotonic()
        self.lock = threading.Lock()

    def say(self, message: str) -> None:
        with self.lock:
            print(f"pi-check: [{time.monotonic() - self.start:5.0f} s] {message}",
                  file=sys.stderr, flush=True)  # fmt: skip

    def logger(self, name: str):
        path = self.logs / f"{name}.log"

        def log(text: str) -> None:
            with path.open("a", encoding="utf-8") as file:
                file.write(text.rstrip("\n") + "\n")

        return log

    def run(
        self,
        name: str,
        command: list[str],
        env: dict[str, str] | None = None,
        stdout: Path | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run one step; stderr (and stdout unless kept) goes to logs/NAME.log."""
        log = self.logs / f"{name}.log"
        with log.open("a", encoding="utf-8") as err:
            err.write(f"$ {' '.join(command)}\n")
            err.flush()
            out = stdout.open("w", encoding="utf-8") if stdout else err
            try:
                proc = subprocess.run(
                    command, stdout=out, stderr=err, text=True, timeout=STEP_TIMEOUT_S,
                    env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                raise StepFailed(f"{name} took over {STEP_TIMEOUT_S} s (log: {log})") from None
            finally:
                if stdout:
                    out.close()
        if check and proc.returncode != 0:
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-4:])
            raise StepFailed(f"{name} exited {proc.returncode} (log: {log}): {tail}")
        return proc


def source_copy(folder: Path) -> Path:
    """This checkout's files as git sees them (uncommitted changes included, ignored files
    such as a stale build/ left out), so the wheel holds exactly what is here."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
    )
    if listed.returncode != 0:
        return REPO
    for name in filter(None, listed.stdout.split("\0")):
        source = REPO / name
        if source.is_file():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return folder


def prepare_x86(work: Work, model: Path | None, video: Path | None) -> dict[str, Path]:
    """The wheel, and the tiny model, the video and its x86 labels made on this machine."""
    out = work.folder / "x86"
    out.mkdir()
    edgecnn = [sys.executable, "-m", "edgecnn.cli"]
    tree = source_copy(out / "src")
    work.run("wheel", [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                       "-w", str(out / "dist"), str(tree)])  # fmt: skip
    [wheel] = (out / "dist").glob("edgecnn-*.whl")
    work.say(f"built {wheel.name}")
    if model is None:
        work.run("train", [*edgecnn, "train", *TINY, "--out", str(out / "model")])
        model = out / "model.tflite"
        work.run("convert", [*edgecnn, "convert", str(out / "model" / "model.keras"),
                             "--out", str(model), "--eval-samples", "1000"])  # fmt: skip
        work.say("trained and converted the tiny model")
    if video is None:
        video = out / "items.mp4"
        work.run("video", [sys.executable, "-m", "edgecnn.demo.synthvideo", "--out",
                           str(video), "--style", "light-on-dark", "--items", "60"])  # fmt: skip
    labels = out / "labels.jsonl"
    work.run("x86-run", [*edgecnn, "run", "--model", str(model), "--source", str(video),
                         "--json", "--no-display"], stdout=labels)  # fmt: skip
    work.say(f"x86: {len(top_labels(labels))} frames classified")
    return {"wheel": wheel, "model": Path(model).resolve(), "video": Path(video).resolve(),
            "labels": labels}  # fmt: skip


def top_labels(jsonl: Path) -> dict[int, str]:
    """Frame index -> top-1 label of `edgecnn run --json` output (before any threshold)."""
    labels = {}
    for line in jsonl.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            labels[record["frame"]] = record["top"][0]["label"]
    return labels


def label_agreement(ours: Path, x86: Path) -> tuple[float, int]:
    reference, labels = top_labels(x86), top_labels(ours)
    same = sum(labels.get(frame) == label for frame, label in reference.items())
    return round(same / max(len(reference), 1), 4), len(labels)


def within(path: str | None, folder: Path) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(folder.resolve())


class ProfileCheck:
    """One profile: install as the README says, then run the edgecnn commands it checks."""

    def __init__(self, profile: Profile, land: Userland, x86: dict, work: Work, cache: Path):
        self.profile, self.land, self.x86, self.work = profile, land, x86, work
        self.venv = work.folder / profile.name / "venv"
        self.out = self.venv.parent
        self.wheelhouse = cache / "wheels" / land.arch.machine
        self.wheelhouse.mkdir(parents=True, exist_ok=True)
        self.env = {**land.env(), "PIP_CACHE_DIR": str(cache / "pip"), "EDGECNN_OFFLINE": "1",
                    "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_PROGRESS_BAR": "off"}  # fmt: skip
        self.result: dict = {"installed": False, "step_seconds": {}}
        self.wheels: set[Path] = set()  # the cached wheels this profile installed

    def step(self, what: str) -> str:
        return f"{self.profile.name}-{what}"

    def timed(self, what: str, action) -> None:
        start = time.monotonic()
        try:
            action()
        finally:
            self.result["step_seconds"][what] = round(time.monotonic() - start)

    def install(self) -> None:
        p, land = self.profile, self.land
        self.work.run(self.step("venv"), land.python(
            "-m", "venv", "--without-pip",
            *(["--system-site-packages"] if p.system_site_packages else []), str(self.venv),
        ), env=self.env)  # fmt: skip
        pin = []
        if p.system_site_packages:  # "numpy==$(python3 -c 'import numpy; print(...)')"
            version = self.out / "system-numpy.txt"
            self.work.run(self.step("numpy-version"), land.python(
                "-c", "import numpy; print(numpy.__version__)"), env=self.env, stdout=version)  # fmt: skip
            pin = [f"numpy=={version.read_text().strip()}"]
            self.result["system_numpy"] = version.read_text().strip()
        start = time.monotonic()
        self.work.run(self.step("pip"), land.command(
            self.venv / "bin" / "python", str(land.pip_wheel() / "pip"), "install",
            "--no-compile", "--find-links", str(self.wheelhouse),
            p.requirement(str(self.x86["wheel"])), *pin,
        ), env=self.env)  # fmt: skip
        self.result["installed"] = True
        self.work.say(f"{p.name}: installed in {time.monotonic() - start:.0f} s")
        self.keep_wheels()

    def installed(self) -> list[tuple[str, str]]:
        """(name, version) of what pip put into the venv, edgecnn aside."""
        found = []
        for info in (self.venv / "lib").glob("python3*/site-packages/*.dist-info"):
            name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
            if wheel_name(name) != "edgecnn":
                found.append((name, version))
        return sorted(found)

    def keep_wheels(self) -> None:
        """Fetch the wheels pip just installed into the wheelhouse, for the next run."""
        wanted = {(wheel_name(n), v): f"{n}=={v}" for n, v in self.installed()}
        missing = [req for key, req in wanted.items() if not cached_wheels(self.wheelhouse, *key)]
        if missing:
            platforms = [f"--platform={tag}" for tag in self.land.arch.wheel_platforms()]
            fetched = Path(tempfile.mkdtemp(dir=self.out))
            pip_download = [sys.executable, "-m", "pip", "download", "--no-deps", "-q"]
            pip_download += ["--only-binary=:all:", "--python-version=3.11", "--abi=cp311"]
            pip_download += ["--implementation=cp", *platforms, "-d", str(fetched)]
            # check=False: a wheel not kept only costs the next run its download
            self.work.run(self.step("wheelhouse"), [*pip_download, *missing], check=False)
            for wheel in fetched.glob("*.whl"):  # whole files only: another pip may be reading
                shutil.move(wheel, self.wheelhouse / f".{wheel.name}")
                os.replace(self.wheelhouse / f".{wheel.name}", self.wheelhouse / wheel.name)
        for key in wanted:
            self.wheels.update(cached_wheels(self.wheelhouse, *key))

    def edgecnn(self, what: str, *args: str, stdout: Path | None = None) -> dict:
        """One edgecnn command through probe.py; returns what it imported and its exit code."""
        facts = self.out / f"{what}.facts.json"
        command = self.land.command(self.venv / "bin" / "python", str(PROBE), str(facts), *args)
        proc = self.work.run(self.step(what), command, env=self.env, stdout=stdout, check=False)
        if not facts.exists():
            raise StepFailed(f"{self.step(what)} crashed ({proc.returncode}); see its log")
        found = json.loads(facts.read_text())
        self.result["tensorflow_imported"] = (
            self.result.get("tensorflow_imported", False) or found["tensorflow_imported"]
        )
        self.result["tensorflow_installed"] = found["tensorflow_installed"]
        self.result["runtimes"] = found["runtimes"] or self.result.get("runtimes")
        return found

    def verify(self) -> None:
        report = self.out / "verify.json"
        model = str(self.x86["model"])
        facts = self.edgecnn("verify", "verify", model, "--limit", str(VERIFY_IMAGES), "--json",
                             stdout=report)  # fmt: skip
        result = json.loads(report.read_text()) if report.stat().st_size else {}
        self.result["bit_exact"] = facts["exit_code"] == 0 and result.get("bit_exact") is True
        self.result["verify_images"] = result.get("samples", 0)
        self.result["fc_rounding"] = result.get("fc_rounding")

    def run(self) -> None:
        labels = self.out / "labels.jsonl"
        facts = self.edgecnn("run", "run", "--model", str(self.x86["model"]), "--source",
                             str(self.x86["video"]), "--json", "--no-display", stdout=labels)  # fmt: skip
        agreement, frames = label_agreement(labels, self.x86["labels"])
        self.result.update(label_agreement=agreement, frames=frames)
        self.result["run_ok"] = facts["exit_code"] == 0 and frames == len(
            top_labels(self.x86["labels"])
        )
        numpy, cv2 = facts["numpy"] or {}, facts["cv2"] or {}
        self.result["numpy"], self.result["opencv"] = numpy.get("version"), cv2.get("version")
        if self.profile.system_site_packages:
            site = self.land.system_site
            self.result["numpy_kept"] = (
                within(numpy.get("file"), site)
                and numpy.get("version") == self.result.get("system_numpy")
                and not any((self.venv / "lib").glob("python3*/site-packages/numpy"))
            )
            self.result["system_cv2_imports"] = within(cv2.get("file"), site)

    def bench(self) -> None:
        table = self.out / "bench.txt"
        facts = self.edgecnn("bench", "bench", "--model", str(self.x86["model"]), "--frames",
                             str(BENCH_FRAMES), stdout=table)  # fmt: skip
        text = table.read_text(encoding="utf-8")
        self.result["bench_ok"] = facts["exit_code"] == 0 and "bare invoke" in text
        # Not told by us (no EDGECNN_EMULATED): bench must see the emulator for itself.
        self.result["bench_says_emulated"] = text.startswith("emulated (")

    def __call__(self) -> dict:
        start = time.monotonic()
        try:
            self.timed("install", self.install)
            for check in self.profile.checks:
                self.timed(check, getattr(self, check))
        except StepFailed as exc:
            self.result["error"] = str(exc)
            self.work.say(f"{self.profile.name}: {exc}")
        self.result["seconds"] = round(time.monotonic() - start)
        self.work.say(f"{self.profile.name}: done in {self.result['seconds']} s")
        return self.result


def wheel_name(name: str) -> str:
    """A distribution's name as wheel file names spell it."""
    return re.sub(r"[-_.]+", "_", name).lower()


def cached_wheels(wheelhouse: Path, name: str, version: str) -> list[Path]:
    return [
        wheel
        for wheel in wheelhouse.glob("*.whl")
        if wheel_name(wheel.name.split("-")[0]) == name and wheel.name.split("-")[1] == version
    ]


def prune_wheelhouses(cache: Path, checks: list[ProfileCheck]) -> None:
    """Drop cached wheels no profile installed this time (older versions)."""
    used = set().union(*(check.wheels for check in checks))
    if all(check.result["installed"] for check in checks):
        for wheel in (cache / "wheels").glob("*/*.whl"):
            if wheel not in used:
                wheel.unlink()


def folder_mb(folder: Path, pattern: str = "*") -> float:
    size = sum(p.stat().st_size for p in folder.rglob(pattern) if p.is_file())
    return round(size / 2**20, 1)


def cache_sizes(cache: Path) -> dict[str, float]:
    """What the cache holds, i.e. what an empty cache downloads."""
    sizes = {f"debs_{arch}": folder_mb(cache / "apt" / arch, "*.deb") for arch in ARCHES}
    sizes["debs_qemu"] = folder_mb(cache / "apt", "qemu-user-static_*.deb")
    sizes["apt_lists"] = folder_mb(cache / "apt", "*_Packages*")
    sizes |= {f"wheels_{w.name}": folder_mb(w) for w in sorted((cache / "wheels").glob("*"))}
    return sizes


def make_userlands(pool: ThreadPoolExecutor, cache: Path, work: Work) -> dict[str, Future]:
    qemu = pool.submit(qemu_binaries, cache, work.logger("qemu"))

    def userland(arch: str) -> Userland:
        start = time.monotonic()
        root = build_root(cache, arch, root_packages(arch), work.logger(f"userland-{arch}"))
        land = Userland(ARCHES[arch], root, qemu.result() / ARCHES[arch].qemu)
        work.say(f"{arch} userland ready in {time.monotonic() - start:.0f} s: {root}")
        return land

    return {arch: pool.submit(userland, arch) for arch in sorted({p.arch for p in PROFILES})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="default: $EDGECNN_CACHE/pi")
    parser.add_argument("--model", type=Path, help="an int8 .tflite made earlier in this run")
    parser.add_argument("--video", type=Path, help="the demo video made earlier in this run")
    parser.add_argument("--jobs", type=int, default=2, help="profiles checked at once")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    cache = (args.cache or default_cache() / "pi").resolve()
    work = Work(Path(tempfile.mkdtemp(prefix="edgecnn-pi-check.")))
    work.say(f"cache {cache}, work {work.folder}")
    results: dict = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        x86 = pool.submit(prepare_x86, work, args.model, args.video)
        lands = make_userlands(pool, cache, work)
        try:
            reference = x86.result()
            ready = {arch: future.result() for arch, future in lands.items()}
        except (StepFailed, UserlandError) as exc:
            work.say(f"cannot start: {exc}")
            print(json.dumps({"error": str(exc), "work": str(work.folder)}), flush=True)
            return 1
    checks = [ProfileCheck(p, ready[p.arch], reference, work, cache) for p in PROFILES]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {check.profile.name: pool.submit(check) for check in checks}
        results = {name: future.result() for name, future in futures.items()}
    prune_wheelhouses(cache, checks)
    results["seconds"] = round(time.monotonic() - work.start)
    results["cache_mb"] = cache_sizes(cache)
    failures = acceptance_failures(results)
    results["passed"] = not failures
    print(json.dumps(results), flush=True)
    for failure in failures:
        print(f"pi-check: FAILED: {failure}", file=sys.stderr, flush=True)
    if failures or args.keep:
        work.say(f"logs and outputs kept in {work.folder}")
    else:
        shutil.rmtree(work.folder, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
