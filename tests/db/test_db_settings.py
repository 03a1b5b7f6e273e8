"""Settings from the environment; nothing opens a database before it is used."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cardsvc.db.engine import make_engine
from cardsvc.settings import Settings, SettingsError


def test_default_database_is_a_sqlite_file_under_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'cardsvc.db'}"
    assert settings.demo is False
    assert settings.rules_path is None


def test_environment_overrides() -> None:
    settings = Settings.from_env(
        {
            "CARDSVC_DATABASE_URL": "postgresql+psycopg://svc@db/cardsvc",
            "CARDSVC_DEMO": "yes",
            "CARDSVC_RULES": "/etc/cardsvc/rules.yaml",
        }
    )
    assert settings.database_url == "postgresql+psycopg://svc@db/cardsvc"
    assert settings.demo is True
    assert settings.rules_path == Path("/etc/cardsvc/rules.yaml")


def test_bad_demo_flag_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="CARDSVC_DEMO") as info:
        Settings.from_env({"CARDSVC_DEMO": "maybe"})
    assert info.value.variable == "CARDSVC_DEMO"


def test_settings_are_frozen() -> None:
    settings = Settings(database_url="sqlite:///x.db")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.demo = True  # type: ignore[misc]


def test_make_engine_does_not_open_the_database(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cardsvc.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert path.parent.is_dir()
        assert not path.exists()
    finally:
        engine.dispose()
