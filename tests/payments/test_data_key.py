"""The data keys: tokens round-trip, survive a new key and rotate onto it, and a missing key
is an operator's error that never repeats the secret; the key file is private, made once
however many threads race for it, and gives way to GRANTS_DATA_KEY."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, MultiFernet
from flask import Flask

from grants.data_key import (
    KEY_FILE,
    DataKeyError,
    add_key,
    current_data_keys,
    data_keys,
    decrypt,
    encrypt,
    generate_key,
    load_keys,
    rotate_token,
)

SECRET = '{"iban":"DE89370400440532013000","account_holder":"Zoë Ørsted"}'


def keys_of(*keys: str) -> MultiFernet:
    """A key list of ``keys``, newest first."""
    return MultiFernet([Fernet(key) for key in keys])


def app_in(instance: Path) -> Flask:
    """A bare app whose instance folder is ``instance``."""
    return Flask(__name__, instance_path=str(instance))


def file_keys(instance: Path) -> list[str]:
    """The keys in the instance's key file, in order."""
    return (instance / KEY_FILE).read_text(encoding="ascii").split()


def test_a_secret_round_trips_as_an_ascii_token() -> None:
    keys = keys_of(generate_key())
    token = encrypt(keys, SECRET)
    assert token.isascii()
    assert "DE89" not in token
    assert decrypt(keys, token) == SECRET
    assert encrypt(keys, SECRET) != token


def test_old_tokens_still_open_after_a_new_key_and_rotate_onto_it() -> None:
    old, new = generate_key(), generate_key()
    token = encrypt(keys_of(old), SECRET)
    both = keys_of(new, old)
    assert decrypt(both, token) == SECRET
    rotated = rotate_token(both, token)
    assert decrypt(keys_of(new), rotated) == SECRET
    with pytest.raises(DataKeyError):
        decrypt(keys_of(old), rotated)


def test_a_wrong_key_is_an_operator_error_that_never_shows_the_secret(tmp_path: Path) -> None:
    token = encrypt(keys_of(generate_key()), SECRET)
    other = load_keys(None, tmp_path)
    with pytest.raises(DataKeyError) as error:
        decrypt(other, token)
    message = str(error.value)
    assert str(tmp_path / KEY_FILE) in message
    assert "Restore the key list" in message
    for leak in ("DE89", "Ørsted", token, *file_keys(tmp_path)):
        assert leak not in message
    with pytest.raises(DataKeyError):
        rotate_token(other, token)


@pytest.mark.parametrize("token", ["", "not a token", "gAAAAAé"])
def test_what_is_not_a_token_is_refused_as_unreadable(token: str) -> None:
    with pytest.raises(DataKeyError, match="could not be decrypted"):
        decrypt(keys_of(generate_key()), token)


def test_the_key_file_is_made_on_first_use_readable_by_its_owner_alone(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    previous = os.umask(0)
    try:
        keys = data_keys(app_in(instance))
    finally:
        os.umask(previous)
    key_file = instance / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    [key] = file_keys(instance)
    assert decrypt(keys_of(key), encrypt(keys, SECRET)) == SECRET
    assert sorted(path.name for path in instance.iterdir()) == [KEY_FILE]


def test_threads_racing_to_make_the_key_file_end_with_one_key_they_share(
    tmp_path: Path,
) -> None:
    for attempt in range(20):
        instance = tmp_path / str(attempt)
        tokens = race_to_first_use(instance, racers=2)
        [key] = file_keys(instance)
        assert [decrypt(keys_of(key), token) for token in tokens] == [SECRET, SECRET]
        assert sorted(path.name for path in instance.iterdir()) == [KEY_FILE]


def race_to_first_use(instance: Path, *, racers: int) -> list[str]:
    """Tokens made by ``racers`` threads that each use the instance's keys first, at once."""
    start = threading.Barrier(racers)
    tokens: list[str] = []

    def first_use() -> None:
        start.wait()
        tokens.append(encrypt(load_keys(None, instance), SECRET))

    threads = [threading.Thread(target=first_use) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tokens


def test_keys_from_the_setting_override_the_file(tmp_path: Path) -> None:
    file_key = file_keys_after_first_use(tmp_path)
    app = app_in(tmp_path)
    configured = generate_key()
    app.config["DATA_KEY"] = f" {configured} , {file_key} "
    token = encrypt(data_keys(app), SECRET)
    assert decrypt(keys_of(configured), token) == SECRET
    assert data_keys(app).source == "GRANTS_DATA_KEY (the DATA_KEY setting)"


def test_an_app_without_the_setting_reads_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = generate_key()
    monkeypatch.setenv("GRANTS_DATA_KEY", configured)
    app = app_in(tmp_path)
    with app.app_context():
        token = encrypt(current_data_keys(), SECRET)
    assert decrypt(keys_of(configured), token) == SECRET
    assert not (tmp_path / KEY_FILE).exists()


def test_a_malformed_key_in_the_variable_is_named_by_position_not_shown(tmp_path: Path) -> None:
    app = app_in(tmp_path)
    app.config["DATA_KEY"] = f"{generate_key()},not-a-fernet-key"
    with pytest.raises(DataKeyError) as error:
        data_keys(app)
    message = str(error.value)
    assert "GRANTS_DATA_KEY" in message
    assert "key 2 of 2 is not a Fernet key" in message
    assert "not-a-fernet-key" not in message


def test_an_empty_variable_is_refused_rather_than_falling_back_to_a_new_file(
    tmp_path: Path,
) -> None:
    app = app_in(tmp_path)
    app.config["DATA_KEY"] = " , "
    with pytest.raises(DataKeyError, match=r"GRANTS_DATA_KEY .* holds no data key"):
        data_keys(app)
    assert not (tmp_path / KEY_FILE).exists()


def test_an_empty_key_file_is_refused_not_replaced(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("\n", encoding="ascii")
    with pytest.raises(DataKeyError, match="holds no data key"):
        data_keys(app_in(tmp_path))
    assert (tmp_path / KEY_FILE).read_text(encoding="ascii") == "\n"


def test_add_key_puts_a_new_key_first_and_keeps_the_old_ones(tmp_path: Path) -> None:
    app = app_in(tmp_path)
    first = data_keys(app)
    assert data_keys(app) is first
    token = encrypt(first, SECRET)
    [old] = file_keys(tmp_path)

    add_key(str(tmp_path))
    add_key(tmp_path)

    newest, middle, oldest = file_keys(tmp_path)
    assert oldest == old
    assert len({newest, middle, oldest}) == 3
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".new")]
    updated = data_keys(app)
    assert updated is not first
    assert updated.count == 3
    rotated = rotate_token(updated, token)
    assert decrypt(keys_of(newest), rotated) == SECRET


def test_add_key_refuses_when_the_keys_come_from_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = file_keys_after_first_use(tmp_path)
    with pytest.raises(DataKeyError, match="at the front of GRANTS_DATA_KEY"):
        add_key(tmp_path, configured=generate_key())
    monkeypatch.setenv("GRANTS_DATA_KEY", generate_key())
    with pytest.raises(DataKeyError, match="at the front of GRANTS_DATA_KEY"):
        add_key(tmp_path)
    assert file_keys(tmp_path) == [before]


def test_add_key_refuses_to_carry_on_from_a_damaged_key_file(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text(f"{generate_key()}\ndamaged\n", encoding="ascii")
    with pytest.raises(DataKeyError, match="key 2 of 2 is not a Fernet key"):
        add_key(tmp_path)
    assert len(file_keys(tmp_path)) == 2


def file_keys_after_first_use(instance: Path) -> str:
    """Make the instance's key file as first use would, and return its one key."""
    load_keys(None, instance)
    [key] = file_keys(instance)
    return key
