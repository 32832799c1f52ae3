"""Chat models: `load_chat_model` for every provider and the offline `DemoChatModel`."""

from graphs.models.demo import DemoChatModel, count_tokens
from graphs.models.providers import (
    PROVIDERS,
    ModelConfigError,
    load_chat_model,
    load_chat_model_from_settings,
)

__all__ = ["PROVIDERS", "DemoChatModel", "ModelConfigError", "count_tokens", "load_chat_model", "load_chat_model_from_settings"]
