"""What a command sees (`Context`) and the services it may use; defined in handlers/context.py."""

from handlers.context import Context, Services

__all__ = ["Context", "Services"]
