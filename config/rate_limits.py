"""The routes the rate-limit middleware (core.ratelimit_middleware) counts, by URL name.

Here, beside the URL configuration, because the names belong to every app's pages and API; settings name this dict
(WISER_RATE_LIMITED_ROUTES), so core lists no page of a higher app.
"""

# URL name -> (scope, the methods that count). Reading is never limited here.
ROUTES: dict[str, tuple[str, frozenset[str]]] = {
    "api:round-join": ("join", frozenset({"POST"})),
    "frontend:join": ("join", frozenset({"POST"})),
    "frontend:join-invite": ("join", frozenset({"POST"})),
    "frontend:invite-entry": ("join", frozenset({"POST"})),
    "api:round-cards": ("card", frozenset({"POST"})),
    "api:card": ("card", frozenset({"PUT", "PATCH"})),
    "api:card-confirm": ("card", frozenset({"POST"})),
    "frontend:card": ("card", frozenset({"POST"})),
    "frontend:confirm": ("card", frozenset({"POST"})),
    "frontend:chat": ("chat", frozenset({"POST"})),
    "api:articulation-start": ("chat", frozenset({"POST"})),
    "api:articulation-turn": ("chat", frozenset({"POST"})),
    "api:articulation-draft": ("chat", frozenset({"POST"})),
    "api:articulation-confirm": ("chat", frozenset({"POST"})),
    "api:story-vote": ("vote", frozenset({"POST"})),
    "api:vote": ("vote", frozenset({"PATCH", "PUT"})),
    "frontend:vote": ("vote", frozenset({"POST"})),
}
