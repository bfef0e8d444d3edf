"""Access: API keys, their scopes and their store (issue 25, docs/decisions/0021-access.md)."""
