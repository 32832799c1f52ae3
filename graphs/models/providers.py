"""`load_chat_model`: one entry point for every supported model provider.

    load_chat_model("demo")                                   # the offline DemoChatModel
    load_chat_model("openai", "gpt-4o-mini", api_key=...)
    load_chat_model("anthropic/claude-3-5-haiku-latest")      # "provider/model" works too
    load_chat_model("ollama", "llama3.1", base_url="http://localhost:11434")
    load_chat_model("openai_compatible", "my-model", base_url="http://localhost:8000/v1")
    load_chat_model_from_settings(settings)                   # LLM_PROVIDER, LLM_MODEL, LLM_BASE_URL...

Real providers are built with `init_chat_model`; OpenAI-style providers are asked
for usage in streamed responses (`stream_usage=True`) so that every run's token
usage is known.
"""

from __future__ import annotations

from typing import Any, cast

from langchain_core.language_models import BaseChatModel

from graphs.models.demo import DemoChatModel

__all__ = ["PROVIDERS", "ModelConfigError", "load_chat_model", "load_chat_model_from_settings"]

PROVIDERS = ("demo", "openai", "anthropic", "ollama", "openai_compatible")
_DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest", "ollama": "llama3.1"}
_PACKAGES = {"openai": "langchain-openai", "openai_compatible": "langchain-openai",
             "anthropic": "langchain-anthropic", "ollama": "langchain-ollama"}


class ModelConfigError(ValueError):
    """The model settings cannot produce a chat model; the message names the setting to fix."""


def load_chat_model(
    provider: str = "demo",
    model: str | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    temperature: float | None = 0,
    demo_token_delay_ms: int = 20,
    demo_reply_tokens: int = 100,
    **kwargs: Any,
) -> BaseChatModel:
    """A chat model for `provider` (`demo`, `openai`, `anthropic`, `ollama`, `openai_compatible`).

    `provider` may also be "provider/model". Extra keyword arguments go to the
    provider's chat model class.
    """
    if "/" in provider and model is None:
        provider, model = provider.split("/", 1)
    if provider not in PROVIDERS:
        raise ModelConfigError(f"unknown LLM_PROVIDER {provider!r}; use one of {', '.join(PROVIDERS)}")
    if provider == "demo":
        return DemoChatModel(token_delay_ms=demo_token_delay_ms, reply_tokens=demo_reply_tokens)

    from langchain.chat_models import init_chat_model

    options: dict[str, Any] = dict(kwargs)
    if temperature is not None:
        options.setdefault("temperature", temperature)
    if provider == "openai_compatible":
        if not base_url:
            raise ModelConfigError("LLM_PROVIDER=openai_compatible needs LLM_BASE_URL (for example http://localhost:8000/v1)")
        if not model:
            raise ModelConfigError("LLM_PROVIDER=openai_compatible needs LLM_MODEL, the model name the server expects")
        options.update(base_url=base_url, api_key=api_key or "not-needed", stream_usage=True)
        init_provider = "openai"
    else:
        model = model or _DEFAULT_MODELS[provider]
        init_provider = provider
        if api_key:
            options["api_key"] = api_key
        if base_url:
            options["base_url"] = base_url
        if provider == "openai":
            options.setdefault("stream_usage", True)
    try:
        # with **options no overload of init_chat_model is picked, so mypy sees Any; no
        # configurable_fields are passed, so it is the BaseChatModel overload
        return cast(BaseChatModel, init_chat_model(model, model_provider=init_provider, **options))
    except ImportError as exc:
        raise ModelConfigError(
            f"LLM_PROVIDER={provider} needs the {_PACKAGES[provider]} package: pip install {_PACKAGES[provider]} ({exc})"
        ) from None


def load_chat_model_from_settings(settings: Any, **overrides: Any) -> BaseChatModel:
    """From an object with the `app.core.config.Settings` model fields (read by name)."""
    options: dict[str, Any] = {
        "base_url": getattr(settings, "llm_base_url", None),
        "api_key": getattr(settings, "llm_api_key", None),
        "demo_token_delay_ms": getattr(settings, "demo_token_delay_ms", 20),
        "demo_reply_tokens": getattr(settings, "demo_reply_tokens", 100),
    }
    options.update(overrides)
    return load_chat_model(getattr(settings, "llm_provider", "demo"), getattr(settings, "llm_model", None), **options)
