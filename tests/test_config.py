"""Settings: file < env < flags, clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from es_visual.config import BACKENDS, Settings
from es_visual.core.errors import ConfigError


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('index = "from-file"\nbatch_size = 4\nmodel = "clip"\n')
    env = {"ES_VISUAL_INDEX": "from-env", "ES_VISUAL_BATCH_SIZE": "8"}
    s = Settings.load(cfg, env=env, batch_size=None, data_dir=str(tmp_path))
    assert (s.index, s.batch_size, s.model) == ("from-env", 8, "clip")
    s = Settings.load(cfg, env=env, index="from-flag")
    assert s.index == "from-flag"


def test_yaml_file_and_nested_table(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("es_visual:\n  verify_certs: false\n  fields:\n    owner: user.name\n")
    s = Settings.load(cfg, env={})
    assert s.verify_certs is False and s.fields == {"owner": "user.name"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"backend": "solr"}, "backend must be"),
        ({"backend": "elasticsearch"}, "needs a URL"),
        ({"batch_size": "lots"}, "batch_size"),
        ({"colour": "red"}, "unknown setting"),
        ({"verify_certs": "maybe"}, "not a boolean"),
    ],
)
def test_bad_settings_are_named(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_mapping(values)


def test_public_masks_secrets() -> None:
    s = Settings.from_mapping({"password": "hunter2", "api_key": "k"})
    assert s.public()["password"] == "***" and s.public()["api_key"] == "***"


@pytest.mark.parametrize("name", BACKENDS)
def test_every_backend_name_opens_that_backend(name: str, tmp_path: Path) -> None:
    """The one list of backend names (settings check, CLI choices) and open_backend agree:
    a name in the list that open_backend does not know would be a ConfigError at run time.
    A cluster client connects on its first request, not here."""
    from es_visual.backends import open_backend

    settings = Settings(backend=name, url="http://127.0.0.1:9", data_dir=tmp_path)
    settings.validate()
    backend = open_backend(settings)
    try:
        assert backend.name == name
    finally:
        backend.close()


def test_an_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="embedded, elasticsearch or opensearch, not 'solr'"):
        Settings(backend="solr").validate()
