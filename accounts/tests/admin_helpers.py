"""Helpers for the admin tests of every app (accounts is the bottom layer, so all may import them)."""
import pytest
from django import forms
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse


def admin_url(model_or_obj, view: str) -> str:
    """The admin URL of a model's `changelist`/`add` page, or of an object's `change`/`delete` page."""
    opts = model_or_obj._meta
    args = () if view in ("changelist", "add") else (model_or_obj.pk,)
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def changelist_rows(client, model, **params) -> list:
    response = client.get(admin_url(model, "changelist"), params)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def changelist_query_count(client, model) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    return len(queries)


def editable_field_names(response) -> set[str]:
    """Names of the fields a change page renders as inputs, its inlines' included (hidden keys aside)."""
    admin_forms = [response.context["adminform"]]
    for inline in response.context["inline_admin_formsets"]:
        admin_forms.extend(inline)
    return {
        field.field.name
        for admin_form in admin_forms
        for fieldset in admin_form
        for line in fieldset
        for field in line
        if not field.is_readonly
    }


def unchanged_form_data(response) -> dict:
    """What submitting the change page as displayed would POST, so a test can alter only what it means to."""
    data = {}
    for form in _page_forms(response):
        for name in form.fields:
            bound = form[name]
            value = bound.value()
            if isinstance(bound.field.widget, forms.MultiWidget):
                for index, part in enumerate(bound.field.widget.decompress(value)):
                    data[f"{bound.html_name}_{index}"] = "" if part is None else str(part)
            elif isinstance(value, bool):
                if value:
                    data[bound.html_name] = "on"
            elif isinstance(value, (list, tuple)):
                data[bound.html_name] = [str(item) for item in value]
            else:
                data[bound.html_name] = "" if value is None else str(value)
    return data


def _page_forms(response) -> list:
    page_forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        page_forms.append(inline.formset.management_form)
        page_forms.extend(inline.formset.forms)
    return page_forms


def every_model_is_browsable(models, make_rows):
    """The checks every app's admin passes, as a test class: each model registered, its list and change
    pages answering, and its list making no query per row. `make_rows()` makes one row of each model;
    the test module provides a `rows` fixture returning it."""

    @pytest.mark.django_db
    class EveryModelIsBrowsable:
        @pytest.mark.parametrize("model", models, ids=lambda model: model.__name__)
        def test_is_registered(self, model):
            assert admin.site.is_registered(model)

        @pytest.mark.parametrize("model", models, ids=lambda model: model.__name__)
        def test_changelist_and_change_page_answer(self, admin_client, rows, model):
            assert admin_client.get(admin_url(model, "changelist")).status_code == 200
            assert admin_client.get(admin_url(rows[model], "change")).status_code == 200

        @pytest.mark.parametrize("model", models, ids=lambda model: model.__name__)
        def test_changelist_makes_no_query_per_row(self, admin_client, model):
            make_rows()
            queries_for_one = changelist_query_count(admin_client, model)
            make_rows()
            make_rows()

            assert changelist_query_count(admin_client, model) == queries_for_one

    return EveryModelIsBrowsable
