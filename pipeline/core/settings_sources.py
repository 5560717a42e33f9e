"""Reading settings from an environment and a ``.env`` file, and saying where each came from.

pydantic-settings maps the variables onto the fields (``REELPIPE_`` + the field's name,
nested fields with ``__``, complex ones as JSON, the credentials by AWS's names); this
module feeds it the environment it is given rather than the process's, so tests and the
Modal app pass their own, and records each field's origin for ``reelpipe config``.

Example::

    loaded = load_settings(Settings, {"REELPIPE_BUCKET": "clips"}, env_file=Path(".env"))
    loaded.settings.storage.bucket # 'clips'
    loaded.origins["bucket"]       # Origin.ENVIRONMENT (by the setting's public name)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from dotenv import dotenv_values
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from pipeline.core.errors import ConfigError
from pipeline.core.setting_groups import SettingsGroup, group_models, grouped

S = TypeVar("S", bound=BaseSettings)
ENV_PREFIX = "REELPIPE_"
NESTED = "__"
# The short names the nested limits and encode settings had before every field had one.
RENAMED = {
    "REELPIPE_MAX_CLIP_BYTES": "REELPIPE_LIMITS__MAX_CLIP_BYTES",
    "REELPIPE_MAX_DURATION_S": "REELPIPE_LIMITS__MAX_DURATION_S",
    "REELPIPE_MAX_PIXELS": "REELPIPE_LIMITS__MAX_PIXELS",
    "REELPIPE_MAX_FPS": "REELPIPE_LIMITS__MAX_FPS",
    "REELPIPE_MAX_DECODED_PIXELS": "REELPIPE_LIMITS__MAX_DECODED_PIXELS",
    "REELPIPE_X264_PRESET": "REELPIPE_FINAL_ENCODE__PRESET",
    "REELPIPE_X264_CRF": "REELPIPE_FINAL_ENCODE__CRF",
}
# Variables of reelpipe's that are not settings: the .env file's own name, and what the
# Modal app file alone reads (the weights' file names on its Volume, a container's role).
NOT_SETTINGS = frozenset(
    {
        "REELPIPE_ENV_FILE",
        "REELPIPE_YOLO_WEIGHTS_NAME",
        "REELPIPE_UPSCALE_WEIGHTS_NAME",
        "REELPIPE_WARM_AT_START",
    }
)
MASK = "**********"
LONG_DEFAULT = "(JSON: `reelpipe config --json`)"
_LONG_DEFAULT = 40


class Origin(StrEnum):
    """Where a setting's value came from, weakest first."""

    DEFAULT = "default"
    ENV_FILE = ".env"
    ENVIRONMENT = "environment"
    ARGUMENT = "argument"


@dataclass(frozen=True)
class LoadedSettings(Generic[S]):
    """Settings and the origin of each top-level field."""

    settings: S
    origins: dict[str, Origin]
    env_file: Path | None


class _GivenEnvironment(EnvSettingsSource):
    """pydantic-settings' environment source, over a mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str | None]) -> None:
        self._given = dict(environ)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._given, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def load_settings(
    cls: type[S],
    env: Mapping[str, str],
    *,
    env_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> LoadedSettings[S]:
    """Settings from defaults < ``env_file`` < ``env`` < ``overrides`` (``None`` ignored)."""
    layers: list[tuple[Origin, dict[str, Any]]] = []
    if env_file is not None:
        file_vars = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
        _refuse_unknown(cls, file_vars, env_file)
        layers.append((Origin.ENV_FILE, _read(cls, file_vars)))
    layers.append((Origin.ENVIRONMENT, _read(cls, env)))
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    layers.append((Origin.ARGUMENT, grouped(cls, given)))
    values: dict[str, Any] = {}
    origins = {row.name: Origin.DEFAULT for row in setting_rows(cls)}
    for origin, layer in layers:
        for name, value in layer.items():
            values[name] = _merged(values.get(name), value)
            for row_name in _given_names(cls, name, value):
                origins[row_name] = origin
    try:
        settings = cls.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
    return LoadedSettings(settings, origins, env_file)


def _given_names(cls: type[BaseSettings], name: str, value: Any) -> list[str]:
    """The rows' names that ``value`` for the field ``name`` sets."""
    fields = value.model_fields_set if isinstance(value, BaseModel) else value
    model = group_models(cls).get(name)
    if model is not None:
        return [model.public_name(field) for field in fields]
    if _plain_model(cls.model_fields[name].annotation) is not None and isinstance(
        fields, dict | set
    ):
        return [f"{name}.{field}" for field in fields]
    return [name]


def _read(cls: type[BaseSettings], env: Mapping[str, str]) -> dict[str, Any]:
    """The settings ``env`` gives, grouped as the model is."""
    return _GivenEnvironment(cls, _as_nested(cls, _renamed(env)))()


def _as_nested(cls: type[BaseSettings], env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with each grouped setting's variable (``REELPIPE_LEASE_TTL_S``) spelled as
    pydantic-settings reads a nested field (``REELPIPE_LEASES__TTL_S``)."""
    by_variable = {
        variable_of(model, field): f"{ENV_PREFIX}{group.upper()}{NESTED}{field.upper()}"
        for group, model in group_models(cls).items()
        for field in model.model_fields
    }
    out: dict[str, str] = {}
    for key, value in env.items():
        out[by_variable.get(key.upper(), key)] = value
    return out


def variable_of(model: type[SettingsGroup], field: str) -> str:
    """The environment variable of a group's field."""
    return model.variables.get(field) or ENV_PREFIX + model.public_name(field).upper()


def _renamed(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the short names of nested settings spelled out (the long name wins)."""
    out = dict(env)
    for short, long in RENAMED.items():
        if out.get(short) and not out.get(long):
            out[long] = out[short]
        out.pop(short, None)
    return out


def _merged(old: Any, new: Any) -> Any:
    """``new`` over ``old``, key by key where both are dicts (nested settings)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **{k: _merged(old.get(k), v) for k, v in new.items()}}
    return new


def _refuse_unknown(cls: type[BaseSettings], file_vars: Mapping[str, str], path: Path) -> None:
    """A ``REELPIPE_`` name in the ``.env`` file that no setting has is a typo: say so."""
    known = {row.variable for row in setting_rows(cls)} | set(RENAMED) | NOT_SETTINGS
    nested = tuple(v.partition(NESTED)[0] + NESTED for v in known if NESTED in v)
    unknown = sorted(
        k
        for k in file_vars
        if k.upper().startswith(ENV_PREFIX)
        and k.upper() not in known
        and not k.upper().startswith(nested)
    )
    if unknown:
        raise ConfigError(f"{path.name}: no such setting {', '.join(unknown)}")


@dataclass(frozen=True)
class SettingRow:
    """One variable of the configuration table."""

    field: str  # dotted: ``storage.bucket``, ``limits.max_pixels``
    variable: str
    default: str
    description: str
    name: str  # what ``reelpipe config`` and the origins call it: ``bucket``, ``limits.max_pixels``
    also: str | None = None  # a short name that works too


def setting_rows(cls: type[BaseSettings]) -> list[SettingRow]:
    """Every variable, in the model's order: groups and blocks of plain values one by one."""
    short = {long: s for s, long in RENAMED.items()}
    groups = group_models(cls)
    rows: list[SettingRow] = []
    for name, field in cls.model_fields.items():
        default = field.get_default(call_default_factory=True)
        model = groups.get(name)
        if model is not None:
            for sub, sub_field in model.model_fields.items():
                rows.append(
                    SettingRow(
                        f"{name}.{sub}",
                        variable_of(model, sub),
                        _shown(getattr(default, sub), sub_field),
                        sub_field.description or "",
                        model.public_name(sub),
                    )
                )
            continue
        variable = ENV_PREFIX + name.upper()
        nested = _plain_model(field.annotation)
        if nested is not None:
            for sub, sub_field in nested.model_fields.items():
                long = f"{variable}{NESTED}{sub.upper()}"
                rows.append(
                    SettingRow(
                        f"{name}.{sub}",
                        long,
                        _shown(getattr(default, sub), sub_field),
                        sub_field.description or "",
                        f"{name}.{sub}",
                        short.get(long),
                    )
                )
            continue
        rows.append(
            SettingRow(name, variable, _shown(default, field), field.description or "", name)
        )
    return rows


def effective_rows(loaded: LoadedSettings[Any]) -> Iterator[tuple[str, str, str, Origin]]:
    """``(name, variable, value, origin)`` of every setting in effect, secrets masked."""
    settings = loaded.settings
    for row in setting_rows(type(settings)):
        top, _, sub = row.field.partition(".")
        value = getattr(settings, top)
        if sub:
            value = getattr(value, sub)
        yield row.name, row.variable, _display(value), loaded.origins[row.name]


def markdown_table(cls: type[BaseSettings]) -> str:
    """The README's configuration table."""
    lines = ["| variable | default | what it sets |", "| --- | --- | --- |"]
    for row in setting_rows(cls):
        name = f"`{row.variable}`" + (f" (or `{row.also}`)" if row.also else "")
        default = f"`{row.default}`" if row.default else "unset"
        if row.default == LONG_DEFAULT:
            default = row.default
        lines.append(f"| {name} | {default} | {row.description.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _plain_model(annotation: Any) -> type[BaseModel] | None:
    """The model type of a block whose fields are all plain values, else None."""
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return None
    plain = (int, float, str, bool)
    if all(f.annotation in plain for f in annotation.model_fields.values()):
        return annotation
    return None


def _shown(value: Any, field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return str(extra["shown_default"])
    text = _display(value)
    return text if len(text) <= _LONG_DEFAULT else LONG_DEFAULT


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json"), separators=(",", ":"))
    if isinstance(value, dict | tuple | list):
        return json.dumps(_jsonable(value), separators=(",", ":"))
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value == float("inf"):
        return "Infinity"
    return value
