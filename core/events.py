"""Domain events: how a lower app announces what happened without importing the app that reacts.

The apps are layered (core, llm < deliberation < cards < moral_graph < operations < frontend, config) and a lower
app never imports a higher one. When a change in a lower app needs work in a higher one (a round enters voting,
so stories must be written; a card merge moves, so the ranking is stale), the lower app emits an event by name
with ids, and the higher app subscribes a handler in its `AppConfig.ready`:

    # moral_graph/apps.py
    def ready(self):
        from core import events
        from moral_graph import handlers
        events.subscribe(events.ROUND_STAGE_CHANGED, handlers.on_round_stage_changed)

`emit` calls the handlers at once, inside the caller's transaction, so a handler's writes commit or roll back
with the change that caused them; handlers enqueue background work with `core.queue.enqueue_on_commit`.
`emit_on_commit` calls them after the transaction commits (nothing happens if it rolls back).
The event names, with the keyword arguments each carries, are the constants below: `git grep` one to find every
emitter and every handler.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from django.db import transaction

# A round moved to another stage: round_id, stage, previous (stage values of deliberation.models.Stage).
ROUND_STAGE_CHANGED = "round.stage_changed"
# A card founded a new canonical value of its own: round_id, value_id.
VALUE_FOUNDED = "cards.value_founded"
# A card joined, left or moved between canonical values (the graph's structure changed): round_id.
MERGES_CHANGED = "cards.merges_changed"

_handlers: dict[str, list[Callable[..., None]]] = defaultdict(list)


def subscribe(name: str, handler: Callable[..., None]) -> None:
    """Call `handler(**ids)` whenever `name` is emitted; subscribing the same handler twice is one subscription."""
    if handler not in _handlers[name]:
        _handlers[name].append(handler)


def handlers(name: str) -> list[Callable[..., None]]:
    """The handlers subscribed to `name`, in subscription order."""
    return list(_handlers.get(name, ()))


def emit(name: str, **ids) -> None:
    """Call every handler of `name` now, in the caller's transaction; a handler's error propagates."""
    for handler in handlers(name):
        handler(**ids)


def emit_on_commit(name: str, **ids) -> None:
    """Call every handler of `name` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: emit(name, **ids))
