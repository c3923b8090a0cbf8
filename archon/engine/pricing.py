"""Estimated cost: US dollars per million input and output tokens, by model name. Users extend it."""

from __future__ import annotations

from ..registry import Registry

# (input $/Mtok, output $/Mtok) by model name; list prices, for estimates only.
price_registry: Registry[tuple[float, float]] = Registry("price")

_LIST_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "o1": (15.00, 60.00),
    "claude-3-5-sonnet-20240620": (3.00, 15.00),
    "claude-3-5-sonnet-20241022": (3.00, 15.00),
    "claude-3-haiku-20240307": (0.25, 1.25),
    "Qwen/Qwen2-72B-Instruct": (0.90, 0.90),
    "Qwen/Qwen1.5-110B-Chat": (1.80, 1.80),
    "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo": (3.50, 3.50),
    "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo": (0.88, 0.88),
    "meta-llama/Meta-Llama-3-70B-Instruct-Turbo": (0.88, 0.88),
    "mistralai/Mixtral-8x22B-Instruct-v0.1": (1.20, 1.20),
    "databricks/dbrx-instruct": (1.20, 1.20),
    "gemini-1.5-pro": (1.25, 5.00),
    "gemini-1.5-flash": (0.075, 0.30),
}
for _model, _price in _LIST_PRICES.items():
    price_registry.register(_model, _price)

# Providers whose calls cost nothing (local weights).
FREE_PROVIDERS = {"local"}


def register_price(model: str, input_per_million: float, output_per_million: float) -> None:
    """Price ``model``'s tokens, in US dollars per million input and output tokens."""
    price_registry.register(model, (input_per_million, output_per_million))


def estimate_cost(provider: str, model: str, input_tokens: int, output_tokens: int) -> float | None:
    """Dollars, or None when the model has no known price."""
    if provider in FREE_PROVIDERS:
        return 0.0
    price = price_registry.find(model)
    if price is None:
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
