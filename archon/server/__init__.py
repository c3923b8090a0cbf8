"""Serving architectures as OpenAI-compatible models: ``archon serve`` (``pip install 'archon[server]'``)."""

from .app import Limits, create_app
from .models import load_models, serve

__all__ = ["Limits", "create_app", "load_models", "serve"]
