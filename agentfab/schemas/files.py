"""How agentfab creates the files it writes: with the permissions the umask allows, as `open` would.

Files are written to a temporary file first (mkstemp makes it 0600, readable by its owner only) and renamed into
place, so the mode must be set explicitly, or a dataset shared on a cluster could be read by nobody else.
"""

from __future__ import annotations

import os
from pathlib import Path


def umask() -> int:
    """The process's umask, read without changing it where Linux tells it (so no other thread sees a change)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new regular file gets from `open`: 0666 less the umask."""
    return 0o666 & ~umask()
