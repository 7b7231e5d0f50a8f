"""The web API's keys: parsing RECDB_API_KEYS, mapping a key to its role, limits."""

from __future__ import annotations

import pytest

from web_api.settings import (
    DEFAULT_MAX_BODY_BYTES,
    ApiConfigError,
    ApiSettings,
    parse_api_keys,
)

ANALYST = "a" * 20
SCIENTIST = "s-" + "b" * 20


def test_keys_map_to_their_roles():
    settings = ApiSettings(parse_api_keys(f"{ANALYST}:analyst, {SCIENTIST}:Scientist"))
    assert settings.role_for(ANALYST) == "analyst"
    assert settings.role_for(SCIENTIST) == "scientist"
    assert settings.roles == ("analyst", "scientist")


@pytest.mark.parametrize("key", [None, "", "a" * 19, "a" * 21, ANALYST.upper(), ANALYST + " "])
def test_unknown_keys_have_no_role(key):
    assert ApiSettings(parse_api_keys(f"{ANALYST}:analyst")).role_for(key) is None


def test_only_the_roles_in_use_are_connected():
    assert ApiSettings(parse_api_keys(f"{ANALYST}:analyst")).roles == ("analyst",)


def test_keys_are_not_kept_in_clear():
    (key,) = parse_api_keys(f"{ANALYST}:analyst")
    assert ANALYST.encode() not in key.digest and ANALYST not in repr(key)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "RECDB_API_KEYS is not set"),
        ("  ", "RECDB_API_KEYS is not set"),
        (f"{ANALYST}", "entry 1: expected <key>:<role>"),
        (f"{ANALYST}:analyst,,", "entry 2: expected <key>:<role>"),
        (":analyst", "entry 1: expected <key>:<role>"),
        (f"{ANALYST}:owner", "entry 1: role 'owner' is not one of analyst, scientist"),
        (f"{ANALYST}:admin", "entry 1: role 'admin' is not one of analyst, scientist"),
        ("short:analyst", "entry 1: the key is shorter than 16 characters"),
        ("ключ-ключ-ключ-ключ:analyst", "entry 1: a key may hold only letters"),
        ("a key with spaces!!:analyst", "entry 1: a key may hold only letters"),
        (f"{ANALYST}:analyst,{ANALYST}:scientist", "entry 2: the same key is given twice"),
    ],
)
def test_malformed_keys_are_one_clear_error(text, message):
    with pytest.raises(ApiConfigError, match=message) as caught:
        parse_api_keys(text)
    assert ANALYST not in str(caught.value)  # a key is never echoed back


def test_settings_from_the_environment():
    settings = ApiSettings.from_env(
        {
            "RECDB_API_KEYS": f"{ANALYST}:analyst",
            "RECDB_API_MAX_BODY_BYTES": "1000",
            "RECDB_API_POOL_SIZE": "3",
        }
    )
    assert (settings.max_body_bytes, settings.pool_size) == (1000, 3)
    assert ApiSettings.from_env({"RECDB_API_KEYS": f"{ANALYST}:analyst"}).max_body_bytes == (
        DEFAULT_MAX_BODY_BYTES
    )


@pytest.mark.parametrize("value", ["0", "-5", "lots", "1.5"])
def test_bad_limits_are_refused(value):
    with pytest.raises(ApiConfigError, match="RECDB_API_MAX_BODY_BYTES: expected a whole number"):
        ApiSettings.from_env(
            {"RECDB_API_KEYS": f"{ANALYST}:analyst", "RECDB_API_MAX_BODY_BYTES": value}
        )


def test_header_limit_lock_timeout_and_cold_start_refresh_from_the_environment():
    defaults = ApiSettings.from_env({"RECDB_API_KEYS": f"{ANALYST}:analyst"})
    assert (defaults.max_header_bytes, defaults.lock_timeout, defaults.cold_start_refresh) == (
        16 * 1024,
        2.0,
        60.0,
    )
    settings = ApiSettings.from_env(
        {
            "RECDB_API_KEYS": f"{ANALYST}:analyst",
            "RECDB_API_MAX_HEADER_BYTES": "8192",
            "RECDB_API_LOCK_TIMEOUT": "0.5",
            "RECDB_API_COLD_START_REFRESH": "5",
        }
    )
    assert (settings.max_header_bytes, settings.lock_timeout, settings.cold_start_refresh) == (
        8192,
        0.5,
        5.0,
    )


@pytest.mark.parametrize("name", ["RECDB_API_LOCK_TIMEOUT", "RECDB_API_COLD_START_REFRESH"])
@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf"])
def test_bad_durations_are_refused(name, value):
    with pytest.raises(ApiConfigError, match=f"{name}: expected a number of seconds above 0"):
        ApiSettings.from_env({"RECDB_API_KEYS": f"{ANALYST}:analyst", name: value})


def test_a_bad_header_limit_is_refused():
    with pytest.raises(ApiConfigError, match="RECDB_API_MAX_HEADER_BYTES: expected a whole"):
        ApiSettings.from_env(
            {"RECDB_API_KEYS": f"{ANALYST}:analyst", "RECDB_API_MAX_HEADER_BYTES": "16k"}
        )
