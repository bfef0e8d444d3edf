"""The asynchronous client; `_sync/` is generated from it (`sdk/tools/unasync.py`)."""
