"""Webhooks (design section 12): the signing convention, the retry schedule, the rules for
endpoint URLs, the events and the endpoints' storage (docs/decisions/0022-webhooks.md)."""
