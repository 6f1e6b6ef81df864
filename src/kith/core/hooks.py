"""Python hooks for embedders (DESIGN §5.4, seed 001 "Verb Lifecycle").

    from kith.core import hooks

    @hooks.before("contact.qualify")
    def needs_a_phone(record, cmd):
        if not record["phone"]:
            raise RuleViolation("acme-qualify-requires-phone", "call them first")

    @hooks.after("contact.qualified")
    async def tell_sales(record, cmd): ...

Invariants:
- A ``before`` hook is named after a verb (``contact.qualify``, ``contact.create``, see ``VERBS``)
  and runs inside the verb's transaction, after Kith's own checks and before anything is written.
  It receives a copy of the record (for ``create``: the row about to be inserted) and of the
  ``Command``; raising vetoes the verb and nothing is written. A ``KithError`` (e.g.
  ``RuleViolation``) reaches the caller as it is; any other exception becomes ``Vetoed`` (422,
  ``rule: before-hook``, its message as the detail), so an embedder's ``raise ValueError("…")``
  is a clear answer, not a 500. Changing the record or command it receives changes nothing.
- An ``after`` hook is named after an event type (``contact.qualified``) and runs only once the
  transaction has committed, with (a copy of) the record as written. A failing after-hook is logged
  and never undoes the commit, nor stops the other hooks. It may write through the services with
  a new ``UnitOfWork``.
- Hooks may be plain or ``async`` functions. Names are checked when registering, so a typo fails at
  import time instead of never firing.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kith.core.errors import KithError, RuleViolation
from kith.core.events import EVENT_TYPES

log = logging.getLogger("kith.hooks")


class _UnitOfWork(Protocol):
    def after_commit(self, hook: Callable[[], Awaitable[None]]) -> None: ...


@dataclass(frozen=True)
class Command:
    """What a verb was asked to do: its name, who asked (a ``kith.auth.model.Actor``), the record it
    targets (``None`` before a create) and the request's values."""

    verb: str
    actor: Any
    record_id: str | None
    values: Mapping[str, Any] = field(default_factory=dict)


Hook = Callable[[dict[str, Any], Command], Awaitable[None] | None]

# verb -> the event it records once done. Verbs of the shared record CRUD exist for every Kind.
VERBS: dict[str, str] = {
    **{f"{noun}.{verb}": f"{noun}.{past}" for noun in ("contact", "company", "deal", "activity")
       for verb, past in (("create", "created"), ("update", "updated"), ("delete", "deleted"))},
    "deal.move-stage": "deal.stage-moved",
    "deal.win": "deal.won",
    "deal.lose": "deal.lost",
    "deal.abandon": "deal.abandoned",
    "deal.reopen": "deal.reopened",
    "activity.complete": "activity.completed",
    "contact.qualify": "contact.qualified",
    "contact.capture": "contact.captured",
    "contact.assign": "contact.assigned",
    "contact.reassign": "contact.assigned",
    "contact.merge": "contact.merged",
    "contact.enrich": "contact.enriched",
    "lead.create": "lead.created",
}


class Vetoed(RuleViolation):
    """A before-hook refused the verb by raising something other than a ``KithError``."""

    code, title = "vetoed", "Vetoed by a hook"

    def __init__(self, verb: str, hook: Hook, exc: Exception) -> None:
        name = f"{getattr(hook, '__module__', '?')}.{getattr(hook, '__qualname__', repr(hook))}"
        super().__init__("before-hook", str(exc) or type(exc).__name__, extra={"verb": verb, "hook": name})


_before: dict[str, list[Hook]] = {}
_after: dict[str, list[Hook]] = {}


def before(verb: str) -> Callable[[Hook], Hook]:
    """Decorator: run ``fn(record, cmd)`` before ``verb`` writes anything; raise to veto."""
    if verb not in VERBS:
        raise ValueError(f"no verb {verb!r} to hook before; verbs are {sorted(VERBS)}")
    return _adder(_before, verb)


def after(event_type: str) -> Callable[[Hook], Hook]:
    """Decorator: run ``fn(record, cmd)`` after a commit that recorded ``event_type``."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"no event type {event_type!r} to hook after; see kith.core.events.EVENT_TYPES")
    return _adder(_after, event_type)


def _adder(table: dict[str, list[Hook]], name: str) -> Callable[[Hook], Hook]:
    def add(fn: Hook) -> Hook:
        table.setdefault(name, []).append(fn)
        return fn

    return add


def unregister(name: str, fn: Hook) -> None:
    """Remove ``fn`` from the before- or after-hooks of ``name`` (no error when absent)."""
    for table in (_before, _after):
        if fn in table.get(name, []):
            table[name].remove(fn)


def registered(name: str) -> list[Hook]:
    """The before- and after-hooks registered under ``name``, in the order they run."""
    return [*_before.get(name, ()), *_after.get(name, ())]


def clear() -> None:
    """Remove every hook (tests)."""
    _before.clear()
    _after.clear()


async def _call(fn: Hook, record: dict[str, Any], cmd: Command) -> None:
    result = fn(record, cmd)
    if inspect.isawaitable(result):
        await result


def _copy(cmd: Command) -> Command:
    return Command(cmd.verb, cmd.actor, cmd.record_id, copy.deepcopy(dict(cmd.values)))


async def run_before(verb: str, record: Mapping[str, Any], cmd: Command) -> None:
    """Run ``verb``'s before-hooks in registration order; the first to raise vetoes the verb."""
    for fn in list(_before.get(verb, ())):
        try:
            await _call(fn, copy.deepcopy(dict(record)), _copy(cmd))
        except KithError:
            raise
        except Exception as exc:
            log.warning("before-hook %s vetoed %s: %s", getattr(fn, "__qualname__", fn), verb, exc, exc_info=True)
            raise Vetoed(verb, fn, exc) from exc


def run_after(uow: _UnitOfWork, event_type: str, record: Mapping[str, Any], cmd: Command) -> None:
    """Schedule ``event_type``'s after-hooks to run once ``uow``'s transaction commits."""
    fns = list(_after.get(event_type, ()))
    if not fns:
        return
    snapshot = copy.deepcopy(dict(record))

    async def fire() -> None:
        for fn in fns:
            try:
                await _call(fn, copy.deepcopy(snapshot), _copy(cmd))
            except Exception:  # an embedder's bug must not turn a committed write into an error
                log.exception("after-hook %s for %s failed", getattr(fn, "__qualname__", fn), event_type)

    uow.after_commit(fire)
