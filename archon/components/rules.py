"""The construction rules and the cost of an architecture, computed from its component types' declarations.

Each component type says what it is (see :class:`archon.components.base.Component`): whether it
stands alone in its layer, which layers it may stand in, what it needs before or after it, which
fields it reads, how many LLM calls it makes and how many candidates it leaves. Nothing here
knows a type by name.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..config import ArchitectureConfig, ComponentConfig, Finding
from ..errors import ConfigError
from ..providers.local import DEFAULT_LOCAL_MODEL
from ..providers.registry import ProviderSpec, get_spec
from ..registry import Registry
from .base import Component
from .registry import component_registry

# Every field a config may give any component (the common schema, and its older name for max_tokens).
_COMMON_FIELDS = frozenset(ComponentConfig.model_fields) | {"max_context_length"}


def declarations_of(config: ComponentConfig, registry: Registry[type[Component]] | None = None) -> type[Component]:
    """The class whose declarations describe this component: its registered type, or (unknown
    type) :class:`Component`'s defaults, so that counting goes on while the check reports it."""
    return (registry or component_registry).find(config.type) or Component


@dataclass(frozen=True)
class LayerCount:
    """One layer's worst case: LLM calls, and the candidates it leaves, for the candidates it gets."""

    candidates_in: int
    calls: int
    candidates_out: int


def layer_counts(
    config: ArchitectureConfig,
    *,
    with_parse_retries: bool = True,
    max_candidates: int | None = None,
    registry: Registry[type[Component]] | None = None,
) -> list[LayerCount]:
    """Per layer, in order: the worst-case calls and candidates, from the component declarations.

    A layer's candidates are those its producing components leave, added up; when none of them
    produces any (critic, unit test generator), the input candidates pass through.
    """
    out = []
    n = 0
    for layer in config.layers:
        classes = [declarations_of(c, registry) for c in layer]
        calls = sum(cls.worst_case_calls(c, n, with_parse_retries=with_parse_retries) for cls, c in zip(classes, layer))
        made = [cls.candidates_out(c, n) for cls, c in zip(classes, layer) if not cls.passes_candidates_through]
        left = sum(made) if made else n
        if max_candidates is not None:
            left = min(left, max_candidates)
        out.append(LayerCount(n, calls, left))
        n = left
    return out


def calls_per_query(
    config: ArchitectureConfig,
    *,
    with_parse_retries: bool = True,
    max_candidates: int | None = None,
    registry: Registry[type[Component]] | None = None,
) -> int:
    """Worst-case number of LLM calls (samples) one query makes: every reply that must parse re-asked
    ``parse_retries`` times, unless ``with_parse_retries=False`` (every reply parses at once).

    Exact for the built-in types: a run can make this many calls. Custom components count as
    they declare (by default one call per sample)."""
    return sum(
        lc.calls
        for lc in layer_counts(
            config, with_parse_retries=with_parse_retries, max_candidates=max_candidates, registry=registry
        )
    )


def check_rules(
    config: ArchitectureConfig,
    *,
    registry: Registry[type[Component]] | None = None,
    providers: Registry[ProviderSpec] | None = None,
) -> list[Finding]:
    """Everything wrong or doubtful about a config, before any call is made.

    Errors: unknown component types and providers (``blocks_running``: the architecture cannot be
    built), and the paper's construction rules, as the component types declare them (custom
    architectures may break those on purpose). Warnings: fields no component reads (likely typos),
    legal but doubtful choices.
    """
    out: list[Finding] = []
    out.extend(_unknown_names(config, registry, providers))
    out.extend(_construction_rules(config, registry))
    out.extend(_local_model_warnings(config, providers))
    counts = layer_counts(config, registry=registry)
    final = counts[-1].candidates_out
    last = [declarations_of(c, registry) for c in config.layers[-1]]
    if final != 1 and all(cls.exact_counts for cls in last):
        out.append(
            Finding(
                "warning",
                f"the last layer can leave {final} candidates; the first one is the answer. "
                "End with a single fuser (samples 1), or a ranker with top_k 1, for one final answer.",
            )
        )
    return out


def _where(li: int, ci: int, c: ComponentConfig) -> str:
    return f"layer {li + 1}, component {ci + 1} ({c.type})"


def _unknown_names(
    config: ArchitectureConfig, registry: Registry[type[Component]] | None, providers: Registry[ProviderSpec] | None
) -> list[Finding]:
    """Unknown component types and providers (errors: running would fail) and fields no component
    reads (warnings: they are ignored, likely typos), each with the closest known name."""
    registry = registry or component_registry
    out = []
    for li, layer in enumerate(config.layers):
        for ci, c in enumerate(layer):
            cls = registry.find(c.type)
            if cls is None:
                out.append(Finding("error", f"{_where(li, ci, c)}: {registry.unknown(c.type)}", blocks_running=True))
            try:
                get_spec(c.model_type, registry=providers)
            except ConfigError as e:
                out.append(Finding("error", f"{_where(li, ci, c)}: {e}", blocks_running=True))
            if cls is None or cls.extra_fields is None:
                continue
            known = _COMMON_FIELDS | cls.extra_fields
            for name in (n for n in c.extra if n not in known and n not in cls.reference_fields):
                close = difflib.get_close_matches(name, sorted(known), n=1)
                out.append(
                    Finding(
                        "warning",
                        f"{_where(li, ci, c)}: unknown field {name!r}, ignored"
                        + (f" (did you mean {close[0]!r}?)" if close else ""),
                    )
                )
    return out


def _construction_rules(config: ArchitectureConfig, registry: Registry[type[Component]] | None) -> list[Finding]:
    out: list[Finding] = []
    layers = [[declarations_of(c, registry) for c in layer] for layer in config.layers]
    for li, (layer, classes) in enumerate(zip(config.layers, layers)):
        n = li + 1
        exclusive = sorted({c.type for c, cls in zip(layer, classes) if cls.one_type_per_layer})
        if len(exclusive) > 1:
            out.append(Finding("error", f"layer {n} mixes component types {exclusive}; use one type per layer"))
        for t in sorted({c.type for c, cls in zip(layer, classes) if cls.layer == "first"}) if li > 0 else ():
            out.append(Finding("error", f"layer {n} has a {t}; {t}s go only in layer 1"))
        if li == 0 and any(cls.layer == "later" for cls in classes):
            known = registry or component_registry
            starters = sorted(t for t in known.names() if known.get(t).layer == "first")
            out.append(
                Finding(
                    "error",
                    f"layer 1 must hold {' or '.join(s + 's' for s in starters) or 'starting components'} "
                    "(only they start from the bare conversation)",
                )
            )
        for t in sorted({c.type for c, cls in zip(layer, classes) if cls.solo}) if len(layer) > 1 else ():
            out.append(Finding("error", f"layer {n}: a {t} must be alone in its layer"))
        for c, cls in zip(layer, classes):
            for need in cls.needs(c):
                if need.where == "earlier":
                    ok = any(x.type == need.type for earlier in config.layers[:li] for x in earlier)
                    msg = f"{c.type} {need.because or 'needs a ' + need.type} but no {need.type} comes before it"
                elif need.where == "previous":
                    ok = li > 0 and any(x.type == need.type for x in config.layers[li - 1])
                    msg = f"a {c.type} needs a {need.type} in the layer just before"
                else:
                    ok = li + 1 < len(config.layers) and any(x.type == need.type for x in config.layers[li + 1])
                    msg = f"a {c.type} must be followed directly by a {need.type}"
                if not ok:
                    finding = Finding("error", f"layer {n}: {msg}")
                    if finding not in out:  # several components of a layer needing the same: said once
                        out.append(finding)
    return out


def _local_model_warnings(config: ArchitectureConfig, providers: Registry[ProviderSpec] | None) -> list[Finding]:
    """A model name that only a hosted provider knows, left to the embedded model by a missing model_type."""
    out = []
    for li, layer in enumerate(config.layers):
        for ci, c in enumerate(layer):
            try:
                local = get_spec(c.model_type, registry=providers).name == "local"
            except ConfigError:
                continue
            if local and c.model and not c.model.endswith(".gguf") and c.model.lower() != DEFAULT_LOCAL_MODEL.lower():
                out.append(
                    Finding(
                        "warning",
                        f"{_where(li, ci, c)}: model {c.model!r} has no "
                        f"model_type, so the embedded {DEFAULT_LOCAL_MODEL} answers for it; "
                        "set model_type (e.g. OpenAI_API) to use that model",
                    )
                )
    return out
