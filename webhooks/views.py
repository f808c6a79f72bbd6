"""The customer's webhook endpoints page (`/account/webhooks/`), beside the API keys. Each view validates a form
and calls one service; a customer only ever reaches their own endpoints and deliveries (another id answers 404)."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from core.exceptions import Conflict

from .forms import WebhookEndpointForm
from .selectors import deliveries_of, endpoints_of, recent_deliveries
from .services import (
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_update,
)

# A new secret waits in the session for the one page that shows it, then is gone.
SECRET_SESSION_KEY = "webhooks:new-secret"


def _reveal_once(request, issued) -> None:
    request.session[SECRET_SESSION_KEY] = {"url": issued.endpoint.url, "secret": issued.secret}


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def endpoints(request):
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = webhook_endpoint_create(user=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            _reveal_once(request, issued)
            return redirect("webhooks:endpoints")
    listed = list(endpoints_of(user=request.user))
    deliveries = recent_deliveries(endpoints=listed)
    context = {
        "form": form,
        "endpoints": [(endpoint, deliveries[endpoint.pk]) for endpoint in listed],
        "new_secret": request.session.pop(SECRET_SESSION_KEY, None),
    }
    return render(request, "webhooks/endpoints.html", context, status=400 if form.errors else 200)


def _own_endpoint(request, pk: int):
    return get_object_or_404(endpoints_of(user=request.user), pk=pk)


@never_cache
@login_required
@require_POST
def endpoint_rotate(request, pk: int):
    _reveal_once(request, webhook_endpoint_secret_rotate(endpoint=_own_endpoint(request, pk)))
    return redirect("webhooks:endpoints")


@never_cache
@login_required
@require_POST
def endpoint_toggle(request, pk: int):
    endpoint = webhook_endpoint_update(endpoint=_own_endpoint(request, pk), is_active=request.POST.get("active") == "1")
    done = _("The endpoint %(url)s is enabled.") if endpoint.is_active else _("The endpoint %(url)s is disabled.")
    messages.success(request, done % {"url": endpoint.url})
    return redirect("webhooks:endpoints")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def endpoint_delete(request, pk: int):
    endpoint = _own_endpoint(request, pk)
    if request.method == "POST":
        webhook_endpoint_delete(endpoint=endpoint)
        messages.success(request, _("The endpoint %(url)s was deleted.") % {"url": endpoint.url})
        return redirect("webhooks:endpoints")
    return render(request, "webhooks/endpoint_delete.html", {"endpoint": endpoint})


@never_cache
@login_required
@require_POST
def delivery_resend(request, pk: int, delivery_pk: int):
    delivery = get_object_or_404(deliveries_of(endpoint=_own_endpoint(request, pk)), pk=delivery_pk)
    try:
        webhook_delivery_resend(delivery=delivery)
    except Conflict as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The event %(id)s is being sent again.") % {"id": delivery.message.public_id})
    return redirect("webhooks:endpoints")
