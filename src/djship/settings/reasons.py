"""Reasons for settings edits from the settings' values under the production environment,
not from the text: an edit whose setting already has its production value is not proposed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from djship.settings.analysis import Edit
from djship.settings.envcheck import Probed


def reasoned(edits: list[Edit], probed: Probed, again: Callable[[], dict[str, Any]]
             ) -> tuple[list[Edit], list[str]]:
    """The edits with reasons from ``probed`` (``again()``: a second import of the original
    settings, asked only to tell a key computed at import from a fixed one), and notes on
    those left out."""
    data = probed.data
    out: list[Edit] = []
    notes: list[str] = []
    for edit in edits:
        key = edit.snippet.key
        if key == "DEBUG":
            if not data.get("debug"):
                notes.append("DEBUG is off with the environment djship sets on the servers: "
                             "djship leaves it as the project sets it")
                continue
            edit = replace(edit, reason="DEBUG is on with the environment djship sets on the "
                                        "servers; production must run with it off")
        elif key == "SECRET_KEY":
            if data.get("secret_key_from_env") and not data.get("secret_key_empty"):
                notes.append(f"SECRET_KEY already comes from {probed.secret_var}: djship "
                             "leaves it as the project reads it")
                continue
            edit = replace(edit, reason=_secret_reason(edit, data, again, probed.secret_var))
        out.append(edit)
    return out, notes


def _secret_reason(edit: Edit, data: dict[str, Any], again: Callable[[], dict[str, Any]],
                   var: str) -> str:
    if data.get("secret_key_empty"):
        return "SECRET_KEY is empty with the environment djship sets on the servers"
    if again().get("secret_key_sha") != data.get("secret_key_sha"):
        return "SECRET_KEY is computed at import time, so it changes on every restart"
    if edit.reason.startswith("SECRET_KEY is hard-coded"):
        return edit.reason
    return (f"SECRET_KEY does not come from the {var} variable djship generates per site: "
            "every import gives the same key, from the code or a file that ships")
