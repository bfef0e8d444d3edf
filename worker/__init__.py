"""The worker: consumes partition queues and owns every balance change."""
