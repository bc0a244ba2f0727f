"""Keep TensorFlow's and LiteRT's C++ start-up notices off the user's terminal.

They are written by C++ straight to file descriptor 2, past Python's sys.stderr, so they are
captured at the descriptor and every line that is not a known notice is passed on.
EDGECNN_DEBUG=1 shows everything.
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
    "Estimated count of arithmetic ops",
)


@contextlib.contextmanager
def without_native_notices() -> Iterator[None]:
    """Drop the known C++ notices written to fd 2 inside the block; pass on the rest."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured): leave it
        yield
        return
    if os.environ.get("EDGECNN_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not any(notice in line for notice in NOTICES):
                    sys.stderr.write(line)
            sys.stderr.flush()
