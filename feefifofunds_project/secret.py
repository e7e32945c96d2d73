"""The per-install SECRET_KEY: generated once into the state folder when DJANGO_SECRET_KEY is not set.

Written to a temporary file and hard-linked into place, so concurrent first starts (the server and a cron
command) agree on one key and nobody ever reads a half-written file.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

KEY_FILE = "secret_key"


def install_secret_key(state_dir: Path) -> str:
    """The key stored in ``state_dir/secret_key``, creating the folder and the key if missing."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / KEY_FILE
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(64))
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, path)  # fails if another process got there first: its key wins
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    key = path.read_text().strip()
    if len(key) < 50:
        raise RuntimeError(f"{path} holds no usable secret key: delete it to generate a new one")
    return key
