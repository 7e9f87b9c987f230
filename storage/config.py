"""The configuration file (TOML) and environment overrides, read once at start.

Looked up at `--config`, env CROSSCLIENT_CONFIG, or `config.toml` in the data directory; every
key is optional. Sections: [mail], [callbacks], [api], [tui], [keys]. README lists them all.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.db import default_data_dir


@dataclass
class Config:
    path: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        return value if isinstance(value, dict) else {}

    def get(self, section: str, key: str, default: Any = None, env: str | None = None) -> Any:
        """A value from env `env` if set, else the file's [section] key, else `default`."""
        if env and os.environ.get(env) not in (None, ""):
            raw = os.environ[env]
            if isinstance(default, bool):
                return raw.strip().lower() in ("1", "true", "yes", "on")
            if isinstance(default, int):
                return int(raw)
            if isinstance(default, float):
                return float(raw)
            return raw
        return self.section(section).get(key, default)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read the config file; a missing default file is an empty config, a broken one an error."""
    explicit = path or os.environ.get("CROSSCLIENT_CONFIG")
    candidate = Path(explicit) if explicit else default_data_dir() / "config.toml"
    if not candidate.exists():
        if explicit:
            raise SystemExit(f"config: file {candidate} does not exist")
        return Config()
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SystemExit(f"config: {candidate} is not valid TOML: {exc}") from None
    return Config(candidate, data)
