"""Typed keys of what the application holds and what each request carries."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import Authenticator
from gateway.db import Database
from gateway.limits import SubmissionLimits
from gateway.openapi.endpoint import Endpoint
from gateway.states import TransactionStates
from gateway.submission import Submitter
from shared.amqp.publisher import Publisher
from shared.redis.status_cache import StatusCache
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
STATUS_CACHE = web.AppKey("status_cache", StatusCache)
PUBLISHER = web.AppKey("publisher", Publisher)
OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)
DOCS_PAGE = web.AppKey("docs_page", bytes)
ENDPOINTS = web.AppKey("endpoints", dict[tuple[str, str], Endpoint])
SUBMISSION_LIMITS = web.AppKey("submission_limits", SubmissionLimits)
SUBMITTER = web.AppKey("submitter", Submitter)
TRANSACTION_STATES = web.AppKey("transaction_states", TransactionStates)
TENANT_ID = web.RequestKey("tenant_id", str)
ENDPOINT = web.RequestKey("endpoint", Endpoint)
