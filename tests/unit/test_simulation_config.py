"""The simulation config: defaults, partial files, and clear errors for every kind of mistake."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path

import pytest

from recdb.core.errors import RecdbError
from simulation import SimulationConfig, SimulationConfigError, default_config_text, load_config

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "simulation" / "simulation.toml"
SECTIONS = {name: field.annotation for name, field in SimulationConfig.model_fields.items()}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_and_match_the_packaged_file():
    config = load_config()
    assert default_config_text() == DEFAULT_FILE.read_text(encoding="utf-8")
    assert config.source == "defaults"
    assert config.period.start == dt.date(2023, 1, 1)
    assert config.tastes.dirichlet_alpha == 0.05
    assert config.sessions.mean == 10.0
    assert sum(config.users.plan_shares.values()) == pytest.approx(1)


def test_every_knob_is_in_the_default_file_with_a_comment():
    lines = DEFAULT_FILE.read_text(encoding="utf-8").splitlines()
    parsed = tomllib.loads("\n".join(lines))
    for section, cls in SECTIONS.items():
        for name in cls.model_fields:
            assert name in parsed[section], f"{section}.{name} missing"
    # each plain key (not inside a table of shares) has a comment right above it,
    # or directly above the comment block's previous key
    section = None
    for number, line in enumerate(lines):
        header = re.match(r"^\[([a-z_.]+)\]", line)
        if header:
            section = header.group(1)
            continue
        key = re.match(r"^([a-z_]+) = ", line)
        if key and section in SECTIONS:
            assert lines[number - 1].startswith("#"), f"{section}.{key.group(1)} has no comment"


def test_a_partial_file_changes_only_its_keys(tmp_path):
    path = write(tmp_path, "[tastes]\ndirichlet_alpha = 0.5\n")
    config = load_config(path)
    defaults = load_config()
    assert config.tastes.dirichlet_alpha == 0.5
    assert config.tastes.taste_floor == defaults.tastes.taste_floor
    assert config.sessions == defaults.sessions
    assert config.source == str(path)


def test_a_table_of_shares_is_replaced_whole(tmp_path):
    path = write(tmp_path, '[users.country_shares]\nFR = 0.5\n"DE" = 0.5\n')
    assert load_config(path).users.country_shares == {"DE": 0.5, "FR": 0.5}


def test_overrides_flat_or_nested():
    flat = load_config().with_overrides({"binge.mean_episodes": 5, "churn.share": 0})
    nested = load_config(overrides={"binge": {"mean_episodes": 5}, "churn": {"share": 0}})
    assert flat == nested
    assert flat.binge.mean_episodes == 5.0 and isinstance(flat.binge.mean_episodes, float)


@pytest.mark.parametrize(
    ("text", "key", "allowed"),
    [
        ("[tastes]\ndirichlet_alfa = 1\n", "tastes.dirichlet_alfa", "dirichlet_alpha"),
        ("[taste]\ndirichlet_alpha = 1\n", "taste", "tastes"),
        ("[tastes]\ndirichlet_alpha = 0\n", "tastes.dirichlet_alpha", "> 0 and <= 1000"),
        ("[tastes]\ndirichlet_alpha = -1.5\n", "tastes.dirichlet_alpha", "> 0"),
        ("[churn]\nshare = 1.5\n", "churn.share", ">= 0 and <= 1"),
        ("[sessions]\nmean = 0\n", "sessions.mean", "> 0"),
        ("[sessions]\ndispersion = 101\n", "sessions.dispersion", "<= 100"),
        ("[completion]\npartial_mean = 1\n", "completion.partial_mean", "< 1"),
        ("[ratings]\nshare = nan\n", "ratings.share", ">= 0 and <= 1"),
        ("[sessions]\nmean = 'ten'\n", "sessions.mean", "> 0"),
        ("[sessions]\nmean = true\n", "sessions.mean", "> 0"),
        ("[binge]\nmax_episodes = 2.5\n", "binge.max_episodes", ">= 1 and <= 1000"),
        ("[binge]\nmean_episodes = 30\n", "binge.mean_episodes", "binge.max_episodes (20)"),
        ("[period]\nstart = '2023-01-01'\n", "period.start", "a TOML date"),
        ("[period]\nend = 2022-06-01\n", "period.end", "a date after period.start"),
        ("[users.plan_shares]\nbasic = 0.5\n", "users.plan_shares", "summing to 1"),
        ("[users.plan_shares]\ngold = 1.0\n", "users.plan_shares", "basic, standard, premium"),
        ("[users.gender_shares]\nfemale = 2.0\n", "users.gender_shares", "from 0 to 1"),
        ("[users.country_shares]\nusa = 1.0\n", "users.country_shares", "alpha-2"),
        ('[users.age_shares]\n"30-20" = 1.0\n', "users.age_shares", "youngest-oldest"),
        ('[users.age_shares]\n"1-10" = 1.0\n', "users.age_shares", "ages from 3 to"),
        ("[users]\nplan_shares = 3\n", "users.plan_shares", "summing to 1"),
        ("tastes = 3\n", "tastes", "[tastes]"),
    ],
)
def test_invalid_values_name_the_key_and_what_it_allows(tmp_path, text, key, allowed):
    path = write(tmp_path, text)
    with pytest.raises(SimulationConfigError) as caught:
        load_config(path)
    error = caught.value
    assert isinstance(error, RecdbError)  # the recdb command shows it as one line
    assert error.key == key
    assert allowed in error.allowed
    assert str(path) in str(error) and key in str(error)
    assert "\n" not in str(error)


def test_malformed_and_missing_files(tmp_path):
    with pytest.raises(SimulationConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[tastes\n"))
    with pytest.raises(SimulationConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.toml")


def test_shares_are_kept_in_a_canonical_order(tmp_path):
    path = write(tmp_path, "[users.plan_shares]\npremium = 0.2\nbasic = 0.3\nstandard = 0.5\n")
    assert list(load_config(path).users.plan_shares) == ["basic", "standard", "premium"]
