"""Settings resolution: explicit > environment > TOML file > defaults, and loud failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from leadline.config import DEFAULT_DATA_DIR, Settings, load_settings
from leadline.errors import ConfigError


@pytest.fixture
def toml(tmp_path: Path):
    def write(text: str) -> Path:
        path = tmp_path / "leadline.toml"
        path.write_text(text)
        return path

    return write


def test_defaults_without_file_or_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./leadline.toml here
    settings = load_settings(environ={})
    assert settings.base_url is None and settings.uses_embedded_model
    assert settings.model_size == "1.5b"
    assert settings.data_dir == DEFAULT_DATA_DIR
    assert settings.models_dir == DEFAULT_DATA_DIR / "models"
    assert settings.parallel_slots == 1 and settings.kv_mode == "shared"


def test_precedence_explicit_over_env_over_toml_over_default(toml) -> None:
    path = toml('model = "from-toml"\nmodel_size = "0.5b"\nmax_retries = 7\nctx_per_slot = 2048\n')
    env = {"LEADLINE_MODEL": "from-env", "LEADLINE_MAX_RETRIES": "3"}
    settings = load_settings(path, environ=env, model="explicit")
    assert settings.model == "explicit"  # explicit beats env and toml
    assert settings.max_retries == 3  # env beats toml
    assert settings.model_size == "0.5b"  # toml beats default
    assert settings.ctx_per_slot == 2048
    assert settings.request_timeout_s == 120.0  # default


def test_explicit_none_does_not_erase_lower_layers(toml) -> None:
    settings = load_settings(toml('model_size = "0.5b"\n'), environ={}, model_size=None)
    assert settings.model_size == "0.5b"


def test_leadline_table_in_toml(toml) -> None:
    settings = load_settings(toml("[leadline]\nparallel_slots = 3\n"), environ={})
    assert settings.parallel_slots == 3


def test_config_file_from_env(toml) -> None:
    path = toml("threads = 5\n")
    assert load_settings(environ={"LEADLINE_CONFIG": str(path)}).threads == 5


def test_openai_variables_are_fallbacks_only(tmp_path: Path) -> None:
    none = tmp_path / "none.toml"
    none.write_text("")
    fallback = load_settings(
        none, environ={"OPENAI_BASE_URL": "http://o/v1", "OPENAI_API_KEY": "k"}
    )
    assert (fallback.base_url, fallback.api_key) == ("http://o/v1", "k")
    assert not fallback.uses_embedded_model
    both = load_settings(
        none, environ={"OPENAI_BASE_URL": "http://o/v1", "LEADLINE_BASE_URL": "http://l/v1"}
    )
    assert both.base_url == "http://l/v1"


def test_env_values_are_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"LEADLINE_TIMEOUT_S": "2.5", "LEADLINE_PARALLEL": "4", "LEADLINE_DATA_DIR": "/x/y"}
    settings = load_settings(environ=env)
    assert settings.request_timeout_s == 2.5 and settings.parallel_slots == 4
    assert settings.data_dir == Path("/x/y")


def test_unknown_key_in_toml_is_rejected(toml) -> None:
    with pytest.raises(ConfigError, match="model_sise"):
        load_settings(toml('model_sise = "0.5b"\n'), environ={})


def test_unknown_explicit_key_is_rejected(toml) -> None:
    with pytest.raises(ConfigError, match="invalid settings"):
        load_settings(toml(""), environ={}, colour="blue")


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"LEADLINE_MODEL_SIZE": "7b"}, "model_size"),
        ({"LEADLINE_PARALLEL": "0"}, "parallel_slots"),
        ({"LEADLINE_TIMEOUT_S": "soon"}, "request_timeout_s"),
        ({"LEADLINE_KV_MODE": "both"}, "kv_mode"),
    ],
)
def test_invalid_values_name_the_field(toml, env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        load_settings(toml(""), environ=env)


def test_bad_toml_is_a_clear_error(toml) -> None:
    path = toml("model = \n")
    with pytest.raises(ConfigError, match=rf"{path.name} is not valid TOML"):
        load_settings(path, environ={})


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ={"LEADLINE_CONFIG": str(tmp_path / "absent.toml")})


def test_settings_are_immutable_and_copyable() -> None:
    settings = Settings(model="a")
    with pytest.raises(ValidationError):
        settings.model = "b"  # type: ignore[misc]
    assert settings.model_copy(update={"model": "b"}).model == "b"
    assert settings.model == "a"
