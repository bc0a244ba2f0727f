"""`make pi-check`: edgecnn on Raspberry Pi OS 12 and 13, in ARM userlands under qemu-user.

    .venv/bin/python tests/pi/pi_check.py [--cache DIR] [--model model.tflite --video items.mp4]
        [--profiles trixie-arm64,trixie-armhf] [--cpu default] [--keep]

1. On this machine: build the wheel from this checkout, train and convert the tiny model,
   make the demo video and classify it (the x86 labels to compare with), and save the
   outputs of the first 500 test images (proved equal to TFLite's reference kernels by
   verify here). Meanwhile, make (or take from the cache) the Debian userlands the profiles
   need: bookworm (Raspberry Pi OS 12) and trixie (Raspberry Pi OS 13), arm64, armhf and
   armel (userland.py).
2. For each profile (profiles.py), as docs/raspberry-pi.md tells a Pi user: the venv, the pip
   command (Debian's own pip, run by the ARM Python, against PyPI), then the edgecnn
   commands it checks (verify, run, bench, capture, doctor), each through probe.py so that
   what they imported is known. `--cpu default` runs them under qemu's own CPU model instead
   of the Pi's core (LiteRT's XNNPACK computes garbage there: what does edgecnn say?).
3. Print one JSON line (per profile: the fields below, the backend, the emulated frame rate,
   the seconds of each step) and each profile's seconds on stderr; exit 1 when any
   acceptance value fails (listed on stderr).

Emulation details: `python3 -m venv` would run ensurepip in a child process, which qemu-user
cannot start without binfmt_misc, so the venv is made --without-pip and pip runs from the
same wheel ensurepip installs (Debian's python3-pip-whl); `--no-compile` only skips compiling
every .py under emulation.

Downloads are cached under $EDGECNN_CACHE (default ~/.cache/edgecnn)/pi: the .debs and the
unpacked userlands (userland.py), and the wheels pip installed, fetched again by this
machine's pip into wheels/USERLAND and offered with --find-links (pip takes a local file
before the index's copy of the same version; its own HTTP cache may be off, as here). The
work folder is removed on success (--keep keeps it).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from profiles import (
    BY_NAME,
    PROFILES,
    Profile,
    acceptance_failures,
    fallback_suite,
    root_packages,
    userlands,
)
from userland import (
    ARCHES,
    SUITES,
    MirrorLacks,
    Userland,
    UserlandError,
    build_root,
    qemu_binaries,
    userland_name,
)

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).resolve().with_name("probe.py")
INSTALL_EXTRA = REPO / "device" / "install_extra.py"
OS_PYTHON = (  # the OS's NumPy version (or -), then device/install_extra.py's choice
    "import runpy, sys\n"
    "try:\n    import numpy; print(numpy.__version__)\n"
    "except ImportError:\n    print('-')\n"
    "runpy.run_path(sys.argv[1], run_name='__main__')\n"
)
STEP_TIMEOUT_S = 900
VERIFY_IMAGES = 500
BENCH_FRAMES = 60
CAPTURE_IMAGES = 5
DEFAULT_CPU_FRAMES = 24
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
        self.cpu_seconds: dict[str, float] = {}  # per step name, added up

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
        env: dict[str, str | None] | None = None,
        stdout: Path | None = None,
        stderr: Path | None = None,
        check: bool = True,
    ) -> Step:
        """Run one step; stderr (and stdout unless kept) goes to logs/NAME.log, or to the
        files given. `env` adds variables to ours; None as a value removes one."""
        log = self.logs / f"{name}.log"
        merged = {**os.environ, **(env or {})}
        environment = {key: value for key, value in merged.items() if value is not None}
        with log.open("a", encoding="utf-8") as err:
            err.write(f"$ {' '.join(command)}\n")
            err.flush()
            out = stdout.open("w", encoding="utf-8") if stdout else err
            said = stderr.open("w", encoding="utf-8") if stderr else err
            try:
                step = run_timed(command, out, said, environment)
            finally:
                for file in (out, said):
                    if file is not err:
                        file.close()
            if stderr:
                err.write(stderr.read_text(encoding="utf-8", errors="replace"))
        with self.lock:
            self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + step.cpu_seconds
        if step.timed_out:
            raise StepFailed(f"{name} took over {STEP_TIMEOUT_S} s (log: {log})")
        if check and step.returncode != 0:
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-4:])
            raise StepFailed(f"{name} exited {step.returncode} (log: {log}): {tail}")
        return step


@dataclass(frozen=True)
class Step:
    returncode: int
    cpu_seconds: float  # user + system of the process: what it costs, whatever the load
    timed_out: bool = False


def run_timed(command: list[str], stdout, stderr, env: dict[str, str]) -> Step:
    """Run a command to its end (killed after STEP_TIMEOUT_S) and read its CPU time."""
    proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env,
                            stdin=subprocess.DEVNULL)  # fmt: skip
    fired = threading.Event()

    def kill() -> None:
        fired.set()
        proc.kill()

    timer = threading.Timer(STEP_TIMEOUT_S, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
    return Step(proc.returncode, round(usage.ru_utime + usage.ru_stime, 1), fired.is_set())


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
    """The wheel, and the tiny model, the video, its x86 labels and the outputs of the first
    VERIFY_IMAGES test images, made on this machine."""
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
    # verify passes here only when NumPy equals TFLite's reference kernels on every tensor:
    # these outputs are the reference kernels' own, for ARM engines with no TFLite beside them.
    outputs = out / "outputs.npz"
    work.run("x86-verify", [*edgecnn, "verify", str(model), "--limit", str(VERIFY_IMAGES),
                            "--json", "--save-outputs", str(outputs)])  # fmt: skip
    work.say(f"x86: {len(top_labels(labels))} frames classified, {VERIFY_IMAGES} outputs kept")
    return {"wheel": wheel, "model": Path(model).resolve(), "video": Path(video).resolve(),
            "labels": labels, "outputs": outputs}  # fmt: skip


def run_records(jsonl: Path) -> list[dict]:
    """The records of `edgecnn run --json` output."""
    lines = jsonl.read_text(encoding="utf-8").splitlines() if jsonl.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def top_labels(jsonl: Path) -> dict[int, str]:
    """Frame index -> top-1 label of `edgecnn run --json` output (before any threshold)."""
    return {record["frame"]: record["top"][0]["label"] for record in run_records(jsonl)}


def label_agreement(ours: Path, x86: Path, frames: int | None = None) -> tuple[float, int]:
    """(share of the x86 frames, the first `frames` of them, given the same top-1 label;
    frames classified here)."""
    reference, labels = top_labels(x86), top_labels(ours)
    if frames is not None:
        reference = {frame: label for frame, label in reference.items() if frame < frames}
    same = sum(labels.get(frame) == label for frame, label in reference.items())
    return round(same / max(len(reference), 1), 4), len(labels)


def frame_rate(jsonl: Path) -> float | None:
    """Frames per second of the whole loop (capture to postprocess), median frame."""
    totals = [record["latency_ms"]["total"] for record in run_records(jsonl)]
    return round(1000.0 / float(np.median(totals)), 2) if totals else None


def same_outputs(ours: Path, theirs: Path) -> bool:
    """Whether two --save-outputs archives hold the same arrays, bit for bit."""
    if not (ours.exists() and theirs.exists()):
        return False
    with np.load(ours) as a, np.load(theirs) as b:
        return a.files == b.files and all(
            a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]) for name in a.files
        )


def within(path: str | None, folder: Path) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(folder.resolve())


def backend_of(facts: dict) -> str | None:
    """The backend a command ran on, from the modules it imported."""
    runtimes = facts.get("runtimes") or []
    if "ai_edge_litert" in runtimes:
        return "litert"
    if "tflite_runtime" in runtimes:
        return "tflite-runtime"
    if facts.get("tensorflow_imported"):
        return "tensorflow"
    return "reference" if facts.get("reference_imported") else None


class ProfileCheck:
    """One profile: install as the docs say, then run the edgecnn commands it checks."""

    def __init__(
        self, profile: Profile, land: Userland, x86: dict, work: Work, cache: Path, cpu: str | None
    ) -> None:
        self.profile, self.land, self.x86, self.work = profile, land, x86, work
        self.venv = work.folder / profile.name / "venv"
        self.out = self.venv.parent
        self.wheelhouse = cache / "wheels" / land.name
        self.wheelhouse.mkdir(parents=True, exist_ok=True)
        self.cpu = cpu or profile.cpu or land.arch.cpu
        self.env = {**land.env(self.cpu), "PIP_CACHE_DIR": str(cache / "pip"),
                    "EDGECNN_OFFLINE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                    "PIP_PROGRESS_BAR": "off"}  # fmt: skip
        self.result: dict = {"os": land.suite.pi_os, "userland": land.name, "cpu": self.cpu,
                             "installed": False, "step_seconds": {},
                             "step_cpu_seconds": {}}  # fmt: skip
        if land.note:
            self.result["userland_note"] = land.note
        self.wheels: set[Path] = set()  # the cached wheels this profile installed

    def step(self, what: str) -> str:
        return f"{self.profile.name}-{what}"

    def cpu_seconds(self) -> float:
        """CPU seconds of this profile's processes so far (its steps run one after another)."""
        with self.work.lock:
            spent = self.work.cpu_seconds.items()
            return sum(cpu for step, cpu in spent if step.startswith(f"{self.profile.name}-"))

    def timed(self, what: str, action) -> None:
        start, cpu = time.monotonic(), self.cpu_seconds()
        try:
            action()
        finally:
            self.result["step_seconds"][what] = round(time.monotonic() - start)
            self.result["step_cpu_seconds"][what] = round(self.cpu_seconds() - cpu)

    def install(self) -> None:
        p, land = self.profile, self.land
        self.work.run(self.step("venv"), land.python(
            "-m", "venv", "--without-pip",
            *(["--system-site-packages"] if p.system_site_packages else []), str(self.venv),
        ), env=self.env)  # fmt: skip
        # The OS's python3 says its NumPy and what `make device-install` would choose here.
        said = self.out / "os-python.txt"
        self.work.run(self.step("os-python"), land.python("-c", OS_PYTHON, str(INSTALL_EXTRA)),
                      env=self.env, stdout=said)  # fmt: skip
        numpy, chosen = said.read_text().split()
        self.result["device_install_extra"] = chosen
        pin = []
        if p.system_site_packages:  # "numpy==$(python3 -c 'import numpy; print(...)')"
            pin = [f"numpy=={numpy}"]
            self.result["system_numpy"] = numpy
        start = time.monotonic()
        self.work.run(self.step("pip"), land.command(
            self.venv / "bin" / "python", str(land.pip_wheel() / "pip"), "install",
            "--no-compile", "--find-links", str(self.wheelhouse),
            p.requirement(str(self.x86["wheel"])), *pin,
        ), env=self.env)  # fmt: skip
        self.result["installed"] = True
        self.result["pip_installed"] = [f"{n}=={v}" for n, v in self.installed()]
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
        suite, arch = self.land.suite, self.land.arch
        wanted = {(wheel_name(n), v): f"{n}=={v}" for n, v in self.installed()}
        missing = [req for key, req in wanted.items() if not cached_wheels(self.wheelhouse, *key)]
        if missing:
            platforms = [f"--platform={tag}" for tag in suite.wheel_platforms(arch)]
            fetched = Path(tempfile.mkdtemp(dir=self.out))
            pip_download = [sys.executable, "-m", "pip", "download", "--no-deps", "-q"]
            pip_download += ["--only-binary=:all:", f"--python-version={suite.python}"]
            pip_download += [f"--abi={suite.abi}", "--implementation=cp", *platforms]
            # check=False: a wheel not kept only costs the next run its download
            self.work.run(self.step("wheelhouse"), [*pip_download, "-d", str(fetched), *missing],
                          check=False)  # fmt: skip
            for wheel in fetched.glob("*.whl"):  # whole files only: another pip may be reading
                shutil.move(wheel, self.wheelhouse / f".{wheel.name}")
                os.replace(self.wheelhouse / f".{wheel.name}", self.wheelhouse / wheel.name)
        for key in wanted:
            self.wheels.update(cached_wheels(self.wheelhouse, *key))

    def edgecnn(
        self, what: str, *args: str, stdout: Path | None = None, env: dict | None = None
    ) -> dict:
        """One edgecnn command through probe.py; returns what it imported, its exit code and
        what it said on stderr."""
        facts = self.out / f"{what}.facts.json"
        said = self.out / f"{what}.stderr.txt"
        command = self.land.command(self.venv / "bin" / "python", str(PROBE), str(facts), *args)
        proc = self.work.run(self.step(what), command, env=env or self.env, stdout=stdout,
                             stderr=said, check=False)  # fmt: skip
        if not facts.exists():
            raise StepFailed(f"{self.step(what)} crashed ({proc.returncode}); see its log")
        found = json.loads(facts.read_text())
        found["said"] = said.read_text(encoding="utf-8", errors="replace")
        self.result["tensorflow_imported"] = (
            self.result.get("tensorflow_imported", False) or found["tensorflow_imported"]
        )
        self.result["tensorflow_installed"] = found["tensorflow_installed"]
        self.result["runtimes"] = found["runtimes"] or self.result.get("runtimes")
        self.result["python"], self.result["machine"] = found["python"], found["machine"]
        return found

    def verify(self) -> None:
        report, outputs = self.out / "verify.json", self.out / "verify-outputs.npz"
        facts = self.edgecnn("verify", "verify", str(self.x86["model"]), "--limit",
                             str(VERIFY_IMAGES), "--json", "--save-outputs", str(outputs),
                             stdout=report)  # fmt: skip
        result = json.loads(report.read_text()) if report.stat().st_size else {}
        # Where no TFLite runtime exists verify runs the NumPy engine alone: its outputs are
        # then held against the reference kernels' outputs of the same images on x86.
        equal = same_outputs(outputs, self.x86["outputs"])
        checked_here = result.get("bit_exact") is True
        no_runtime = self.profile.backend == "reference" and result.get("bit_exact") is None
        self.result["bit_exact"] = (
            facts["exit_code"] == 0 and equal and (checked_here or no_runtime)
        )
        self.result["outputs_equal_x86_reference_kernels"] = equal
        self.result["verify_engines"] = result.get("engines")
        self.result["verify_images"] = result.get("samples", 0)
        self.result["fc_rounding"] = result.get("fc_rounding")

    def run(self) -> None:
        labels = self.out / "labels.jsonl"
        frames = ["--max-frames", str(self.profile.frames)] if self.profile.frames else []
        facts = self.edgecnn("run", "run", "--model", str(self.x86["model"]), "--source",
                             str(self.x86["video"]), "--json", "--no-display", *frames,
                             stdout=labels)  # fmt: skip
        agreement, classified = label_agreement(labels, self.x86["labels"], self.profile.frames)
        expected = len(top_labels(self.x86["labels"]))
        expected = min(expected, self.profile.frames or expected)
        self.result.update(label_agreement=agreement, frames=classified)
        self.result["run_ok"] = facts["exit_code"] == 0 and classified == expected
        self.result["backend"] = backend_of(facts)
        self.result["emulated_fps"] = frame_rate(labels)
        self.result["auto_says_reference"] = any(
            "no tflite runtime" in line.lower() and "reference" in line.lower()
            for line in facts["said"].splitlines()
        )
        self.result["run_said"] = first_lines(facts["said"])
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
        fps = re.search(r"frames, ([\d.]+) FPS", text)
        self.result["bench_emulated_fps"] = float(fps.group(1)) if fps else None

    def capture(self) -> None:
        dataset = self.out / "dataset"
        facts = self.edgecnn("capture", "capture", "--source", str(self.x86["video"]), "--out",
                             str(dataset), "--label", "shirt", "--every", "6", "--count",
                             str(CAPTURE_IMAGES), "--no-display")  # fmt: skip
        manifest = dataset / "manifest.jsonl"
        lines = manifest.read_text().splitlines() if manifest.exists() else []
        photos = [p for p in (dataset / "shirt").glob("*.png") if ".input." not in p.name]
        self.result["captured"] = len(photos)
        self.result["capture_ok"] = (
            facts["exit_code"] == 0 and len(lines) == len(photos) == CAPTURE_IMAGES
        )

    def doctor(self) -> None:
        """`edgecnn doctor --model M --json`; its table (doctor's own formatter, from the same
        rows) goes into the log, for people."""
        report = self.out / "doctor.json"
        facts = self.edgecnn("doctor", "doctor", "--model", str(self.x86["model"]), "--json",
                             stdout=report)  # fmt: skip
        found = json.loads(report.read_text()) if report.stat().st_size else {}
        summary = found.get("summary", {})
        table = doctor_table(found, self.x86["model"])
        (self.out / "doctor.txt").write_text(table + "\n", encoding="utf-8")
        self.work.logger(self.step("doctor"))(table)
        self.result["doctor"] = {
            "exit_code": facts["exit_code"],
            "auto_backend": summary.get("auto_backend"),
            "numpy_origin": summary.get("numpy_origin"),
            "opencv_origin": summary.get("opencv_origin"),
            "problems": summary.get("problems"),
        }
        origin = "os" if self.profile.system_site_packages else "venv"
        self.result["doctor_ok"] = (
            facts["exit_code"] == 0
            and summary.get("auto_backend") == self.profile.backend
            and summary.get("numpy_origin") == origin
            and summary.get("model_ok") is True
            and not facts["tensorflow_imported"]
        )

    def default_cpu(self) -> None:
        """The same venv under qemu's default CPU model instead of the Pi's core: LiteRT's
        XNNPACK computes garbage there (an emulation artefact that looks exactly like a broken
        runtime on a device). Recorded: what `run` and `doctor` say, and how many labels still
        agree. doctor's self-check (golden vectors through the runtime) must refuse it."""
        labels, report = self.out / "default-cpu.jsonl", self.out / "default-cpu-doctor.json"
        env = {**self.env, **self.land.env("default")}
        facts = self.edgecnn("default-cpu", "run", "--model", str(self.x86["model"]),
                             "--source", str(self.x86["video"]), "--json", "--no-display",
                             "--max-frames", str(DEFAULT_CPU_FRAMES), stdout=labels,
                             env=env)  # fmt: skip
        agreement, classified = label_agreement(labels, self.x86["labels"], DEFAULT_CPU_FRAMES)
        doctor = self.edgecnn("default-cpu-doctor", "doctor", "--model", str(self.x86["model"]),
                              "--json", stdout=report, env=env)  # fmt: skip
        found = json.loads(report.read_text()) if report.stat().st_size else {}
        check = next((r for r in found.get("checks", []) if r["check"] == "self-check"), {})
        self.result["default_cpu"] = {
            "exit_code": facts["exit_code"],
            "frames": classified,
            "label_agreement": agreement,
            "refused": facts["exit_code"] != 0 and classified == 0,
            "said": first_lines(facts["said"]),
            "doctor_exit_code": doctor["exit_code"],
            "doctor_self_check": check.get("fix") or check.get("found"),
            "doctor_refused": doctor["exit_code"] == 1 and check.get("status") == "fail",
        }

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
        self.result["cpu_seconds"] = round(self.cpu_seconds())
        steps = ", ".join(f"{k} {v}" for k, v in self.result["step_seconds"].items())
        self.work.say(
            f"{self.profile.name}: done in {self.result['seconds']} s, "
            f"{self.result['cpu_seconds']} CPU s ({steps})"
        )
        return self.result


def doctor_table(report: dict, model: Path) -> str:
    """The table `edgecnn doctor` prints, made from its --json rows."""
    from edgecnn.device.doctor import Findings, Request, Row, format_table

    if not report.get("checks"):
        return "(doctor printed no JSON)"
    findings = Findings([Row(**row) for row in report["checks"]], report.get("summary", {}))
    return format_table(findings, Request(model=model))


def first_lines(text: str, count: int = 3) -> list[str]:
    """What a command said, without blank lines: its first few lines."""
    return [line for line in text.splitlines() if line.strip()][:count]


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
    """Drop cached wheels that no profile installed this time (older versions), in the
    wheelhouses of the userlands checked."""
    used = set().union(*(check.wheels for check in checks))
    if all(check.result["installed"] for check in checks):
        for folder in {check.wheelhouse for check in checks}:
            for wheel in folder.glob("*.whl"):
                if wheel not in used:
                    wheel.unlink()


# What an earlier pi-check cached under names without the Debian release (before Pi OS 13):
# nothing reads them now, and the roots alone are about 3 GB.
EARLIER_LAYOUT = ("apt/arm64", "apt/armhf", "wheels/aarch64", "wheels/armv7l", "roots/arm64-*",
                  "roots/armhf-*")  # fmt: skip


def drop_earlier_layout(cache: Path) -> None:
    for pattern in EARLIER_LAYOUT:
        for folder in cache.glob(pattern):
            shutil.rmtree(folder, ignore_errors=True)


def folder_mb(folder: Path, pattern: str = "*") -> float:
    """MB of the regular files matching `pattern` under `folder`, symlinks not followed
    (a trixie root's /lib -> usr/lib would count usr/lib twice)."""
    size = 0
    for parent, _, files in os.walk(folder):
        for name in fnmatch.filter(files, pattern):
            info = os.lstat(os.path.join(parent, name))
            size += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return round(size / 2**20, 1)


def cache_sizes(cache: Path) -> dict[str, float]:
    """What the cache holds, i.e. what an empty cache downloads (and the unpacked roots)."""
    apt = sorted(folder for folder in (cache / "apt").glob("*") if folder.is_dir())
    sizes = {f"debs_{f.name}": folder_mb(f / "cache", "*.deb") for f in apt}
    sizes["apt_lists"] = folder_mb(cache / "apt", "*_Packages*")
    sizes |= {f"wheels_{w.name}": folder_mb(w) for w in sorted((cache / "wheels").glob("*"))}
    sizes["roots"] = folder_mb(cache / "roots")
    return sizes


def make_userlands(
    pool: ThreadPoolExecutor, cache: Path, work: Work, profiles: tuple[Profile, ...]
) -> dict[tuple[str, str], Future]:
    qemu = pool.submit(qemu_binaries, cache, work.logger("qemu"))

    def userland(suite: str, arch: str) -> Userland:
        start, name = time.monotonic(), userland_name(suite, arch)
        packages, note = root_packages(suite, arch), None
        try:
            root = build_root(cache, suite, arch, packages, work.logger(f"userland-{name}"))
        except MirrorLacks as exc:
            older = fallback_suite(suite, arch)
            if older is None:
                raise
            note = f"{exc}: {userland_name(older, arch)} instead"
            work.say(f"{name}: {note}")
            suite, name = older, userland_name(older, arch)
            root = build_root(cache, suite, arch, packages, work.logger(f"userland-{name}"))
        land = Userland(SUITES[suite], ARCHES[arch], root, qemu.result() / ARCHES[arch].qemu, note)
        work.say(f"{name} userland ready in {time.monotonic() - start:.0f} s: {root}")
        return land

    return {key: pool.submit(userland, *key) for key in userlands(profiles)}


def chosen_profiles(names: str | None) -> tuple[Profile, ...]:
    if not names:
        return PROFILES
    unknown = [name for name in names.split(",") if name not in BY_NAME]
    if unknown:
        raise SystemExit(f"pi-check: unknown profile {', '.join(unknown)}: {', '.join(BY_NAME)}")
    return tuple(BY_NAME[name] for name in names.split(","))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="default: $EDGECNN_CACHE/pi")
    parser.add_argument("--model", type=Path, help="an int8 .tflite made earlier in this run")
    parser.add_argument("--video", type=Path, help="the demo video made earlier in this run")
    parser.add_argument("--profiles", help=f"comma-separated (default all: {', '.join(BY_NAME)})")
    parser.add_argument("--cpu", help="QEMU_CPU for every profile ('default': qemu's own model)")
    parser.add_argument("--jobs", type=int, default=2, help="profiles checked at once")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    profiles = chosen_profiles(args.profiles)
    cache = (args.cache or default_cache() / "pi").resolve()
    work = Work(Path(tempfile.mkdtemp(prefix="edgecnn-pi-check.")))
    work.say(f"cache {cache}, work {work.folder}")
    results: dict = {}
    with ThreadPoolExecutor(max_workers=2 + len(userlands(profiles))) as pool:
        x86 = pool.submit(prepare_x86, work, args.model, args.video)
        lands = make_userlands(pool, cache, work, profiles)
        try:
            reference = x86.result()
            ready = {key: future.result() for key, future in lands.items()}
        except (StepFailed, UserlandError) as exc:
            work.say(f"cannot start: {exc}")
            print(json.dumps({"error": str(exc), "work": str(work.folder)}), flush=True)
            return 1
    prepared = round(time.monotonic() - work.start)
    checks = [
        ProfileCheck(p, ready[(p.suite, p.arch)], reference, work, cache, args.cpu)
        for p in profiles
    ]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {check.profile.name: pool.submit(check) for check in checks}
        results = {name: future.result() for name, future in futures.items()}
    prune_wheelhouses(cache, checks)
    drop_earlier_layout(cache)
    results["prepare_seconds"] = prepared
    results["seconds"] = round(time.monotonic() - work.start)
    results["cache_mb"] = cache_sizes(cache)
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    failures = acceptance_failures(results, profiles) if args.cpu is None else []
    results["passed"] = not failures
    print(json.dumps(results), flush=True)
    work.say(f"prepared (x86, userlands) in {prepared} s")
    for name in futures:
        work.say(f"{name}: {results[name]['seconds']} s")
    for failure in failures:
        print(f"pi-check: FAILED: {failure}", file=sys.stderr, flush=True)
    if failures or args.keep:
        work.say(f"logs and outputs kept in {work.folder}")
    else:
        shutil.rmtree(work.folder, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
