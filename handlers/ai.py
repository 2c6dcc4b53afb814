"""The AI endpoint: OpenAI, Azure OpenAI or any OpenAI-compatible server (vLLM, Ollama, an
LGWAN-side gateway), through the `openai` library, with timeouts and retries."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


class AiUnavailable(Exception):
    """The endpoint is down, slow or refused; `reason` is shown to staff in Japanese."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AiAnswer:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int


class AiClient:
    def __init__(self, *, base_url: str | None, api_key: str | None, model: str,
                 timeout: float = 30.0, retries: int = 2) -> None:
        from openai import AsyncOpenAI

        self.model = model
        self.client = AsyncOpenAI(base_url=base_url or None, api_key=api_key or "not-needed",
                                  timeout=timeout, max_retries=retries)

    async def complete(self, system: str, user: str, *, max_tokens: int = 1200) -> AiAnswer:
        import openai

        try:
            response = await self.client.chat.completions.create(
                model=self.model, max_tokens=max_tokens, temperature=0.3,
                messages=[{"role": "system", "content": system},
                          {"role": "user", "content": user}])
        except openai.APITimeoutError:
            raise AiUnavailable("AI の応答が時間内に返りませんでした。") from None
        except openai.APIConnectionError:
            raise AiUnavailable("AI のサーバーに接続できませんでした。") from None
        except openai.RateLimitError:
            raise AiUnavailable("AI の利用が混み合っています。") from None
        except openai.APIStatusError as exc:
            log.warning("AI endpoint answered %s", exc.status_code)
            raise AiUnavailable(f"AI のサーバーがエラーを返しました（{exc.status_code}）。") from None
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "") if choice else ""
        usage = response.usage
        return AiAnswer(text=text.strip(), model=response.model or self.model,
                        prompt_tokens=usage.prompt_tokens if usage else 0,
                        completion_tokens=usage.completion_tokens if usage else 0)


def from_settings(settings) -> AiClient | None:
    if not settings.ai_enabled:
        return None
    return AiClient(base_url=settings.openai_base_url, api_key=settings.openai_api_key,
                    model=settings.openai_model, timeout=settings.openai_timeout)
