"""Search spaces: what architectures a search may try, as named axes, and the Archon config of each point.

Two forms, both read from YAML or JSON by :func:`load_space`:

* The paper's axes over a list of candidate models (:class:`PaperSpace`)::

      models: [{model: ..., model_type: ..., base_url: ...}, ...]
      rank_models: true        # score each model alone on the dev split first and order them
      fuser_model: null        # fusers, critic, ranker, verifier and unit tests; default: the top-ranked model
      axes:
        generators: [1, 10]           # the top-K models act as generators
        samples: [1, 5]               # per generator
        fusion_layers: [1, 4]         # the last has one fuser; 0 means no fuser
        fusers_per_layer: [2, 10, 2]  # min, max, step (the fusion layers before the last)
        critic_ranker: [false, true]  # critic + ranker before each fusion layer
        evaluation: [none, verifier, unit_tests]  # before the last fuser
      template: {temperature: 0.7, max_tokens: 2048}

* Any Archon config whose values may be ``{"choice": [...]}``, ``{"int": [lo, hi, step]}`` or
  ``{"float": [lo, hi]}`` (:class:`ConfigSpace`); the axes are named by where they sit
  (``layers.1.0.samples``).

An axis given as a two- or three-number list is a range ``[min, max(, step)]``; any other list is
the values themselves; a single value fixes the axis. A point whose config breaks a construction
rule is not part of the space. Every error names the axis it is about.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..components import check_rules
from ..config import ArchitectureConfig, parse_config
from ..errors import ArchonError, ConfigError

Params = dict[str, Any]

# How many points a space may have for the search to list them all (budget filter, samplers, grid).
MAX_ENUMERATED = 200_000


class SpaceError(ConfigError):
    """A search space file is malformed; the message names the axis."""


@dataclass(frozen=True)
class Axis:
    """One dimension of a space: a finite ordered list of values, or a float interval."""

    name: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None

    @property
    def is_float(self) -> bool:
        return self.low is not None

    @property
    def by_index(self) -> bool:
        """Values that Optuna cannot store (components, layers) are chosen by their index."""
        return not self.is_float and not all(v is None or isinstance(v, (bool, int, float, str)) for v in self.values)

    @property
    def choices(self) -> tuple[Any, ...]:
        """What a trial's parameter takes: the values, or their indices."""
        return tuple(range(len(self.values))) if self.by_index else self.values

    def value(self, param: Any) -> Any:
        return self.values[param] if self.by_index else param

    @property
    def numeric(self) -> bool:
        """Values ordered on a number line (ints, floats), so samplers may treat them as such."""
        return self.is_float or all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)

    def distribution(self):
        import optuna

        if self.low is not None and self.high is not None:  # is_float: parse_axis sets both bounds
            return optuna.distributions.FloatDistribution(self.low, self.high)
        if self.numeric and len(self.values) > 1 and _evenly_spaced(self.values):
            step = self.values[1] - self.values[0]
            return optuna.distributions.IntDistribution(self.values[0], self.values[-1], step=step)
        return optuna.distributions.CategoricalDistribution(list(self.choices))


def _evenly_spaced(values: Sequence[Any]) -> bool:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return False
    steps = {b - a for a, b in itertools.pairwise(values)}
    return len(steps) == 1 and steps.pop() > 0


def parse_axis(name: str, spec: Any, *, kind: str | None = None) -> Axis:
    """An axis from its spec: ``[min, max(, step)]``, a list of values, one value, or a
    ``{"choice"|"int"|"float": ...}`` form. ``kind`` "int" or "bool" checks the values."""

    def bad(msg: str) -> SpaceError:
        return SpaceError(f"axis {name!r}: {msg}")

    if isinstance(spec, Mapping):
        if len(spec) != 1 or next(iter(spec)) not in ("choice", "int", "float"):
            raise bad(f"expected {{choice: [...]}}, {{int: [lo, hi, step]}} or {{float: [lo, hi]}}, got {spec!r}")
        form, arg = next(iter(spec.items()))
        if form == "choice":
            if not isinstance(arg, list) or not arg:
                raise bad("'choice' needs a non-empty list of values")
            values = tuple(arg)
        elif form == "int":
            values = _int_range(bad, arg)
        else:
            if (
                not isinstance(arg, list)
                or len(arg) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in arg)
                or arg[0] > arg[1]
            ):
                raise bad(f"'float' needs [low, high] with low <= high, got {arg!r}")
            if kind is not None:
                raise bad("this axis takes whole values, not a float interval")
            return Axis(name, low=float(arg[0]), high=float(arg[1]))
    elif isinstance(spec, list):
        if not spec:
            raise bad("empty list of values")
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in spec)
        values = _int_range(bad, spec) if ints and len(spec) in (2, 3) and kind != "bool" else tuple(spec)
    else:
        values = (spec,)
    if len(set(map(_freeze, values))) != len(values):
        raise bad(f"values repeat: {list(values)!r}")
    if kind == "int" and not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise bad(f"values must be whole numbers >= 0, got {list(values)!r}")
    if kind == "bool" and not all(isinstance(v, bool) for v in values):
        raise bad(f"values must be true or false, got {list(values)!r}")
    return Axis(name, values=values)


def _int_range(bad, arg: Any) -> tuple[int, ...]:
    if (
        not isinstance(arg, list)
        or len(arg) not in (2, 3)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in arg)
    ):
        raise bad(f"a range is [min, max] or [min, max, step] of whole numbers, got {arg!r}")
    lo, hi, step = (*arg, 1) if len(arg) == 2 else arg
    if lo > hi:
        raise bad(f"min {lo} is above max {hi}")
    if step < 1:
        raise bad(f"step must be >= 1, got {step}")
    return tuple(range(lo, hi + 1, step))


def _freeze(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v


def config_key(config: ArchitectureConfig | Mapping[str, Any]) -> str:
    """A short fingerprint of what an architecture does (its name left out): equal configs, equal keys."""
    raw = config.model_dump(mode="json") if isinstance(config, ArchitectureConfig) else dict(config)
    raw = {k: v for k, v in raw.items() if k != "name"}
    return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:16]


class SearchSpace:
    """Named axes and the Archon config of every point."""

    axes: list[Axis]

    def config(self, params: Params) -> ArchitectureConfig:
        raise NotImplementedError

    def canonical(self, params: Params) -> Params:
        """The same point with the values that do not change its config set to a fixed choice."""
        return dict(params)

    def label(self, params: Params) -> str:
        return " ".join(f"{k}={v}" for k, v in params.items())

    @property
    def finite(self) -> bool:
        return not any(a.is_float for a in self.axes)

    def raw_size(self) -> int | None:
        if not self.finite:
            return None
        n = 1
        for a in self.axes:
            n *= len(a.values)
        return n

    def points(self) -> Iterator[Params]:
        """Every distinct valid point (one per distinct config), in axis order."""
        if not self.finite:
            raise ArchonError("a space with a float axis has no finite list of points")
        size = self.raw_size() or 0
        if size > MAX_ENUMERATED:
            raise ArchonError(f"the space has {size} points, more than {MAX_ENUMERATED} to list; narrow an axis")
        seen = set()
        for combo in itertools.product(*(a.choices for a in self.axes)):
            params = self.canonical(dict(zip((a.name for a in self.axes), combo)))
            frozen = tuple(_freeze(params[a.name]) for a in self.axes)
            if frozen in seen:
                continue
            seen.add(frozen)
            if self.valid(params):
                yield params

    def valid(self, params: Params) -> bool:
        try:
            cfg = self.config(params)
        except ConfigError:
            return False
        return not any(f.level == "error" for f in check_rules(cfg))

    def suggest(self, trial) -> Params:
        """The point an Optuna trial asks for (canonical)."""
        import optuna

        params = {}
        for a in self.axes:
            d = a.distribution()
            if isinstance(d, optuna.distributions.FloatDistribution):
                params[a.name] = trial.suggest_float(a.name, d.low, d.high)
            elif isinstance(d, optuna.distributions.IntDistribution):
                params[a.name] = trial.suggest_int(a.name, d.low, d.high, step=d.step)
            else:
                params[a.name] = trial.suggest_categorical(a.name, d.choices)
        return self.canonical(params)

    def distributions(self) -> dict[str, Any]:
        return {a.name: a.distribution() for a in self.axes}

    def describe(self) -> dict[str, Any]:
        return {a.name: ([a.low, a.high] if a.is_float else list(a.values)) for a in self.axes}


# --------------------------------------------------------------------------- the paper's axes

PAPER_AXES: dict[str, Any] = {
    "generators": [1, 10],
    "samples": [1, 5],
    "fusion_layers": [1, 4],
    "fusers_per_layer": [2, 10, 2],
    "critic_ranker": [False, True],
    "evaluation": ["none", "verifier", "unit_tests"],
}
_AXIS_KIND = {
    "generators": "int",
    "samples": "int",
    "fusion_layers": "int",
    "fusers_per_layer": "int",
    "critic_ranker": "bool",
    "evaluation": None,
}
EVALUATIONS = ("none", "verifier", "unit_tests")
_MODEL_KEYS = ("model", "model_type", "base_url", "api_key_env")


@dataclass
class PaperSpace(SearchSpace):
    """The paper's architecture axes over candidate models (see the module docstring)."""

    models: list[dict[str, Any]]
    axes: list[Axis] = field(default_factory=list)
    rank_models: bool = True
    fuser_model: dict[str, Any] | None = None
    template: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.7, "max_tokens": 2048})
    # How the unit test evaluator judges: "llm" (the paper) or "execute" (code benchmarks).
    unit_test_evaluation: str = "llm"
    ranker_top_k: int = 5

    def with_models(self, ordered: list[dict[str, Any]]) -> PaperSpace:
        return PaperSpace(
            models=ordered,
            axes=self.axes,
            rank_models=False,
            fuser_model=self.fuser_model,
            template=self.template,
            unit_test_evaluation=self.unit_test_evaluation,
            ranker_top_k=self.ranker_top_k,
        )

    def canonical(self, params: Params) -> Params:
        p = dict(params)
        if "fusers_per_layer" in p and p.get("fusion_layers", 1) <= 1:
            p["fusers_per_layer"] = self._axis("fusers_per_layer").values[0]
        return p

    def _axis(self, name: str) -> Axis:
        return next(a for a in self.axes if a.name == name)

    def _value(self, params: Params, name: str) -> Any:
        return params[name] if name in params else self._axis(name).values[0]

    def label(self, params: Params) -> str:
        p = {a.name: self._value(params, a.name) for a in self.axes}
        parts = [f"{p['generators']}gen x{p['samples']}", f"{p['fusion_layers']} fusion"]
        if p["fusion_layers"] > 1:
            parts[-1] += f" ({p['fusers_per_layer']}/layer)"
        if p["critic_ranker"]:
            parts.append("critic+ranker")
        if p["evaluation"] != "none":
            parts.append(p["evaluation"])
        return ", ".join(parts)

    def config(self, params: Params) -> ArchitectureConfig:
        p = {a.name: self._value(params, a.name) for a in self.axes}
        k, s, n_fuse, per_layer = p["generators"], p["samples"], p["fusion_layers"], p["fusers_per_layer"]
        cr, evaluation = bool(p["critic_ranker"]), p["evaluation"]
        if k > len(self.models):
            raise SpaceError(
                f"axis 'generators': {k} generators asked for, but the space lists {len(self.models)} model(s)"
            )
        if evaluation not in EVALUATIONS:
            raise SpaceError(f"axis 'evaluation': {evaluation!r} is not one of {', '.join(EVALUATIONS)}")
        judge = self.fuser_model or self.models[0]

        def comp(type_: str, model: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
            return {"type": type_, **self.template, **model, **kw}

        layers: list[list[dict[str, Any]]] = [[comp("generator", m, samples=s) for m in self.models[:k]]]

        def critic_ranker(top_k: int) -> None:
            layers.append([comp("critic", judge)])
            layers.append([comp("ranker", judge, top_k=top_k, use_critiques=True)])

        def evaluation_layers() -> None:
            if evaluation == "verifier":
                layers.append([comp("verifier", judge)])
            elif evaluation == "unit_tests":
                layers.append([comp("unit_test_generator", judge, evaluation=self.unit_test_evaluation)])
                layers.append([comp("unit_test_evaluator", judge, evaluation=self.unit_test_evaluation)])

        if n_fuse == 0:  # no fuser: the first candidate left is the answer
            if cr:
                critic_ranker(1)
            evaluation_layers()
        for j in range(1, n_fuse + 1):
            last = j == n_fuse
            if cr:
                critic_ranker(self.ranker_top_k)
            if last:
                evaluation_layers()
                layers.append([comp("fuser", judge, use_critiques=cr)])
            else:
                layers.append([comp("fuser", judge, use_critiques=cr) for _ in range(per_layer)])
        name = (
            f"search-g{k}-s{s}-f{n_fuse}"
            + (f"x{per_layer}" if n_fuse > 1 else "")
            + ("-cr" if cr else "")
            + ("" if evaluation == "none" else f"-{evaluation}")
        )
        return parse_config({"name": name, "layers": layers})


def _model_entry(i: int, m: Any) -> dict[str, Any]:
    if isinstance(m, str):
        m = {"model": m}
    if not isinstance(m, Mapping) or (not m.get("model") and not m.get("model_type")):
        raise SpaceError(f"models[{i}]: expected {{model: NAME, model_type: PROVIDER, ...}}, got {m!r}")
    return dict(m)


def paper_space(raw: Mapping[str, Any]) -> PaperSpace:
    known = {"models", "rank_models", "fuser_model", "axes", "template", "unit_test_evaluation", "ranker_top_k"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SpaceError(
            f"unknown key(s) {', '.join(map(repr, unknown))} in the space; known: {', '.join(sorted(known))}"
        )
    models = raw.get("models")
    if not isinstance(models, list) or not models:
        raise SpaceError("'models' must list at least one candidate model")
    entries = [_model_entry(i, m) for i, m in enumerate(models)]
    given = raw.get("axes") or {}
    if not isinstance(given, Mapping):
        raise SpaceError("'axes' must be a mapping of axis name to values")
    bad = sorted(set(given) - set(PAPER_AXES))
    if bad:
        raise SpaceError(f"axis {bad[0]!r}: unknown axis; the paper's axes are {', '.join(PAPER_AXES)}")
    axes = []
    for name, default in PAPER_AXES.items():
        axis = parse_axis(name, given.get(name, default), kind=_AXIS_KIND[name])
        if name == "generators":
            if name not in given:  # the default range stops at the number of models
                axis = Axis(name, values=tuple(v for v in axis.values if v <= len(entries)))
            elif min(axis.values) < 1 or max(axis.values) > len(entries):
                raise SpaceError(
                    f"axis 'generators': values must lie in 1..{len(entries)} (the number of models), "
                    f"got {list(axis.values)!r}"
                )
        if name == "samples" and min(axis.values) < 1:
            raise SpaceError(f"axis 'samples': values must be >= 1, got {list(axis.values)!r}")
        if name == "fusers_per_layer" and min(axis.values) < 1:
            raise SpaceError(f"axis 'fusers_per_layer': values must be >= 1, got {list(axis.values)!r}")
        if name == "evaluation" and any(v not in EVALUATIONS for v in axis.values):
            raise SpaceError(
                f"axis 'evaluation': values must be among {', '.join(EVALUATIONS)}, got {list(axis.values)!r}"
            )
        axes.append(axis)
    template = raw.get("template") or {}
    if not isinstance(template, Mapping):
        raise SpaceError("'template' must be a mapping of component fields (temperature, max_tokens, ...)")
    fuser = raw.get("fuser_model")
    uteval = raw.get("unit_test_evaluation", "llm")
    if uteval not in ("llm", "execute"):
        raise SpaceError(f"'unit_test_evaluation' must be llm or execute, got {uteval!r}")
    space = PaperSpace(
        models=entries,
        axes=axes,
        rank_models=bool(raw.get("rank_models", True)),
        fuser_model=_model_entry(0, fuser) if fuser is not None else None,
        template={"temperature": 0.7, "max_tokens": 2048, **template},
        unit_test_evaluation=uteval,
        ranker_top_k=int(raw.get("ranker_top_k", 5)),
    )
    try:  # the largest point must make a valid config (catches bad template fields, naming them)
        space.config({a.name: a.values[-1] for a in axes})
    except ConfigError as e:
        raise SpaceError(f"the space's template or models make invalid configs: {e}") from None
    return space


# --------------------------------------------------------------------------- a config with axes in it

_FORMS = ("choice", "int", "float")


@dataclass
class ConfigSpace(SearchSpace):
    """An Archon config whose values may be ``{"choice": [...]}``, ``{"int": [lo, hi, step]}`` or
    ``{"float": [lo, hi]}``; each such value is an axis named by its place (``layers.1.0.samples``)."""

    template: dict[str, Any]
    axes: list[Axis] = field(default_factory=list)
    rank_models: bool = False

    def config(self, params: Params) -> ArchitectureConfig:
        raw = copy.deepcopy(self.template)
        for a in self.axes:
            _set_path(raw, a.name, copy.deepcopy(a.value(params[a.name]) if a.name in params else a.values[0]))
        raw = _drop_removed(raw)
        return parse_config(raw)


REMOVE = "__remove__"  # a choice value that drops the component or layer it stands for


def _drop_removed(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_drop_removed(v) for v in obj if v != REMOVE]
    if isinstance(obj, dict):
        return {k: _drop_removed(v) for k, v in obj.items()}
    return obj


def _set_path(raw: Any, path: str, value: Any) -> None:
    keys = path.split(".")
    for k in keys[:-1]:
        raw = raw[int(k)] if isinstance(raw, list) else raw[k]
    last = keys[-1]
    if isinstance(raw, list):
        raw[int(last)] = value
    else:
        raw[last] = value


def config_space(raw: Mapping[str, Any]) -> ConfigSpace:
    axes: list[Axis] = []

    def walk(obj: Any, path: list[str]) -> None:
        if isinstance(obj, Mapping):
            if len(obj) == 1 and next(iter(obj)) in _FORMS:
                axes.append(parse_axis(".".join(path), dict(obj)))
                return
            for k, v in obj.items():
                walk(v, [*path, str(k)])
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                walk(v, [*path, str(i)])

    walk(raw, [])
    if not axes:
        raise SpaceError(
            "the config has no axis to search: give some values as {choice: [...]}, "
            "{int: [lo, hi, step]} or {float: [lo, hi]}"
        )
    space = ConfigSpace(template=copy.deepcopy(dict(raw)), axes=axes)
    for a in axes:  # each axis's values must make valid configs (with the others at their first value)
        for v in [a.low, a.high] if a.is_float else a.choices:
            try:
                space.config({a.name: v})
            except ConfigError as e:
                raise SpaceError(f"axis {a.name!r}: value {v!r} makes an invalid config: {e}") from None
    return space


def load_space(source: str | Path | Mapping[str, Any]) -> SearchSpace:
    """A space from a YAML/JSON file, YAML/JSON text, or a dict (see the module docstring)."""
    if isinstance(source, Mapping):
        raw: Any = source
    else:
        p = Path(source)
        try:
            text = p.read_text(encoding="utf-8") if p.is_file() else None
        except OSError:
            text = None
        if text is None:
            if str(source).endswith((".json", ".yaml", ".yml")) and "\n" not in str(source):
                raise SpaceError(f"space file {str(source)!r} does not exist")
            text = str(source)
        try:
            raw = yaml.safe_load(text)  # YAML reads JSON too
        except yaml.YAMLError as e:
            raise SpaceError(f"the space is not valid YAML or JSON: {e}") from None
    if not isinstance(raw, Mapping):
        raise SpaceError("a search space is a mapping: the paper's form (models, axes) or a config with axes (layers)")
    if "layers" in raw:
        return config_space(raw)
    if "models" in raw:
        return paper_space(raw)
    raise SpaceError("a search space needs 'models' (the paper's axes) or 'layers' (a config with axes)")
