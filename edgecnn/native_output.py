"""Keep TensorFlow's and LiteRT's C++ notices off the user's terminal: the one place that does.

TensorFlow, absl and LiteRT write start-up notices from C++ straight to file descriptor 2
(past Python's sys.stderr), and the converter prints on descriptor 1, which belongs to a
command's report. Inside `quiet_native_output()` descriptor 2 is captured: known notices
are dropped and every other line is passed on, so real errors still show; with
`capture_stdout`, what is printed on descriptor 1 is library chatter and is dropped.
EDGECNN_DEBUG=1 shows everything, unfiltered (descriptor 1's output on stderr).

Wrap only short native calls (imports, conversion, interpreter construction): output
inside the block is held until it ends.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

NOTICES = (
    "WARNING: All log messages before absl::InitializeLog()",
    "oneDNN custom operations are on",
    "fully_quantize: ",
    "INFO: Created TensorFlow Lite XNNPACK delegate",
    "INFO: Initialized TensorFlow Lite runtime",
    "Estimated count of arithmetic ops",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
    "computation placer already registered",
    "could not open file to read NUMA node",
    "Could not find cuda drivers",
    "cuda_executor",
    "TF-TRT Warning",
)
ABSL_LINE_PREFIXES = ("I0000 ", "W0000 ")  # absl's pre-init log lines: "I0000 00:00:..."


def debugging() -> bool:
    return bool(os.environ.get("EDGECNN_DEBUG"))


def is_notice(line: str) -> bool:
    return line.startswith(ABSL_LINE_PREFIXES) or any(notice in line for notice in NOTICES)


def _descriptor(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # no real descriptor (e.g. captured)
        return None


@contextlib.contextmanager
def _captured(fd: int, stream, into: list[str]) -> Iterator[None]:
    """Descriptor `fd` goes to a temporary file inside the block; its lines land in `into`."""
    stream.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), fd)
        try:
            yield
        finally:
            stream.flush()
            os.dup2(saved, fd)
            os.close(saved)
            captured.seek(0)
            into.extend(captured.read().decode(errors="replace").splitlines(keepends=True))


@contextlib.contextmanager
def quiet_native_output(capture_stdout: bool = False) -> Iterator[None]:
    """Drop the known native notices written inside the block; pass on the rest to stderr.

    `capture_stdout` also drops what is printed on descriptor 1 (the converter's export
    step and the quantisation debugger print there), so a command's report keeps stdout.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    err_fd = _descriptor(sys.stderr)
    out_fd = _descriptor(sys.stdout) if capture_stdout else None
    if debugging():
        if out_fd is not None and err_fd is not None:
            with _redirected(out_fd, err_fd):
                yield
        else:
            yield
        return
    lines: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            if err_fd is not None:
                stack.enter_context(_captured(err_fd, sys.stderr, lines))
            if out_fd is not None:
                stack.enter_context(_captured(out_fd, sys.stdout, []))
            yield
    finally:
        sys.stderr.writelines(line for line in lines if not is_notice(line))
        sys.stderr.flush()


@contextlib.contextmanager
def _redirected(fd: int, to_fd: int) -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(fd)
    os.dup2(to_fd, fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)
