"""Settings: defaults, then a config file, then ``ES_VISUAL_*`` env vars, then flags.

One flat dataclass so every layer can take just what it needs. The CLI builds
it (``Settings.load``); the Flask app takes one in ``create_app``; tests build
one directly. It is frozen: what one layer was given cannot change under another
(a command that needs another index makes a copy, ``dataclasses.replace``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from es_visual.core.errors import ConfigError

ENV_PREFIX = "ES_VISUAL_"
# Every backend es_visual.backends.open_backend opens: the settings check and the CLI's
# choices (--backend, explain --target) read this one list.
BACKENDS: tuple[str, ...] = ("embedded", "elasticsearch", "opensearch")
DEFAULT_CONFIG_FILES = ("es-visual.toml", "es-visual.yaml", "es-visual.yml")


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "es-visual"


@dataclass(frozen=True)
class Settings:
    # Where: the store and the index in it.
    backend: str = "embedded"  # embedded | elasticsearch | opensearch
    data_dir: Path = field(default_factory=default_data_dir)
    index: str = "media"
    # Cluster connection (elasticsearch / opensearch).
    url: str | None = None
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    ca_certs: str | None = None
    verify_certs: bool = True
    request_timeout: float = 30.0
    # How vectors are made.
    model: str = "mobilenet-v2"
    pipeline: str = "offline"
    batch_size: int = 16
    max_pixels: int = 64_000_000
    # Access control: principals are "user:<name>", "group:<name>"; a document is
    # readable when its ``acl_field`` holds one of the caller's principals or
    # ``public_principal``; one without the field at all follows ``missing_acl_public``.
    acl_field: str = "acl.read"
    public_principal: str = "public"
    missing_acl_public: bool = True
    # Who may change a document (tag or delete a duplicate): principals in this field; a
    # document without it only the "admin" group (AclPolicy.writable_filter).
    acl_write_field: str = "acl.write"
    # DSL field map: DSL name -> index field, or -> {"field": ..., "type": ...}.
    fields: dict[str, Any] = field(default_factory=dict)
    text_fields: list[str] = field(
        default_factory=lambda: ["caption", "title", "description", "tags"]
    )
    # Web UI.
    secret_key: str | None = None
    users: dict[str, Any] = field(default_factory=dict)
    max_upload_mb: int = 16
    # The session cookie's Secure flag: auto (set when the request came over HTTPS),
    # always, or never. Behind a proxy that ends TLS, set proxy_hops to the number of
    # proxies in front, so the app sees the client's scheme and address (X-Forwarded-*).
    cookie_secure: str = "auto"
    proxy_hops: int = 0
    # The thumbnail cache (data_dir/ui-cache): its most recently used files are kept
    # within both limits; the least recently used are removed.
    thumb_cache_mb: int = 512
    thumb_cache_files: int = 50_000

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        env: dict[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Defaults < file < env < overrides (flags); ``None`` overrides are ignored."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        path = config_file or env.get(ENV_PREFIX + "CONFIG") or _find_default_file()
        if path:
            values.update(read_config_file(Path(path)))
        values.update(_from_env(env))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Settings:
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        coerced = {name: _coerce(known[name], value) for name, value in values.items()}
        settings = cls(**coerced)
        settings.validate()
        return settings

    def __post_init__(self) -> None:
        # The one normalisation: spellings of the cookie mode ("yes", "off") become the
        # canonical word, set through object.__setattr__ as the instance is frozen.
        object.__setattr__(self, "cookie_secure", _cookie_mode(self.cookie_secure))

    def validate(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"backend must be {', '.join(BACKENDS[:-1])} or {BACKENDS[-1]}, "
                f"not {self.backend!r}"
            )
        if self.backend != "embedded" and not self.url:
            raise ConfigError(f"the {self.backend} backend needs a URL: --url or {ENV_PREFIX}URL")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1")
        if self.cookie_secure not in ("auto", "always", "never"):
            raise ConfigError(
                f"cookie_secure must be auto, always or never, not {self.cookie_secure!r}"
            )
        if self.proxy_hops < 0 or self.thumb_cache_mb < 1 or self.thumb_cache_files < 1:
            raise ConfigError("proxy_hops must be >= 0; thumb_cache_mb and _files >= 1")

    def public(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked, for `es-visual config` and logs."""
        out = dataclasses.asdict(self)
        for key in ("password", "api_key", "secret_key"):
            if out.get(key):
                out[key] = "***"
        out["users"] = sorted(self.users)
        out["data_dir"] = str(self.data_dir)
        return out


def _cookie_mode(value: object) -> str:
    secure = str(value).strip().lower()
    modes = {"true": "always", "yes": "always", "on": "always", "1": "always",
             "false": "never", "no": "never", "off": "never", "0": "never"}  # fmt: skip
    return modes.get(secure, secure)


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"{path}: config files are .toml, .yaml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of settings at the top level")
    # Accept the settings either at the top level or under [es_visual] / es-visual:.
    return dict(data.get("es_visual") or data.get("es-visual") or data)


def _find_default_file() -> Path | None:
    for name in DEFAULT_CONFIG_FILES:
        if Path(name).is_file():
            return Path(name)
    return None


def _from_env(env: dict[str, str]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(Settings)}
    out: dict[str, Any] = {}
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "CONFIG":
            name = key[len(ENV_PREFIX) :].lower()
            if name in names:
                out[name] = value
    return out


def _coerce(f: dataclasses.Field[Any], value: Any) -> Any:
    """Env vars and files give strings; turn them into the field's type."""
    kind = str(f.type)
    try:
        if "Path" in kind and value is not None:
            return Path(value).expanduser()
        if kind == "bool" and isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind.startswith(("dict", "list")) and isinstance(value, str):
            return json.loads(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {f.name}: {exc}") from exc
    return value
