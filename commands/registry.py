"""Where a command module gets its decorators: `command`, `action`, `mention`, `on_read`.
The mechanism lives in handlers/registry.py (the dispatcher below commands uses it too)."""

from handlers.registry import (CommandSpec, Handler, Registry, action, build_registry, command,
                               mention, on_read)

__all__ = ["CommandSpec", "Handler", "Registry", "action", "build_registry", "command", "mention",
           "on_read"]
