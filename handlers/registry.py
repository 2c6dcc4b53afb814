"""Command and action registration: decorators attach metadata; the registry is built once.

A command is an async function taking a `Context`; the first line of its docstring is its
help text and the second (if any) its usage. `build_registry()` imports every module in
commands/ and collects what the decorators marked.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handlers.context import Context

Handler = Callable[["Context"], Awaitable[None]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    handler: Handler
    summary: str
    usage: str
    aliases: tuple[str, ...] = ()
    ready: bool = True  # False: listed in help as "準備中"
    order: int = 100
    ai_bound: bool = False  # its text may go to an AI: the PII guard redacts it before storing
    sealed: bool = False  # its text is personal data with a retention: stored only encrypted


@dataclass
class Registry:
    commands: dict[str, CommandSpec] = field(default_factory=dict)
    actions: dict[str, Handler] = field(default_factory=dict)  # action_id prefix -> handler
    mention: Handler | None = None
    reads: list[Handler] = field(default_factory=list)

    def find(self, name: str) -> CommandSpec | None:
        name = name.lower()
        for spec in self.commands.values():
            if spec.name == name or name in spec.aliases:
                return spec
        return None

    def suggest(self, name: str) -> CommandSpec | None:
        """The command one typing slip away from `name` (a letter missed, added, changed or
        two swapped: /darft, /drft), or None."""
        name = name.lower()
        for spec in self.listed():
            if any(_one_slip(name, known) for known in (spec.name, *spec.aliases)):
                return spec
        return None

    def action_for(self, action_id: str) -> Handler | None:
        best = max((p for p in self.actions if action_id.startswith(p)), key=len, default=None)
        return self.actions[best] if best is not None else None

    def listed(self) -> list[CommandSpec]:
        return sorted(self.commands.values(), key=lambda s: (s.order, s.name))


def _one_slip(typed: str, known: str) -> bool:
    if typed == known or abs(len(typed) - len(known)) > 1 or len(known) < 3:
        return False
    if len(typed) == len(known):
        diff = [i for i, (a, b) in enumerate(zip(typed, known)) if a != b]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and typed[diff[0]] == known[diff[1]]
                                  and typed[diff[1]] == known[diff[0]])
    short, long = sorted((typed, known), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def command(name: str, *, aliases: tuple[str, ...] = (), ready: bool = True,
            order: int = 100, ai_bound: bool = False,
            sealed: bool = False) -> Callable[[Handler], Handler]:
    def mark(fn: Handler) -> Handler:
        fn.__chonai_command__ = dict(name=name, aliases=aliases, ready=ready, order=order,
                                     ai_bound=ai_bound, sealed=sealed)
        return fn
    return mark


def action(prefix: str) -> Callable[[Handler], Handler]:
    def mark(fn: Handler) -> Handler:
        fn.__chonai_action__ = prefix
        return fn
    return mark


def mention(fn: Handler) -> Handler:
    fn.__chonai_mention__ = True
    return fn


def on_read(fn: Handler) -> Handler:
    fn.__chonai_read__ = True
    return fn


def _doc_lines(fn: Handler) -> tuple[str, str]:
    lines = [line.strip() for line in (inspect.getdoc(fn) or "").splitlines() if line.strip()]
    return (lines[0] if lines else ""), (lines[1] if len(lines) > 1 else "")


def build_registry(package: str = "commands") -> Registry:
    registry = Registry()
    root = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package}.{info.name}")
        for _, fn in inspect.getmembers(module, inspect.iscoroutinefunction):
            if fn.__module__ != module.__name__:
                continue
            if meta := getattr(fn, "__chonai_command__", None):
                summary, usage = _doc_lines(fn)
                registry.commands[meta["name"]] = CommandSpec(
                    meta["name"], fn, summary, usage, meta["aliases"], meta["ready"],
                    meta["order"], meta["ai_bound"], meta["sealed"])
            if prefix := getattr(fn, "__chonai_action__", None):
                registry.actions[prefix] = fn
            if getattr(fn, "__chonai_mention__", False):
                registry.mention = fn
            if getattr(fn, "__chonai_read__", False):
                registry.reads.append(fn)
    return registry
