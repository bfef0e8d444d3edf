"""Typed keys of what the application holds and what each request carries."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import Authenticator, Principal
from gateway.db import Database
from gateway.dependencies import Dependencies
from gateway.limits import SubmissionLimits
from gateway.metrics import GatewayMetrics
from gateway.oauth import Tokens
from gateway.openapi.endpoint import Endpoint
from gateway.rate_limits import RateLimiter
from gateway.states import TransactionStates
from gateway.submission import Submitter
from shared.redis.access import KeyNotices
from shared.redis.status_cache import StatusCache
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
STATUS_CACHE = web.AppKey("status_cache", StatusCache)
OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)
DOCS_PAGE = web.AppKey("docs_page", bytes)
ENDPOINTS = web.AppKey("endpoints", dict[tuple[str, str], Endpoint])
SUBMISSION_LIMITS = web.AppKey("submission_limits", SubmissionLimits)
SUBMITTER = web.AppKey("submitter", Submitter)
TRANSACTION_STATES = web.AppKey("transaction_states", TransactionStates)
METRICS = web.AppKey("metrics", GatewayMetrics)
DEPENDENCIES = web.AppKey("dependencies", Dependencies)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
TOKENS = web.AppKey("tokens", Tokens)
KEY_NOTICES = web.AppKey("key_notices", KeyNotices)

TENANT_ID = web.RequestKey("tenant_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
REQUEST_ID = web.RequestKey("request_id", str)
# The error code a refused request was answered with (set by errors_middleware).
ERROR_CODE = web.RequestKey("error_code", str)
ENDPOINT = web.RequestKey("endpoint", Endpoint)
