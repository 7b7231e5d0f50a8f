"""Sectioned TOML configs validated by pydantic (the simulation's, the recommender's).

A config is a packaged, documented TOML file of defaults (``[section]`` tables
of keys), updated by a file of the user's and by overrides (nested, or flat with
dotted keys). Each section is a frozen :class:`Section` model whose fields carry
their type and range; the whole config is a :class:`SectionedConfig` with one
field per section. Every problem is a :class:`ConfigError` naming the dotted
key, what it allows, and where it came from.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

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


# Strict, because TOML already gives typed values: a bool is not a number, a float
# not a whole number, a string not a date (an int given for a float becomes a float).
# NaN and infinities are no one's idea of a knob, so they are out of range.
_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

_EXPECTED = {"int_type": "a whole number", "float_type": "a number"}
_OUT_OF_RANGE = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "finite_number",
}
_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
# Reported before any bad value, as when names were checked while merging.
_SHAPE = {"extra_forbidden", "model_type"}


class Section(BaseModel):
    """A ``[section]`` of a config: frozen, its own keys only, each of its own type."""

    model_config = _STRICT


def invalid(problem: str, allowed: str, *, key: str | None = None) -> PydanticCustomError:
    """The error a config's own validator raises: ``problem`` and what is ``allowed``.

    ``key`` (dotted) names the key of a rule between keys; a field's validator
    leaves it out and its field is named.
    """
    context = {"problem": problem, "allowed": allowed, "key": key}
    return PydanticCustomError("config", "{problem}", context)


class SectionedConfig(BaseModel):
    """A whole config: one :class:`Section` field per ``[section]`` of its TOML file.

    Subclasses name their ``error`` class and packaged defaults (``package``,
    ``default_file``); ``name_kinds`` prefixes ranges in messages with ``a whole
    number``/``a number``.
    """

    model_config = _STRICT

    error: ClassVar[type[ConfigError]]
    package: ClassVar[str]
    default_file: ClassVar[str]
    name_kinds: ClassVar[bool] = False

    # Private, so that a TOML file cannot set it, and no part of equality (__eq__).
    _source: str = PrivateAttr(default="defaults")

    @property
    def source(self) -> str:
        """Where it came from (``defaults``, a file path, ``overrides``), for messages."""
        return self._source

    def __eq__(self, other: object) -> bool:
        # The same values make the same config, wherever they came from.
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    @classmethod
    def default_text(cls) -> str:
        """The documented default config file, as text (a starting point for your own)."""
        return resources.files(cls.package).joinpath(cls.default_file).read_text(encoding="utf-8")

    @classmethod
    def load(
        cls, path: Path | str | None = None, overrides: Mapping[str, Any] | None = None
    ) -> Self:
        """The defaults, updated with the TOML file at ``path`` (if any) and ``overrides``."""
        values = cls._parse(cls.default_text(), "defaults")
        source = "defaults"
        if path is not None:
            source = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as error:
                raise cls.error(
                    f"cannot read the file: {error.strerror or error}", source=source
                ) from None
            values = _merge(values, cls._parse(text, source))
        if overrides:
            source = "overrides" if path is None else f"{source} + overrides"
            values = _merge(values, cls._nest(overrides, source))
        return cls._build(values, source)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Self:
        """A copy with some keys changed, validated like a file.

        ``overrides`` is nested like the TOML (``{"als": {"factors": 32}}``) or
        flat with dotted keys (``{"als.factors": 32}``).
        """
        return self._build(_merge(self.to_dict(), self._nest(overrides, "overrides")), "overrides")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The config as nested plain values, like the TOML file."""
        return self.model_dump()

    @classmethod
    def _parse(cls, text: str, source: str) -> dict[str, Any]:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise cls.error(f"not valid TOML: {error}", source=source) from None

    @classmethod
    def _nest(cls, overrides: Mapping[str, Any], source: str) -> dict[str, Any]:
        nested: dict[str, Any] = {}
        for key, value in overrides.items():
            if "." in key:
                section, _, name = key.partition(".")
                nested.setdefault(section, {})
                if not isinstance(nested[section], dict):
                    raise cls.error(
                        "given both as a value and as a table", key=section, source=source
                    )
                nested[section][name] = value
            elif isinstance(value, Mapping):
                nested.setdefault(key, {}).update(value)
            else:
                nested[key] = value
        return nested

    @classmethod
    def _build(cls, values: dict[str, Any], source: str) -> Self:
        try:
            config = cls.model_validate(values)
        except ValidationError as error:
            first = min(error.errors(), key=lambda detail: detail["type"] not in _SHAPE)
            raise cls._error(first, source) from None
        config._source = source
        return config

    @classmethod
    def _error(cls, detail: ErrorDetails, source: str) -> ConfigError:
        """pydantic's ``detail`` of one problem as the config's error."""
        loc = [str(part) for part in detail["loc"]]
        key = ".".join(loc) or None
        kind, value, context = detail["type"], detail["input"], detail.get("ctx", {})
        problem, allowed = detail["msg"], None
        if kind == "config":
            problem, allowed, key = context["problem"], context["allowed"], context["key"] or key
        elif kind == "extra_forbidden" and len(loc) == 1:
            problem, allowed = "unknown section", ", ".join(cls.model_fields)
        elif kind == "extra_forbidden":
            known = ", ".join(cls._section(loc[0]).model_fields)
            problem, allowed = "unknown key", f"keys of [{loc[0]}]: {known}"
        elif kind == "model_type":
            problem, allowed = "expected a table of keys", f"[{key}]"
        elif kind == "missing":
            problem = "missing"
        elif kind == "literal_error":
            problem, allowed = f"unknown value {value!r}", context["expected"]
        elif kind == "date_type":
            problem, allowed = f"expected a date, got {value!r}", "a TOML date like 2023-01-01"
        elif kind in _EXPECTED:
            problem = f"expected {_EXPECTED[kind]}, got {value!r}"
            allowed = _allowed(cls._section(loc[0]).model_fields[loc[1]], cls.name_kinds)
        elif kind in _OUT_OF_RANGE:
            problem = f"{value!r} is out of range"
            allowed = _allowed(cls._section(loc[0]).model_fields[loc[1]], cls.name_kinds)
        return cls.error(problem, key=key, allowed=allowed, source=source)

    @classmethod
    def _section(cls, name: str) -> type[Section]:
        return cls.model_fields[name].annotation  # type: ignore[return-value]


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update``'s keys, section by section; validation judges the names."""
    merged = dict(base)
    for section, values in update.items():
        old = merged.get(section)
        both = isinstance(old, Mapping) and isinstance(values, Mapping)
        merged[section] = {**old, **values} if both else values
    return merged


def _allowed(field: FieldInfo, name_kind: bool) -> str:
    """``>= 1 and <= 1024`` from the field's bounds, after ``a whole number``/``a number``."""
    bounds = " and ".join(
        f"{sign} {getattr(bound, name):g}"
        for name, sign in _BOUNDS
        for bound in field.metadata
        if getattr(bound, name, None) is not None
    )
    bounds = bounds or "any number"
    if not name_kind:
        return bounds
    return f"{'a whole number' if field.annotation is int else 'a number'} {bounds}"
