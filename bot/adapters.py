"""What every platform adapter provides to the delivery worker."""

from __future__ import annotations

from typing import Any, Protocol

from handlers.messages import Outbound


class RetryAfter(Exception):
    """The platform asked us to wait (HTTP 429)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class DeliveryError(Exception):
    """A post failed; `permanent` ones are not retried."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Adapter(Protocol):
    platform: str

    async def deliver(self, job_id: int, out: Outbound,
                      previous: dict[str, Any] | None) -> dict[str, Any]:
        """Post (or, with `previous`, update) one message; return the platform's reference."""

    async def lookup(self, job_id: int, out: Outbound) -> dict[str, Any] | None:
        """After a crash mid-send: the platform's reference if the post did arrive."""


def mount(app, runtime, adapter, path: str, handler) -> None:
    """Serve a platform's inbound route, deliver through the adapter, close it on shutdown."""
    app.router.add_post(path, handler)
    runtime.add_adapter(adapter)

    async def close(app):  # noqa: ANN001
        yield
        await adapter.close()

    app.cleanup_ctx.append(close)
