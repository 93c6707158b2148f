"""What a release records about itself, and the fingerprints that decide "nothing changed"."""

from __future__ import annotations

import hashlib
import json
import time

from djship.config import Config
from djship.release.build import Build, config_fingerprint


def meta_json(build: Build, release: str, fingerprint: str, python: str, static: str = "",
              checks: str = "") -> bytes:
    """The release's record, stored beside its code (written last: it marks it complete)."""
    meta = {"id": release, "commit": build.commit, "content_hash": build.content_hash,
            "fingerprint": fingerprint, "deps_hash": build.deps_hash, "created": time.time(),
            "python": python, "static": static, "checks": checks}
    return json.dumps(meta, sort_keys=True).encode()


def fingerprint(config: Config, site: str, build: Build, env_digest: str) -> str:
    """What makes two deploys equal: code, site config and environment."""
    return build.fingerprint(config_fingerprint(config, site) + env_digest)


def static_fingerprint(config: Config, site: str, build: Build, env_digest: str) -> str:
    """What collectstatic's output depends on: static inputs, dependencies, config, env."""
    if not build.static_hash:
        return ""
    return hashlib.sha256((build.static_hash + config_fingerprint(config, site)
                           + env_digest).encode()).hexdigest()


def checks_fingerprint(config: Config, site: str, build: Build, env_digest: str) -> str:
    """What the server's checks and migration plan depend on beyond plain application code:
    migrations, settings, dependencies, config and environment ("" = always check)."""
    if not build.checks_hash:
        return ""
    return hashlib.sha256((build.checks_hash + build.deps_hash + config_fingerprint(
        config, site) + env_digest).encode()).hexdigest()
