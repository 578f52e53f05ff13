"""Configuration layering and the generated secret key."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from grants import create_app
from grants.config import SECRET_KEY_FILE, parse_bool, settings_from_environment
from grants.database import normalise_database_url


def build(tmp_path: Path, **config: object):  # type: ignore[no-untyped-def]
    return create_app({"INSTANCE_PATH": tmp_path / "instance", **config})


def write_instance_config(tmp_path: Path, text: str) -> None:
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    (instance / "config.py").write_text(text)


def test_defaults_hold_without_other_layers(tmp_path: Path) -> None:
    app = build(tmp_path)
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 8 * 3600
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is False
    expected = f"sqlite:///{(tmp_path / 'instance').resolve() / 'grants.sqlite3'}"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == expected


def test_each_layer_overrides_the_one_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_instance_config(
        tmp_path,
        "MAX_CONTENT_LENGTH = 111\nREDIS_URL = 'redis://instance'\nSECRET_KEY = 'from-instance'\n",
    )
    assert build(tmp_path).config["MAX_CONTENT_LENGTH"] == 111

    monkeypatch.setenv("GRANTS_MAX_CONTENT_LENGTH", "222")
    monkeypatch.setenv("GRANTS_REDIS_URL", "redis://environment")
    app = build(tmp_path)
    assert app.config["MAX_CONTENT_LENGTH"] == 222
    assert app.config["REDIS_URL"] == "redis://environment"
    assert app.config["SECRET_KEY"] == "from-instance"

    app = build(tmp_path, MAX_CONTENT_LENGTH=333, SECRET_KEY="from-argument")
    assert app.config["MAX_CONTENT_LENGTH"] == 333
    assert app.config["SECRET_KEY"] == "from-argument"
    assert app.config["REDIS_URL"] == "redis://environment"


def test_database_url_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"
    monkeypatch.setenv("GRANTS_DATABASE_URL", url)
    assert build(tmp_path).config["SQLALCHEMY_DATABASE_URI"] == url


def test_secret_key_from_the_environment_is_used_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRANTS_SECRET_KEY", "s3cret-from-env")
    assert build(tmp_path).config["SECRET_KEY"] == "s3cret-from-env"
    assert not (tmp_path / "instance" / SECRET_KEY_FILE).exists()


def test_secure_cookies_switch_on_the_secure_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRANTS_SECURE_COOKIES", "true")
    monkeypatch.setenv("GRANTS_PUBLIC_URL", "https://funding.example.org")
    app = build(tmp_path)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True


def test_a_malformed_environment_value_stops_start_up_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRANTS_SECURE_COOKIES", "perhaps")
    with pytest.raises(ValueError, match="GRANTS_SECURE_COOKIES"):
        build(tmp_path)
    with pytest.raises(ValueError, match="GRANTS_MAX_CONTENT_LENGTH"):
        settings_from_environment({"GRANTS_MAX_CONTENT_LENGTH": "lots"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("TRUE", True),
        ("on", True),
        ("yes", True),
        ("0", False),
        ("off", False),
        ("", False),
    ],
)
def test_parse_bool(raw: str, expected: bool) -> None:
    assert parse_bool(raw) is expected


def test_secret_key_is_generated_once_and_reused(tmp_path: Path) -> None:
    first = build(tmp_path).config["SECRET_KEY"]
    key_file = tmp_path / "instance" / SECRET_KEY_FILE
    assert key_file.read_text().strip() == first
    assert len(first) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert build(tmp_path).config["SECRET_KEY"] == first
    assert not [p.name for p in key_file.parent.iterdir() if p.name.startswith(".secret_key")]


def test_each_instance_gets_its_own_secret_key(tmp_path: Path) -> None:
    one = create_app({"INSTANCE_PATH": tmp_path / "one"}).config["SECRET_KEY"]
    two = create_app({"INSTANCE_PATH": tmp_path / "two"}).config["SECRET_KEY"]
    assert one != two


def test_an_empty_secret_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / SECRET_KEY_FILE).write_text("\n")
    with pytest.raises(RuntimeError, match="empty"):
        build(tmp_path)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h:5432/d", "postgresql+psycopg://u@h:5432/d"),
        ("postgres://u:p@h/d", "postgresql+psycopg://u:p@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:////tmp/x.sqlite3", "sqlite:////tmp/x.sqlite3"),
    ],
)
def test_postgresql_urls_use_psycopg(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


def test_compiled_templates_are_kept_for_the_next_worker(
    tmp_path: Path,
) -> None:
    """A worker stores each template it compiles under instance/jinja/; the next worker of the
    same instance loads it from there instead of compiling it again."""
    settings = {"INSTANCE_PATH": tmp_path, "DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}"}
    first = create_app(settings)
    first.jinja_env.get_template("errors/error.html")
    cached = sorted((tmp_path / "jinja").iterdir())
    assert cached, "the compiled template was stored"
    second = create_app(settings)
    loads: list[str] = []
    cache = second.jinja_env.bytecode_cache
    assert cache is not None
    original = cache.load_bytecode

    def load_bytecode(bucket: Any) -> None:
        original(bucket)
        loads.append("loaded" if bucket.code is not None else "compiled")

    cache.load_bytecode = load_bytecode  # type: ignore[method-assign]
    second.jinja_env.get_template("errors/error.html")
    assert loads == ["loaded"]
    assert sorted((tmp_path / "jinja").iterdir()) == cached


def test_a_template_folder_this_process_cannot_write_leaves_templates_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """instance/jinja/ made by another user (os.access says this process may not write
    there, which root is never told): no cache, and templates still load."""
    monkeypatch.setattr("grants.os.access", lambda path, mode: False)
    app = create_app(
        {"INSTANCE_PATH": tmp_path, "DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}"}
    )
    assert app.jinja_env.bytecode_cache is None
    assert app.jinja_env.get_template("errors/error.html") is not None
