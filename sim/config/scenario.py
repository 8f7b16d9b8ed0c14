"""The top-level ``Scenario`` and its loader.

A scenario file is YAML; every section has defaults, so a file states only what it changes.
``load_scenario(name_or_path, overrides)`` reads it (a bare name resolves to
``scenarios/<name>.yaml`` under the repository root), applies ``key.path=value`` overrides to the
raw mapping (values parsed as YAML), validates it with the frozen, ``extra="forbid"`` pydantic
models, and turns every problem into one :class:`ScenarioError` line naming the file, the key
path, the value and the rule, e.g.::

    scenarios/x.yaml: lenders.groups[1].capital_cents=-5: must be > 0

YAML is read by :func:`sim.config.yaml_io.parse_yaml`, the one reader of every file the
project reads: YAML 1.2 scalars (only ``true``/``false`` are booleans, ``backend: off`` stays
the string ``"off"``, ``1e6`` is a float), duplicate keys, anchors and aliases refused, and the
size and nesting capped.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from sim.config.fx import FxConfig
from sim.config.limits import (
    MAX_DEMAND_CENTS,
    MAX_HORIZON_DAYS,
    MAX_TOTAL_CAPITAL_CENTS,
    ConfigModel,
    Seed,
)
from sim.config.market import (
    AuctionConfig,
    BorrowersConfig,
    EngineConfig,
    KpiTargets,
    LatencyConfig,
    LendersConfig,
    PoolConfig,
)
from sim.config.model import ModelConfig, PopulationConfig
from sim.config.world import ChainConfig, ExogenousConfig, OraclesConfig
from sim.config.yaml_io import YamlError, parse_yaml, read_yaml_file

__all__ = [
    "REPO_ROOT",
    "SCENARIO_DIR",
    "Scenario",
    "ScenarioError",
    "available_scenarios",
    "check_seed",
    "load_scenario",
]

#: The repository root (``scenarios/`` lives here).
REPO_ROOT = Path(__file__).resolve().parents[2]
SCENARIO_DIR = REPO_ROOT / "scenarios"


class ScenarioError(ValueError):
    """A scenario that cannot be loaded: one line naming file, key path, value and rule."""


class Scenario(ConfigModel):
    """A complete, validated simulation scenario (frozen; unknown keys rejected everywhere;
    every number finite and bounded, see ``sim.config.limits``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="scenario name (run dir)")
    description: str = Field(default="", max_length=4000)
    seed: Seed = Field(default=0, description="root of the run's SeedSequence")
    start_date: date = Field(default=date(2025, 1, 6), description="calendar date at t_s=0")
    horizon_days: float = Field(
        default=30.0, gt=0.0, le=MAX_HORIZON_DAYS, description="simulated days"
    )
    population: PopulationConfig = Field(default_factory=PopulationConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    borrowers: BorrowersConfig = Field(default_factory=BorrowersConfig)
    lenders: LendersConfig = Field(default_factory=LendersConfig)
    pool: PoolConfig = Field(default_factory=PoolConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    auction: AuctionConfig = Field(default_factory=AuctionConfig)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    kpi_targets: KpiTargets = Field(default_factory=KpiTargets)
    exogenous: ExogenousConfig = Field(default_factory=ExogenousConfig)
    oracles: OraclesConfig = Field(default_factory=OraclesConfig)
    chain: ChainConfig = Field(default_factory=ChainConfig)
    fx: FxConfig = Field(default_factory=FxConfig)

    _source_path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _within_horizon(self) -> Scenario:
        end_day = self.horizon_days
        for i, shock in enumerate(self.exogenous.cdi.shocks):
            if shock.at_day > end_day:
                raise ValueError(
                    f"exogenous.cdi.shocks[{i}].at_day={shock.at_day} is beyond "
                    f"horizon_days={end_day}"
                )
        for feed in ("cdi", "usdbrl"):
            for i, fault in enumerate(getattr(self.oracles, feed).faults):
                if fault.start_s > end_day * 86_400:
                    raise ValueError(
                        f"oracles.{feed}.faults[{i}].start_s={fault.start_s} is beyond the "
                        f"horizon (horizon_days={end_day} = {end_day * 86_400:g} s)"
                    )
        return self

    @model_validator(mode="after")
    def _within_int64(self) -> Scenario:
        """Sums the engine forms stay int64 with room for interest (``sim.config.limits``)."""
        groups = self.lenders.groups
        capital = sum(g.count * g.capital_cents for g in groups) + self.pool.capital_cents
        if capital > MAX_TOTAL_CAPITAL_CENTS:
            raise ValueError(
                f"lenders.groups: sum of count * capital_cents + pool.capital_cents = {capital}:"
                f" must be <= {MAX_TOTAL_CAPITAL_CENTS} (R$ 10 trillion)"
            )
        demand = (
            self.borrowers.arrivals_per_day * self.horizon_days * self.population.amount_max_cents
        )
        if demand > MAX_DEMAND_CENTS:
            raise ValueError(
                f"population.amount_max_cents={self.population.amount_max_cents}: with "
                f"borrowers.arrivals_per_day={self.borrowers.arrivals_per_day:g} over "
                f"horizon_days={self.horizon_days:g} up to {demand:.3g} cents may be requested:"
                f" must be <= {MAX_DEMAND_CENTS:.0e}"
            )
        return self

    @model_validator(mode="after")
    def _within_calendar(self) -> Scenario:
        """Every request is priced over ``[request date, request date + term)`` with the
        Brazilian business-day calendar, which only knows 2020-2035: the longest term priced
        on the last day of the horizon must end inside it."""
        from datetime import timedelta

        from market.calendar import SUPPORTED_YEARS, business_days_between
        from market.schedule import monthly_due_dates

        term = max(self.population.terms_months)
        last = self.start_date + timedelta(days=math.ceil(self.horizon_days))
        try:
            end = monthly_due_dates(last, term)[-1]
            business_days_between(self.start_date, end)
        except ValueError:
            years = f"{SUPPORTED_YEARS.start}-{SUPPORTED_YEARS.stop - 1}"
            raise ValueError(
                f"start_date={self.start_date.isoformat()}: pricing needs the business-day "
                f"calendar from start_date to start_date + horizon_days={self.horizon_days:g} "
                f"+ the longest of population.terms_months ({term} months), but it only "
                f"covers {years}"
            ) from None
        return self

    @property
    def source_path(self) -> Path | None:
        """The file this scenario was loaded from (None when built in code)."""
        return self._source_path

    @property
    def horizon_s(self) -> float:
        """The horizon in seconds of simulated time."""
        return self.horizon_days * 86_400.0

    def canonical_dict(self) -> dict[str, Any]:
        """The validated scenario as plain JSON types (dates as ISO strings, tuples as lists).

        ``fx`` is left out while it is the default (disabled) section, so a scenario written
        before FX existed keeps its canonical form, hash and run directory name."""
        exclude = {"fx"} if self.fx == FxConfig() else None
        return self.model_dump(mode="json", exclude=exclude)

    def canonical_json(self) -> str:
        """Canonical JSON text: sorted keys, no spaces, ASCII."""
        return json.dumps(
            self.canonical_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True
        )

    def config_hash(self) -> str:
        """sha256 hex of :meth:`canonical_json` (every field, defaults included)."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- YAML


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return parse_yaml(text, where)
    except YamlError as err:
        raise ScenarioError(str(err)) from None


# ----------------------------------------------------------------------------- paths & overrides

_TOKEN_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def _parse_key_path(path: str) -> list[str | int]:
    """``a.b[2].c`` -> ``["a", "b", 2, "c"]``; ValueError on anything else."""
    tokens: list[str | int] = []
    pos = 0
    for part in path.split("."):
        if not part:
            raise ValueError(f"empty segment in key path {path!r}")
        pos = 0
        first = True
        while pos < len(part):
            m = _TOKEN_RE.match(part, pos)
            if m is None or (first and m.group(1) is None) or (not first and m.group(1)):
                raise ValueError(f"bad key path {path!r} (expected a.b[2].c)")
            tokens.append(m.group(1) if m.group(1) else int(m.group(2)))
            pos = m.end()
            first = False
    return tokens


def _default_at(tokens: Sequence[str | int]) -> Any:
    """The schema default (as plain JSON data) of the field addressed by ``tokens``, or None.

    Lets an override index into a list the file does not state, e.g.
    ``oracles.usdbrl.primary[0].noise=0.01`` edits the default feeders. Without a list index
    on the way the default comes from the section's default instance (so a section's own
    defaulting, such as the per-feed feeder sets, is honoured); past a list index it is the
    field default of the element's model."""
    if not any(isinstance(t, int) for t in tokens):
        info = Scenario.model_fields.get(str(tokens[0]))
        if info is None or info.is_required():
            return None
        node: Any = TypeAdapter(info.annotation).dump_python(
            info.get_default(call_default_factory=True), mode="json"
        )
        for tok in tokens[1:]:
            if not isinstance(node, dict) or tok not in node:
                return None
            node = node[tok]
        return node
    cls: Any = Scenario
    for j, tok in enumerate(tokens):
        if isinstance(tok, int):
            continue
        fields = getattr(cls, "model_fields", None)
        if not fields or tok not in fields:
            return None
        info = fields[tok]
        if j == len(tokens) - 1:
            if info.is_required():
                return None
            default = info.get_default(call_default_factory=True)
            return TypeAdapter(info.annotation).dump_python(default, mode="json")
        cls = _model_of(info.annotation)
        if cls is None:
            return None
    return None


def format_key_path(loc: Sequence[str | int]) -> str:
    """``["a", "b", 2, "c"]`` -> ``a.b[2].c``."""
    out = ""
    for item in loc:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else str(item)
    return out


def _apply_override(raw: dict[str, Any], spec: str, where: str) -> None:
    if "=" not in spec:
        raise ScenarioError(f"{where}: override {spec!r}: expected key.path=value")
    key, _, text = spec.partition("=")
    key = key.strip()
    try:
        tokens = _parse_key_path(key)
    except ValueError as err:
        raise ScenarioError(f"{where}: override {spec!r}: {err}") from None
    if not isinstance(tokens[0], str):
        raise ScenarioError(f"{where}: override {spec!r}: must start with a key")
    value = _parse_yaml(text, f"{where}: override {spec!r}")
    node: Any = raw
    for i, tok in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        here = format_key_path(tokens[: i + 1])
        if isinstance(tok, int):
            if not isinstance(node, list) or tok >= len(node):
                size = len(node) if isinstance(node, list) else 0
                raise ScenarioError(
                    f"{where}: override {spec!r}: {here}: index out of range (list has {size} items)"
                )
            node = node[tok]
        else:
            if not isinstance(node, dict):
                raise ScenarioError(f"{where}: override {spec!r}: {here}: parent is not a mapping")
            if node.get(tok) is None:
                default = _default_at(tokens[: i + 1])
                if isinstance(nxt, int) and not isinstance(default, list):
                    raise ScenarioError(
                        f"{where}: override {spec!r}: {here}: no list here to index "
                        f"(set the whole list instead, e.g. {here}=[...])"
                    )
                node[tok] = default if isinstance(default, dict | list) else {}
            node = node[tok]
    last = tokens[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            size = len(node) if isinstance(node, list) else 0
            raise ScenarioError(
                f"{where}: override {spec!r}: {key}: index out of range (list has {size} items)"
            )
        node[last] = value
    else:
        if not isinstance(node, dict):
            raise ScenarioError(f"{where}: override {spec!r}: {key}: parent is not a mapping")
        node[last] = value


# ----------------------------------------------------------------------------- errors


def _render_value(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<integer of {len(format(value, 'x')) * 4} bits>"  # str() refuses > 4300 digits
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, int | float | date):
        text = str(value)
    else:
        text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _clean_loc(raw: Any, loc: Sequence[str | int]) -> tuple[list[str | int], Any, bool]:
    """Keep the loc elements that address the raw input (drop pydantic's union/type tags).

    Returns (path, raw value at the path, whether the path exists in the input)."""
    path: list[str | int] = []
    node: Any = raw
    present = True
    for item in loc:
        if isinstance(node, dict) and isinstance(item, str):
            path.append(item)
            if item in node:
                node = node[item]
            else:
                node, present = None, False
        elif isinstance(node, list | tuple) and isinstance(item, int):
            path.append(item)
            node = node[item] if item < len(node) else None
        elif not present and isinstance(item, str | int):
            path.append(item)
        # else: a pydantic tag such as 'int' or 'function-after[...]' -> skip
    return path, node, present


def _allowed_keys(model: type[BaseModel], path: Sequence[str | int]) -> list[str] | None:
    """Field names of the model that owns the last key of ``path`` (None if unknown)."""
    cls: Any = model
    for item in path[:-1]:
        if isinstance(item, int):
            continue
        fields = getattr(cls, "model_fields", None)
        if not fields or item not in fields:
            return None
        cls = _model_of(fields[item].annotation)
        if cls is None:
            return None
    fields = getattr(cls, "model_fields", None)
    return sorted(fields) if fields else None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _rule(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    simple = {
        "greater_than": "must be > {gt}",
        "greater_than_equal": "must be >= {ge}",
        "less_than": "must be < {lt}",
        "less_than_equal": "must be <= {le}",
        "missing": "is required",
        "int_type": "must be an integer",
        "int_parsing": "must be an integer",
        "int_from_float": "must be a whole number",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "string_type": "must be a string",
        "model_type": "must be a mapping of keys",
        "model_attributes_type": "must be a mapping of keys",
        "dict_type": "must be a mapping",
        "list_type": "must be a list",
        "tuple_type": "must be a list",
        "date_type": "must be a date (YYYY-MM-DD)",
        "date_parsing": "must be a date (YYYY-MM-DD)",
        "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
        "too_short": "must have at least {min_length} items",
        "too_long": "must have at most {max_length} items",
        "string_too_short": "must have at least {min_length} characters",
        "string_too_long": "must have at most {max_length} characters",
        "string_pattern_mismatch": "must match {pattern}",
        "multiple_of": "must be a multiple of {multiple_of}",
        "finite_number": "must be a finite number",
    }
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '?')}"
    if kind == "enum":
        return f"must be one of {ctx.get('expected', '?')}"
    if kind == "value_error":
        msg = str(err["msg"])
        return msg.removeprefix("Value error, ")
    if kind in simple:
        try:
            return simple[kind].format(**ctx)
        except (KeyError, IndexError):
            return simple[kind]
    msg = str(err["msg"])
    return msg[:1].lower() + msg[1:]


def check_seed(field: str, value: int) -> int:
    """``value`` if the scenario schema accepts it as a seed (``0 <= seed < 2**63``), else
    :class:`ScenarioError` ``field=value: rule`` with the schema's rule (``ce run --seed``)."""
    try:
        return _SEED.validate_python(value, strict=True)
    except ValidationError as err:
        raise ScenarioError(f"{field}={_render_value(value)}: {_rule(err.errors()[0])}") from None


_SEED: TypeAdapter[int] = TypeAdapter(Seed)


def _related(a: str, b: str) -> bool:
    """Whether key paths ``a`` and ``b`` are equal or one contains the other."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return long.startswith((short + ".", short + "["))


def _translate(err: ValidationError, raw: Any, where: str, overridden: set[str]) -> ScenarioError:
    cleaned = [(e, *_clean_loc(raw, e["loc"])) for e in err.errors(include_url=False)]
    # an error on a container whose items also failed is only a consequence of theirs
    paths = [tuple(c[1]) for c in cleaned]
    cleaned = [
        c
        for c in cleaned
        if not any(len(q) > len(c[1]) and q[: len(c[1])] == tuple(c[1]) for q in paths)
    ]
    lines = []
    for e, path, value, present in cleaned:
        key = format_key_path(path) or "(top level)"
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(Scenario, path)
            hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
            text = f"{key}: unknown key{hint}"
        elif e["type"] == "missing":
            text = f"{key}: is required"
        elif isinstance(value, dict | list) or not present:
            text = f"{key}: {_rule(e)}"
        else:
            text = f"{key}={_render_value(value)}: {_rule(e)}"
        if any(_related(o, key) for o in overridden):
            text += " (set by override)"
        lines.append(text)
    lines = [ln.removeprefix("(top level): ") for ln in lines]
    more = f" (+{len(lines) - 1} more: {'; '.join(lines[1:])})" if len(lines) > 1 else ""
    return ScenarioError(f"{where}: {lines[0]}{more}")


# ----------------------------------------------------------------------------- loading


def available_scenarios() -> list[str]:
    """Names of the shipped scenarios (``scenarios/*.yaml`` stems), sorted."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        try:
            return str(path.resolve().relative_to(REPO_ROOT))
        except ValueError:
            return str(path)


def _resolve(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    looks_like_path = (
        isinstance(name_or_path, Path) or "/" in text or text.endswith((".yaml", ".yml"))
    )
    if not looks_like_path:
        path = SCENARIO_DIR / f"{text}.yaml"
        if not path.is_file():
            names = ", ".join(available_scenarios()) or "none"
            raise ScenarioError(f"unknown scenario {text!r}; available: {names}")
        return path
    path = Path(name_or_path)
    if not path.is_file():
        raise ScenarioError(f"{_display(path)}: file not found")
    return path


def scenario_from_mapping(
    raw: Mapping[str, Any], *, where: str = "<scenario>", overrides: Sequence[str] = ()
) -> Scenario:
    """Validate a raw mapping (plus overrides) into a :class:`Scenario`."""
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: (top level): must be a mapping of keys")
    data = _deep_copy(raw)
    overridden: set[str] = set()
    for spec in overrides:
        _apply_override(data, spec, where)
        overridden.add(spec.partition("=")[0].strip())
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise _translate(err, data, where, overridden) from None


def _deep_copy(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _deep_copy(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_deep_copy(v) for v in node]
    return node


def load_scenario(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Load, override and validate a scenario; raise :class:`ScenarioError` on any problem.

    ``name_or_path``: a shipped scenario name (``baseline``) or a path to a YAML file.
    ``overrides``: ``key.path=value`` strings (``oracles.cdi.primary[0].noise=0.01``), the value
    parsed as YAML, applied to the raw mapping before validation. A file without ``name`` gets
    its file stem.
    """
    path = _resolve(name_or_path)
    where = _display(path)
    try:
        raw = read_yaml_file(path, where)
    except YamlError as err:
        raise ScenarioError(str(err)) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ScenarioError(
            f"{where}: (top level): must be a mapping of keys, got {type(raw).__name__}"
        )
    bad = [k for k in raw if not isinstance(k, str)]
    if bad:
        raise ScenarioError(f"{where}: {bad[0]!r}: keys must be strings")
    raw.setdefault("name", path.stem)
    scenario = scenario_from_mapping(raw, where=where, overrides=overrides)
    scenario._source_path = path.resolve()
    return scenario
