from django import forms
from django.utils.translation import gettext_lazy as _

from .models import WebhookEventType


class WebhookEndpointForm(forms.Form):
    required_css_class = "required"

    url = forms.URLField(
        label=_("Endpoint URL"), max_length=2000, assume_scheme="https",
        # A text box styled like the others, with the keyboard of an address on phones.
        widget=forms.TextInput(attrs={"inputmode": "url", "spellcheck": "false", "placeholder": "https://"}),
        help_text=_("An https:// address on the public internet; we POST each event there as JSON."),
    )
    events = forms.MultipleChoiceField(
        label=_("Events"), choices=WebhookEventType.choices, widget=forms.CheckboxSelectMultiple,
        help_text=_("The events sent to this endpoint."),
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
