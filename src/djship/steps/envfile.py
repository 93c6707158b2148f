"""Pure helpers about env-file entries shared by provision and `djship env`."""

from __future__ import annotations

import hashlib


def digest(key: str, value: str) -> str:
    """Hash of one entry; the same function as the server-side helper's."""
    return hashlib.sha256(f"{key}={value}".encode()).hexdigest()


def desired_hashes(env: dict[str, str]) -> dict[str, str]:
    """Hashes of the entries the config asks for."""
    return {k: digest(k, v) for k, v in env.items()}
