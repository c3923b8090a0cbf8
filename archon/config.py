"""Architecture configs: the schema, and loading (JSON or YAML) with validation.

The construction rules and the cost per query are computed from the component types'
declarations, in :mod:`archon.components.rules`.

The Archon JSON format loads unchanged::

    {"name": "...", "layers": [[{"type": "generator", "model": "...", "model_type": "Together_API", ...}], ...]}

A layer may also be the older object form ``{"models": [{...}, ...]}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError


class ComponentConfig(BaseModel):
    """One component of a layer. Unknown keys are kept (custom components read them)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str
    # None means the embedded local model.
    model: str | None = None
    # Provider name: an Archon name (OpenAI_API, Together_API, vLLM, ...), a registered provider, or a custom generator.
    model_type: str | None = None
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    # The reference code's configs also call this max_context_length.
    max_tokens: int = Field(2048, ge=1)
    samples: int = Field(1, ge=1, le=1000)
    top_k: int | None = Field(None, ge=1)
    use_critiques: bool = False
    length_control: bool = False
    first_k: int | None = Field(None, ge=1)
    unit_test_cap: int | None = Field(None, ge=1)
    # Unit test evaluator: judge with an LLM ("llm", the paper's way)
    # or run the candidates against the tests ("execute").
    evaluation: str = "llm"
    # Provider connection overrides for this component.
    base_url: str | None = None
    api_key_env: str | None = None
    # Bounded re-asks when an LLM reply does not parse, before the component falls back to its stated default.
    parse_retries: int = Field(2, ge=0, le=10)

    @model_validator(mode="before")
    @classmethod
    def _legacy_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_tokens" not in data and "max_context_length" in data:
            data = dict(data)
            data["max_tokens"] = data.pop("max_context_length")
        return data

    @field_validator("type")
    @classmethod
    def _type_name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must name a component type")
        return v

    @field_validator("evaluation")
    @classmethod
    def _evaluation(cls, v: str) -> str:
        if v not in ("llm", "execute"):
            raise ValueError("must be 'llm' or 'execute'")
        return v

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def label(self) -> str:
        return f"{self.type}:{self.model or 'local'}"


class ArchitectureConfig(BaseModel):
    """A whole architecture: a name and layers of components, run in order."""

    model_config = ConfigDict(extra="allow")

    name: str = "archon"
    layers: list[list[ComponentConfig]]

    @field_validator("layers", mode="before")
    @classmethod
    def _layer_forms(cls, v: Any) -> Any:
        if not isinstance(v, list):
            raise ValueError("must be a list of layers")
        out = []
        for layer in v:
            if isinstance(layer, dict):
                if "models" not in layer:
                    raise ValueError("a layer given as an object needs a 'models' list")
                layer = layer["models"]
            out.append(layer)
        return out

    @field_validator("layers")
    @classmethod
    def _non_empty(cls, v: list[list[ComponentConfig]]) -> list[list[ComponentConfig]]:
        if not v:
            raise ValueError("an architecture needs at least one layer")
        for i, layer in enumerate(v):
            if not layer:
                raise ValueError(f"layer {i + 1} is empty")
        return v


def _format_validation_error(err: ValidationError, raw: Any) -> str:
    lines = []
    for e in err.errors():
        loc = list(e["loc"])
        where = []
        if len(loc) >= 3 and loc[0] == "layers" and isinstance(loc[1], int) and isinstance(loc[2], int):
            li, ci = loc[1], loc[2]
            comp_type = "?"
            try:
                layer = raw["layers"][li]
                layer = layer["models"] if isinstance(layer, dict) else layer
                comp_type = layer[ci].get("type", "?")
            except Exception:
                pass
            where.append(f"layer {li + 1}, component {ci + 1} ({comp_type})")
            rest = [str(x) for x in loc[3:]]
            if rest:
                where.append(f"field {'.'.join(rest)!r}")
        else:
            where.append(f"field {'.'.join(str(x) for x in loc)!r}" if loc else "config")
        lines.append(f"{', '.join(where)}: {e['msg']}")
    return "invalid architecture config:\n  " + "\n  ".join(lines)


def parse_config(raw: Any) -> ArchitectureConfig:
    """Validate a config given as a dict (or an ArchitectureConfig)."""
    if isinstance(raw, ArchitectureConfig):
        return raw
    if not isinstance(raw, dict):
        raise ConfigError("an architecture config must be a JSON/YAML object with a 'layers' list")
    try:
        return ArchitectureConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, raw)) from None


def load_config(source: str | Path | dict | ArchitectureConfig) -> ArchitectureConfig:
    """Load a config from a dict, a JSON/YAML file path, or JSON/YAML text."""
    if isinstance(source, (dict, ArchitectureConfig)):
        return parse_config(source)
    text: str
    path = Path(source) if not str(source).lstrip().startswith(("{", "name:", "layers:")) else None
    try:
        is_file = path is not None and path.is_file()
    except OSError:  # text too long to be a file name: it is the config itself
        is_file, path = False, None
    if path is not None and is_file:
        text = path.read_text(encoding="utf-8")
        is_yaml = path.suffix.lower() in (".yaml", ".yml")
    elif path is not None and path.suffix.lower() in (".json", ".yaml", ".yml"):
        raise ConfigError(f"config file {str(path)!r} does not exist")
    else:
        text = str(source)
        is_yaml = not text.lstrip().startswith("{")
    kind = "YAML" if is_yaml else "JSON"
    try:
        raw = _parse_yaml(text) if is_yaml else json.loads(text)
        if not is_yaml:
            _check_depth(raw)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"config is not valid {kind}: {e}") from None
    except RecursionError:
        raise ConfigError(
            f"config is not a plausible {kind} config: nested more than {MAX_CONFIG_DEPTH} levels deep"
        ) from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise ConfigError(f"config is not a plausible {kind} config: {e}") from None
    return parse_config(raw)


# A config is refused when its shape is out of proportion, before anything is built from it:
# a few hundred bytes of nested YAML aliases expand to billions of nodes.
#: The deepest nesting of lists and objects (a config needs about six levels).
MAX_CONFIG_DEPTH = 100
#: The most values (lists, objects, scalars) a config may hold, each alias counted every time it is used.
MAX_CONFIG_NODES = 100_000


def _parse_yaml(text: str) -> Any:
    """YAML through the safe loader, its node graph checked before it is expanded into Python values."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_yaml_shape(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _yaml_children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_yaml_shape(root: yaml.Node) -> None:
    """Refuse recursive aliases, nesting past MAX_CONFIG_DEPTH and more than MAX_CONFIG_NODES values
    once aliases are expanded; computed on the composed nodes, where an alias is one shared node."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    ancestors: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            ancestors.discard(key)
            kids = _yaml_children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_CONFIG_NODES:
                raise ConfigError(
                    f"config is not a plausible YAML config: its aliases expand to more than {MAX_CONFIG_NODES} values"
                )
            if depth[key] > MAX_CONFIG_DEPTH:
                raise ConfigError(
                    f"config is not a plausible YAML config: nested more than {MAX_CONFIG_DEPTH} levels deep"
                )
            continue
        if key in size:
            continue
        ancestors.add(key)
        stack.append((node, True))
        for kid in _yaml_children(node):
            if id(kid) in ancestors:
                raise ConfigError(
                    "config is not a plausible YAML config: an alias refers to itself (a recursive structure)"
                )
            if id(kid) not in size:
                stack.append((kid, False))


def _check_depth(data: Any) -> None:
    """Refuse JSON nested deeper than MAX_CONFIG_DEPTH (checked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, level = stack.pop()
        if level > MAX_CONFIG_DEPTH:
            raise ConfigError(f"config is not a plausible JSON config: nested more than {MAX_CONFIG_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, level + 1) for v in value)


# --- construction rules and cost -------------------------------------------------------


@dataclass
@dataclass(frozen=True)
class Finding:
    """Something a check found in a config (see :func:`archon.check_rules`)."""

    level: str  # "error" or "warning"
    message: str
    # An error that keeps the architecture from being built at all (an unknown component type or
    # provider), not only a broken construction rule.
    blocks_running: bool = False

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"
