"""Customer account pages: billing profile, API keys and privacy. Each view validates a form and calls one
service or selector; a customer only ever reaches their own objects (another id answers 404)."""
import json

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language

from .forms import (
    TOGGLEABLE_CONSENTS,
    AccountEraseForm,
    ApiKeyCreateForm,
    ConsentForm,
    ProfileForm,
    SignupConfirmForm,
    SignupForm,
)
from .models import CUSTOMER_API_KEY_SCOPES, ConsentPurpose, ViesStatus
from .ratelimit import signup_attempt_allowed
from .selectors import api_keys_of, consents_current, profile_of
from .services import (
    SignupLinkError,
    account_erase,
    api_key_create,
    api_key_revoke,
    consent_record,
    profile_update,
    signup_confirm,
    signup_link_user,
    signup_request,
    user_data_export,
)

# A new key's token waits in the session for the one page that shows it, then is gone.
TOKEN_SESSION_KEY = "accounts:new-api-key"


@require_POST
def language_switch(request):
    """The language switch of every page. Django's set_language remembers the choice in a cookie and goes back
    to the page; a logged-in customer's choice is also saved in the profile, which decides their pages (and
    invoices and emails) in any browser."""
    language = request.POST.get("language")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        profile_update(user=request.user, language=language)
    return set_language(request)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    form = ProfileForm(request.POST or None, instance=profile_of(user=request.user))
    if request.method == "POST" and form.is_valid():
        try:
            saved = profile_update(user=request.user, **form.cleaned_data)
        except ValidationError as error:  # a VAT number VIES rejects
            form.add_error(None, error)
        else:
            messages.success(request, _("Your billing profile was saved."))
            if saved.vies_status == ViesStatus.UNAVAILABLE:
                messages.warning(request, _(
                    "VIES, the EU's VAT number service, could not be reached: your VAT number was accepted on its "
                    "format and will be checked again within the hour."
                ))
            return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form}, status=400 if form.errors else 200)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request):
    form = ApiKeyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # A browser session holds every customer scope, so it may give any of them.
        issued = api_key_create(user=request.user, name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"],
                                grantable=CUSTOMER_API_KEY_SCOPES)
        request.session[TOKEN_SESSION_KEY] = {"name": issued.api_key.name, "token": issued.token}
        return redirect("accounts:api_keys")
    context = {
        "form": form,
        "api_keys": api_keys_of(user=request.user),
        "new_key": request.session.pop(TOKEN_SESSION_KEY, None),
        "now": timezone.now(),
    }
    return render(request, "accounts/api_keys.html", context, status=400 if form.errors else 200)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_key_revoke_confirm(request, pk: int):
    api_key = get_object_or_404(api_keys_of(user=request.user), pk=pk, revoked_at__isnull=True)
    if request.method == "POST":
        api_key_revoke(api_key=api_key)
        revoked = _("The key “%(name)s” (tmcp_%(prefix)s_…) was revoked.")
        messages.success(request, revoked % {"name": api_key.name, "prefix": api_key.prefix})
        return redirect("accounts:api_keys")
    return render(request, "accounts/api_key_revoke.html", {"api_key": api_key})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def privacy(request):
    form = ConsentForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            consent_record(
                user=request.user,
                purpose=form.cleaned_data["purpose"],
                granted=form.cleaned_data["granted"],
                ip_address=request.META.get("REMOTE_ADDR"),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
            messages.success(request, _("Your choice was recorded."))
            return redirect("accounts:privacy")
        messages.error(request, " ".join(form.non_field_errors()) or _("That choice could not be recorded."))
    current = consents_current(user=request.user)
    consents = [
        {"purpose": purpose, "record": current[purpose.value], "toggleable": purpose in TOGGLEABLE_CONSENTS}
        for purpose in ConsentPurpose
    ]
    return render(request, "accounts/privacy.html", {"consents": consents}, status=400 if form.errors else 200)


@never_cache
@login_required
@require_POST
def privacy_export(request):
    """Everything held about the customer, every app included, as a JSON download (the export is audited)."""
    data = user_data_export(user=request.user)
    response = HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="twinmcp-account-{timezone.now():%Y-%m-%d}.json"'
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def erase(request):
    form = AccountEraseForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        account_erase(user=request.user)
        logout(request)
        return render(request, "accounts/erased.html")
    return render(request, "accounts/erase.html", {"form": form}, status=400 if form.errors else 200)


@never_cache
@require_http_methods(["GET", "POST"])
def signup(request):
    """A new account. Whether the address is new or already has an account, the answer is the same page
    ("check your email"): the emails tell the two apart, only to the address's owner."""
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = SignupForm(request.POST or None)
    if request.method == "POST":
        # Throttled like the login (django-axes: the same client address and cool-off): by address and by email.
        if not signup_attempt_allowed(ip_address=get_client_ip_address(request), email=request.POST.get("email", "")):
            minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
            return render(request, "registration/signup_locked_out.html", {"minutes": minutes}, status=429)
        if form.is_valid():
            signup_request(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                consents=form.consents_granted(),
                language=get_language(),
                ip_address=request.META.get("REMOTE_ADDR"),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
            return redirect("accounts:signup_sent")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


@require_GET
def signup_sent(request):
    return render(request, "registration/signup_sent.html")


@never_cache
@require_http_methods(["GET", "POST"])
def signup_confirm_link(request, token: str):
    """The link of the confirmation email. GET shows a form and changes nothing: mail scanners that open
    links must not use it up, and a link alone must not log a browser into someone's account (login CSRF).
    The form POSTs the password chosen on signing up: the account is confirmed, the customer logged in and sent
    to choose their plan."""
    form = SignupConfirmForm(request.POST or None)
    try:
        if request.method == "POST" and form.is_valid():
            user = signup_confirm(token=token, password=form.cleaned_data["password"])
        else:
            signup_link_user(token=token)
            status = 400 if form.errors else 200
            return render(request, "registration/signup_confirm.html", {"form": form}, status=status)
    except SignupLinkError as error:
        return render(request, "registration/signup_link_invalid.html", {"reason": error.reason}, status=400)
    except ValidationError as error:
        form.add_error(None, error)
        return render(request, "registration/signup_confirm.html", {"form": form}, status=400)
    logout(request)  # whoever was logged in in this browser, the confirmed customer takes their place
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, _("Your account is confirmed. Welcome to TwinMCP!"))
    return redirect("billing:plan_change")
