"""Sectioned TOML configs validated into frozen dataclasses (the simulation's, the recommender's).

A config is a packaged, documented TOML file of defaults (``[section]`` tables
of keys), updated by a file of the user's and by overrides (nested, or flat with
dotted keys). Each section is a frozen dataclass whose fields carry their kind
and range in their metadata (:func:`knob`). Every problem is a
:class:`ConfigError` naming the dotted key, what it allows, and where it came from.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from recdb.core.errors import RecdbError


class ConfigError(RecdbError):
    """A config is invalid: an unknown key, a wrong type or a value out of range.

    ``key`` is the dotted key (``als.factors``) when the problem has one,
    ``allowed`` what the key accepts, and ``source`` the file (or
    ``defaults``/``overrides``) it came from. Subclasses name the config in ``label``.
    """

    label = "config"

    def __init__(
        self,
        problem: str,
        *,
        key: str | None = None,
        allowed: str | None = None,
        source: str | None = None,
    ) -> None:
        self.problem = problem
        self.key = key
        self.allowed = allowed
        self.source = source
        text = problem
        if key is not None:
            text = f"{key}: {text}"
        if allowed is not None:
            text = f"{text} (allowed: {allowed})"
        if source is not None:
            text = f"{self.label} {source}: {text}"
        super().__init__(text)


@dataclass(frozen=True)
class Range:
    """The values a number admits, and how to say so."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def admits(self, value: float) -> bool:
        """Whether ``value`` is finite and inside the range."""
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (
            self.high is not None and (value >= self.high if self.high_open else value > self.high)
        )

    def describe(self, kind: str | None = None) -> str:
        """``>= 1 and <= 1024``, after ``a whole number``/``a number`` when ``kind`` is given."""
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        bounds = " and ".join(parts) or "any number"
        if kind is None:
            return bounds
        return f"{'a whole number' if kind == 'int' else 'a number'} {bounds}"


def knob(kind: str, low: float | None = None, high: float | None = None, **open_: bool) -> Any:
    """A dataclass field whose metadata tells the validator its kind and range."""
    return field(metadata={"kind": kind, "range": Range(low, high, **open_)})


#: Checks one value: (dotted key, the field's metadata, the value, source) -> the value.
Check = Callable[[str, Mapping[str, Any], Any, str], Any]


@dataclass(frozen=True)
class ConfigSchema:
    """The sections of one kind of config, its packaged defaults and its error class."""

    sections: dict[str, type]
    error: type[ConfigError]
    package: str
    default_file: str

    def default_text(self) -> str:
        """The documented default config file, as text (a starting point for your own)."""
        return resources.files(self.package).joinpath(self.default_file).read_text(encoding="utf-8")

    def load(
        self, path: Path | str | None, overrides: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], str]:
        """(the defaults updated with the file at ``path`` and ``overrides``, their source)."""
        merged = self.parse(self.default_text(), "defaults")
        source = "defaults"
        if path is not None:
            source = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as error:
                raise self.error(
                    f"cannot read the file: {error.strerror or error}", source=source
                ) from None
            merged = self.merge(merged, self.parse(text, source), source)
        if overrides:
            source = "overrides" if path is None else f"{source} + overrides"
            merged = self.merge(merged, self.nest(overrides, source), source)
        return merged, source

    def parse(self, text: str, source: str) -> dict[str, Any]:
        """TOML text as nested values."""
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise self.error(f"not valid TOML: {error}", source=source) from None

    def nest(self, overrides: Mapping[str, Any], source: str) -> dict[str, Any]:
        """Overrides given flat (``{"als.factors": 32}``) or nested, as nested values."""
        nested: dict[str, Any] = {}
        for key, value in overrides.items():
            if "." in key:
                section, _, name = key.partition(".")
                nested.setdefault(section, {})
                if not isinstance(nested[section], dict):
                    raise self.error(
                        "given both as a value and as a table", key=section, source=source
                    )
                nested[section][name] = value
            elif isinstance(value, Mapping):
                nested.setdefault(key, {}).update(value)
            else:
                nested[key] = value
        return nested

    def merge(self, base: dict[str, Any], update: dict[str, Any], source: str) -> dict[str, Any]:
        """``base`` with ``update``'s keys; unknown sections and keys are errors."""
        merged = {name: dict(values) for name, values in base.items()}
        for section, values in update.items():
            if section not in self.sections:
                raise self.error(
                    "unknown section", key=section, allowed=", ".join(self.sections), source=source
                )
            if not isinstance(values, Mapping):
                raise self.error(
                    "expected a table of keys", key=section, allowed=f"[{section}]", source=source
                )
            known = [f.name for f in dataclasses.fields(self.sections[section])]
            for name, value in values.items():
                if name not in known:
                    raise self.error(
                        "unknown key",
                        key=f"{section}.{name}",
                        allowed=f"keys of [{section}]: {', '.join(known)}",
                        source=source,
                    )
                merged.setdefault(section, {})[name] = value
        return merged

    def build_sections(self, values: dict[str, Any], source: str, check: Check) -> dict[str, Any]:
        """Each section's dataclass, every key present and passed through ``check``."""
        sections = {}
        for name, cls in self.sections.items():
            given = values.get(name, {})
            kwargs = {}
            for f in dataclasses.fields(cls):
                key = f"{name}.{f.name}"
                if f.name not in given:
                    raise self.error("missing", key=key, source=source)
                kwargs[f.name] = check(key, f.metadata, given[f.name], source)
            sections[name] = cls(**kwargs)
        return sections

    def check_number(
        self, key: str, meta: Mapping[str, Any], value: Any, source: str, *, named_kind: bool
    ) -> int | float:
        """``value`` as the knob's ``int`` or ``float``, inside its range; ``named_kind``
        says ``a whole number``/``a number`` in the allowed values."""
        kind = meta["kind"]
        number_range: Range = meta["range"]
        allowed = number_range.describe(kind if named_kind else None)
        valid_type = isinstance(value, int) if kind == "int" else isinstance(value, int | float)
        if isinstance(value, bool) or not valid_type:
            expected = "a whole number" if kind == "int" else "a number"
            raise self.error(
                f"expected {expected}, got {value!r}", key=key, allowed=allowed, source=source
            )
        if not number_range.admits(float(value)):
            raise self.error(f"{value!r} is out of range", key=key, allowed=allowed, source=source)
        return int(value) if kind == "int" else float(value)
