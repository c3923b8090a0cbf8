"""Architecture search: find the best architecture for a task, its models and a compute budget.

``archon.search.search(space, benchmark, out_dir=...)`` is what ``archon search`` runs; see
:mod:`archon.search.study` for the protocol and the README's Search section for the files it writes.
"""

from .budget import Budget, QueryCost, TokenStats, query_cost
from .samplers import DEFAULT_SAMPLER, SAMPLERS, SamplerOptions, make_sampler, register_sampler, sampler_registry
from .space import ConfigSpace, PaperSpace, SearchSpace, SpaceError, load_space
from .study import SearchResult, search

__all__ = [
    "DEFAULT_SAMPLER",
    "SAMPLERS",
    "Budget",
    "ConfigSpace",
    "PaperSpace",
    "QueryCost",
    "SamplerOptions",
    "SearchResult",
    "SearchSpace",
    "SpaceError",
    "TokenStats",
    "load_space",
    "make_sampler",
    "query_cost",
    "register_sampler",
    "sampler_registry",
    "search",
]
