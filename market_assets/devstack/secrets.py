"""Role passwords of the embedded stack: generated once, kept in the state folder (0600)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from market_assets.db.bootstrap import RolePasswords


def load_or_create_role_passwords(state_dir: Path) -> RolePasswords:
    path = state_dir / "roles.json"
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        return RolePasswords(**data)
    passwords = RolePasswords(
        owner=secrets.token_urlsafe(18),
        writer=secrets.token_urlsafe(18),
        reader=secrets.token_urlsafe(18),
        dagster=secrets.token_urlsafe(18),
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(passwords.__dict__, fh)
    return passwords
