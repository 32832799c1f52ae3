"""Settings: defaults a newcomer relies on, and one clear line for a bad value."""

from __future__ import annotations

import pytest

from app.core.config import SettingsError, load_settings


def test_defaults_match_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "AUTH_SECRET", "LLM_PROVIDER", "SESSION_TTL_S", "INTERRUPT_TTL_S"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert s.database_url is None and not s.auth_enabled and s.llm_provider == "demo"
    assert (s.session_ttl_s, s.interrupt_ttl_s, s.rate_limit_messages, s.rate_limit_window_s) == (1800, 1800, 10, 10)
    assert s.demo_token_delay_ms == 20 and str(s.data_dir) == ".support-agent"


@pytest.mark.parametrize(("name", "value"), [("INTERRUPT_TTL_S", "-1"), ("LOG_LEVEL", "loud"),
                                             ("MAX_FRAME_BYTES", "ten")])
def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert name in str(info.value) and "\n" not in str(info.value)
