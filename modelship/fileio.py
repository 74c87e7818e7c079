"""Writing a file so that a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_atomic(path: str | Path, text: str | bytes, mode: int | None = None, *, exclusive: bool = False) -> bool:
    """Write text (or bytes: a serialised profile) to path through a temporary file in the same
    folder, then move it into place.

    mode: permissions of the new file (e.g. 0o600 for a secret); None gives what any new
    file gets under the process umask. The file is created with them, never widened later.
    exclusive: leave an existing file alone; returns False when one was already there.
    Returns True when path now holds text.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text if isinstance(text, bytes) else text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        if not exclusive:
            os.replace(tmp, path)
            return True
        # link() refuses an existing target, so of two writers racing to create the file
        # the first wins and the second keeps the first one's content.
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
