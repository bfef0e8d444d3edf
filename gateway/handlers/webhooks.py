"""Webhook endpoints of a project (design section 12): create (the signing secret is in the
answer only), list, read, delete (which stops delivery), and the deliveries log of one, newest
first. The deliveries themselves are the worker's (worker/webhooks.py,
docs/decisions/0022-webhooks.md)."""

from __future__ import annotations

from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE, SETTINGS
from gateway.http import json_response, read_model
from gateway.listing import read_page
from gateway.openapi import examples, webhook_examples
from gateway.openapi.endpoint import Endpoint, Link
from gateway.query_strings import PageQuery
from gateway.representations import page_items
from gateway.requests import CreateWebhook
from shared.errors import NotFound, ValidationFailed
from shared.webhooks import endpoints
from shared.webhooks.addresses import UrlRefused, check_url

TAG = "Webhooks"


def webhook_out(endpoint: endpoints.Endpoint) -> responses.Webhook:
    return responses.Webhook(
        id=endpoint.id,
        url=endpoint.url,
        events=endpoint.events,
        description=endpoint.description,
        created_at=endpoint.created_at,
    )


def _refused(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field} {message}", details={"fields": [{"field": field, "message": message}]}
    )


async def create_webhook(request: web.Request) -> web.Response:
    body = await read_model(request, CreateWebhook)
    settings, project_id = request.app[SETTINGS], request.match_info["projectId"]
    try:
        await check_url(
            body.url,
            length_max=settings.webhook_url_length_max,
            allow_private=settings.webhook_allow_private,
            timeout_s=settings.webhook_resolve_timeout_ms / 1000,
        )
    except UrlRefused as refusal:
        raise _refused("url", str(refusal)) from None
    async with request.app[DATABASE].transaction() as connection:
        try:
            endpoint, secret = await endpoints.create_endpoint(
                connection,
                project_id,
                body.url,
                list(body.events),
                body.description,
                settings.webhook_endpoints_per_project_max,
            )
        except endpoints.TooManyEndpoints as refusal:
            raise _refused("projectId", str(refusal)) from None
    created = responses.CreatedWebhook(**webhook_out(endpoint).model_dump(), secret=secret)
    return json_response(created, status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    page, page_size = read_page(request)
    found = await endpoints.list_endpoints(
        request.app[DATABASE],
        request.match_info["projectId"],
        page_size + 1,
        (page - 1) * page_size,
    )
    found, has_more = page_items(found, page_size)
    items = [webhook_out(endpoint) for endpoint in found]
    return json_response(
        responses.WebhookPage(items=items, page=page, page_size=page_size, has_more=has_more)
    )


async def _endpoint(request: web.Request) -> endpoints.Endpoint:
    webhook_id = request.match_info["webhookId"]
    found = await endpoints.get_endpoint(
        request.app[DATABASE], request.match_info["projectId"], webhook_id
    )
    if found is None:
        raise NotFound(f"webhook {webhook_id} not found", code="WebhookNotFound")
    return found


async def get_webhook(request: web.Request) -> web.Response:
    return json_response(webhook_out(await _endpoint(request)))


async def delete_webhook(request: web.Request) -> web.Response:
    webhook_id = request.match_info["webhookId"]
    project_id = request.match_info["projectId"]
    async with request.app[DATABASE].transaction() as connection:
        deleted = await endpoints.delete_endpoint(connection, project_id, webhook_id)
    if not deleted:
        raise NotFound(f"webhook {webhook_id} not found", code="WebhookNotFound")
    return web.Response(status=204)


async def list_webhook_deliveries(request: web.Request) -> web.Response:
    page, page_size = read_page(request)
    endpoint = await _endpoint(request)
    attempts = await endpoints.list_attempts(
        request.app[DATABASE], endpoint.id, page_size + 1, (page - 1) * page_size
    )
    attempts, has_more = page_items(attempts, page_size)
    items = [
        responses.WebhookDelivery(
            event_id=attempt.event_id,
            event_type=attempt.event_type,
            attempt=attempt.attempt,
            status_code=attempt.status_code,
            error=attempt.error,
            at=attempt.at,
        )
        for attempt in attempts
    ]
    return json_response(
        responses.WebhookDeliveryPage(
            items=items, page=page, page_size=page_size, has_more=has_more
        )
    )


_WEBHOOK = {"projectId": "$request.path.projectId", "webhookId": "$response.body#/id"}
CREATE_WEBHOOK = Endpoint(
    "createWebhook",
    create_webhook,
    "Create a webhook endpoint",
    TAG,
    status=201,
    response=responses.CreatedWebhook,
    response_example=examples.dump(webhook_examples.CREATED_WEBHOOK),
    body=CreateWebhook,
    body_example=webhook_examples.CREATE_WEBHOOK,
    body_examples=webhook_examples.CREATE_WEBHOOK_EXAMPLES,
    description="Events of the project are POSTed to `url` as `{id, type, createdAt, data}`"
    " (data: the transaction or hold as the API shows it), signed by the Standard Webhooks"
    " convention: `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64"
    " HMAC-SHA256>` of `id.timestamp.body`, keyed by the base64 after `whsec_` in `secret`,"
    " which is shown in this answer only. Delivered at least once, retried with exponential"
    " backoff until a 2xx (bounded in attempts and age). `url` must be http(s), at most 2,048"
    " characters, without credentials, and name a public address (a host name is resolved);"
    " a project has a bounded number of endpoints (ValidationError past it).",
    links=(
        Link("GetWebhook", "getWebhook", _WEBHOOK),
        Link("ListWebhookDeliveries", "listWebhookDeliveries", _WEBHOOK),
        Link("DeleteWebhook", "deleteWebhook", _WEBHOOK),
    ),
)
LIST_WEBHOOKS = Endpoint(
    "listWebhooks",
    list_webhooks,
    "List a project's webhook endpoints (without secrets)",
    TAG,
    response=responses.WebhookPage,
    response_example=examples.page([webhook_examples.WEBHOOK]),
    query=PageQuery,
    description="Endpoints that are not deleted, oldest first.",
)
GET_WEBHOOK = Endpoint(
    "getWebhook",
    get_webhook,
    "A webhook endpoint (without its secret)",
    TAG,
    response=responses.Webhook,
    response_example=examples.dump(webhook_examples.WEBHOOK),
    errors=("WebhookNotFound",),
    description="A deleted endpoint, or another project's, answers 404 WebhookNotFound.",
)
DELETE_WEBHOOK = Endpoint(
    "deleteWebhook",
    delete_webhook,
    "Delete a webhook endpoint",
    TAG,
    status=204,
    errors=("WebhookNotFound",),
    description="Its pending deliveries are dropped with it: nothing more is sent (an attempt"
    " already on its way may still arrive).",
)
LIST_WEBHOOK_DELIVERIES = Endpoint(
    "listWebhookDeliveries",
    list_webhook_deliveries,
    "List an endpoint's recent delivery attempts",
    TAG,
    response=responses.WebhookDeliveryPage,
    response_example=examples.page([webhook_examples.DELIVERED, webhook_examples.FAILED_ATTEMPT]),
    query=PageQuery,
    errors=("WebhookNotFound",),
    description="Every attempt, newest first: the event, the attempt's number, the endpoint's"
    " HTTP status (null when it did not answer) and the error (null when it answered). The log"
    " keeps the endpoint's most recent attempts (webhook_attempts_kept_per_endpoint, 100).",
)
