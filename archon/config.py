"""Architecture configs: loading (JSON or YAML), validation, construction rules and cost.

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

BUILTIN_TYPES = (
    "generator",
    "fuser",
    "ranker",
    "critic",
    "verifier",
    "unit_test_generator",
    "unit_test_evaluator",
)
# Components that judge or filter candidates: alone in their layer, never in layer 1 (paper rule 4).
SOLO_TYPES = ("ranker", "critic", "verifier", "unit_test_generator", "unit_test_evaluator")
# How many candidates a ranker keeps when its config names no top_k.
DEFAULT_RANKER_TOP_K = 5


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
    # Unit test evaluator: judge with an LLM ("llm", the paper's way) or run the candidates against the tests ("execute").
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
    if is_file:
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
        raise ConfigError(f"config is not a plausible {kind} config: nested more than {MAX_CONFIG_DEPTH} levels deep") from None
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
                raise ConfigError(f"config is not a plausible YAML config: its aliases expand to more than "
                                  f"{MAX_CONFIG_NODES} values")
            if depth[key] > MAX_CONFIG_DEPTH:
                raise ConfigError(f"config is not a plausible YAML config: nested more than {MAX_CONFIG_DEPTH} levels deep")
            continue
        if key in size:
            continue
        ancestors.add(key)
        stack.append((node, True))
        for kid in _yaml_children(node):
            if id(kid) in ancestors:
                raise ConfigError("config is not a plausible YAML config: an alias refers to itself (a recursive structure)")
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
class Finding:
    level: str  # "error" or "warning"
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


def check_rules(config: ArchitectureConfig) -> list[Finding]:
    """The paper's construction rules, as errors, plus warnings for legal but doubtful choices."""
    out: list[Finding] = []
    seen_critic = False
    for li, layer in enumerate(config.layers):
        n = li + 1
        types = [c.type for c in layer]
        builtin = [t for t in types if t in BUILTIN_TYPES]
        if len(set(builtin)) > 1:
            out.append(Finding("error", f"layer {n} mixes component types {sorted(set(builtin))}; use one type per layer"))
        if "generator" in types and li > 0:
            out.append(Finding("error", f"layer {n} has a generator; generators go only in layer 1"))
        if li == 0 and any(t in BUILTIN_TYPES and t != "generator" for t in types):
            out.append(Finding("error", "layer 1 must hold generators (only they start from the bare conversation)"))
        for t in SOLO_TYPES:
            if t in types and len(layer) > 1:
                out.append(Finding("error", f"layer {n}: a {t} must be alone in its layer"))
        for c in layer:
            if c.type in ("ranker", "fuser") and c.use_critiques and not seen_critic:
                out.append(Finding("error", f"layer {n}: {c.type} uses critiques but no critic comes before it"))
        if "critic" in types:
            seen_critic = True
        if "unit_test_generator" in types:
            nxt = config.layers[li + 1] if li + 1 < len(config.layers) else []
            if not any(c.type == "unit_test_evaluator" for c in nxt):
                out.append(Finding("error", f"layer {n}: a unit_test_generator must be followed directly by a unit_test_evaluator"))
        if "unit_test_evaluator" in types:
            prev = config.layers[li - 1] if li > 0 else []
            if not any(c.type == "unit_test_generator" for c in prev):
                out.append(Finding("error", f"layer {n}: a unit_test_evaluator needs a unit_test_generator in the layer just before"))
    out.extend(_local_model_warnings(config))
    final = _walk(config)[1]
    if final != 1 and all(c.type in BUILTIN_TYPES for c in config.layers[-1]):
        out.append(
            Finding(
                "warning",
                f"the last layer can leave {final} candidates; the first one is the answer. "
                "End with a single fuser (samples 1), or a ranker with top_k 1, for one final answer.",
            )
        )
    return out


def _local_model_warnings(config: ArchitectureConfig) -> list[Finding]:
    """A model name that only a hosted provider knows, left to the embedded model by a missing model_type."""
    from .providers.local import DEFAULT_LOCAL_MODEL
    from .providers.registry import get_spec

    out = []
    for li, layer in enumerate(config.layers):
        for ci, c in enumerate(layer):
            try:
                local = get_spec(c.model_type).name == "local"
            except ConfigError:
                continue
            if local and c.model and not c.model.endswith(".gguf") and c.model.lower() != DEFAULT_LOCAL_MODEL.lower():
                out.append(Finding("warning", f"layer {li + 1}, component {ci + 1} ({c.type}): model {c.model!r} has no "
                                              f"model_type, so the embedded {DEFAULT_LOCAL_MODEL} answers for it; "
                                              "set model_type (e.g. OpenAI_API) to use that model"))
    return out


def _walk(config: ArchitectureConfig, *, max_candidates: int | None = None,
          with_parse_retries: bool = True) -> tuple[int, int]:
    """Worst-case LLM calls per query, and the most candidates the last layer can leave.

    Custom components count as one call per sample and pass the candidate count on.
    """
    candidates = 0
    total = 0
    for layer in config.layers:
        new_candidates = 0
        passthrough = False
        for c in layer:
            # A reply that must parse (ranking, critiques, verdict, tests) may be asked again.
            asks = 1 + (c.parse_retries if with_parse_retries else 0)
            t = c.type
            if t in ("generator", "fuser"):
                total += c.samples
                new_candidates += c.samples
            elif t == "ranker":
                total += asks
                new_candidates = max(new_candidates, min(candidates, c.top_k or DEFAULT_RANKER_TOP_K))
            elif t in ("critic", "unit_test_generator"):
                total += asks
                passthrough = True
            elif t == "verifier":
                total += (1 + asks) * candidates  # reasoning, then a verdict that must parse
                passthrough = True
            elif t == "unit_test_evaluator":
                total += asks * candidates if c.evaluation == "llm" else 0
                new_candidates = max(new_candidates, min(candidates, c.top_k or candidates))
            else:
                total += c.samples
                passthrough = True
        candidates = candidates if passthrough and new_candidates == 0 else new_candidates
        if max_candidates is not None:
            candidates = min(candidates, max_candidates)
    return total, candidates


def calls_per_query(config: ArchitectureConfig, *, max_candidates: int | None = None,
                    with_parse_retries: bool = True) -> int:
    """Worst-case number of LLM calls one query makes: every reply that must parse re-asked
    ``parse_retries`` times, unless ``with_parse_retries=False`` (every reply parses at once)."""
    return _walk(config, max_candidates=max_candidates, with_parse_retries=with_parse_retries)[0]
