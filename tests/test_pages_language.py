"""Every customer page in the customer's language: the profile's language for a logged-in customer, else the
browser's Accept-Language (or the switch's cookie), else English; and the switch on every page that changes it.

Each page is read twice, by a customer whose profile says French and by one whose profile says English: each
reading holds its language's texts and none of the other's. The clock is pinned to 15 December 2026, so that
dates read "31 déc. 2026" and "31 Dec 2026".
"""
import datetime
import html
import re

import pytest
from django.urls import reverse

from accounts.models import ConsentPurpose, UserProfile
from accounts.services import consent_record
from accounts.tests.factories import ApiKeyFactory

NOW = datetime.datetime(2026, 12, 15, 10, 0, tzinfo=datetime.UTC)
SWITCH = 'action="/account/language/"'


@pytest.fixture(autouse=True)
def _pinned(time_machine):
    time_machine.move_to(NOW, tick=False)


def visible_text(page: str) -> str:
    """What a reader sees: the page without its head, scripts and tags, entities decoded, every run of
    whitespace (no-break spaces included) one space."""
    body = page.split("<body", 1)[-1]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", body))
    return re.sub(r"\s+", " ", text)


@pytest.fixture
def world(db, world):
    """The customer of tests/conftest.py (on Pro this period, last month's invoice paid in part by transfer, a
    credit, an unread alert; Team offered), with an API key and the terms accepted too."""
    user = world["user"]
    ApiKeyFactory(user=user, name="Laptop")
    consent_record(user=user, purpose=ConsentPurpose.TERMS, granted=True, now=NOW - datetime.timedelta(days=60))
    return world


def speaking(client, world, language: str):
    UserProfile.objects.filter(pk=world["profile"].pk).update(language=language)
    client.force_login(world["user"])
    return client


# Per page: its address (from the world), the French texts it shows, and the English texts it shows in their
# place; a French page holds none of the English ones and the other way round.
PAGES = {
    "dashboard": (
        lambda world: reverse("billing:dashboard"),
        ["Tableau de bord", "Période de facturation 1 déc. 2026 – 31 déc. 2026", "Votre forfait", "HT par mois",
         "Consommation de la période", "jetons", "Prochaine facture", "Total HT", "TVA 20 %", "Alertes non lues",
         "Consommation quotidienne", "Jetons par jour", "Se déconnecter", "Changer de forfait",
         "Résilier l’abonnement", "Actif", "Utilisation des 12 derniers mois"],
        ["Dashboard", "Billing period 1 Dec 2026 – 31 Dec 2026", "Your plan", "a month, excl. VAT",
         "Usage this period", "Upcoming invoice", "Subtotal", "VAT 20 %", "Unread alerts", "Daily usage",
         "Tokens per day", "Log out", "Change plan", "Cancel subscription", "Usage over the last 12 months"],
    ),
    "invoice list": (
        lambda world: reverse("billing:invoice_list"),
        ["Factures", "Numéro", "Statut", "Reste à payer", "Émise le", "Échéance", "Filtrer", "Tous les statuts",
         "Toutes les années", "Année", "1 nov. – 30 nov. 2026"],
        ["Invoices", "Number", "Status", "Left to pay", "Issued", "Due", "Filter", "All statuses", "All years",
         "Year", "1 Nov – 30 Nov 2026"],
    ),
    "payments": (
        lambda world: reverse("billing:payments"),
        ["Paiements", "Moyen", "Virement bancaire", "Effectué", "Vos paiements"],
        ["Payments", "Method", "Bank transfer", "Completed", "Your payments"],
    ),
    "credits": (
        lambda world: reverse("billing:credits"),
        ["Crédits", "Disponible", "Accordé le", "Motif", "Offre promotionnelle", "Jamais",
         "Vos crédits règlent automatiquement"],
        ["Available", "Granted", "Reason", "Promotional", "Never", "Credits pay your next invoices"],
    ),
    "alerts": (
        lambda world: reverse("billing:alerts"),
        ["Alertes", "Seuil de consommation", "Marquer comme lue", "Lue le", "Vos alertes de facturation"],
        ["Alerts", "Usage threshold", "Mark as read", "Your billing alerts"],
    ),
    "plan change": (
        lambda world: reverse("billing:plan_change"),
        ["Changer de forfait", "Votre forfait actuel", "jetons inclus", "Voir le nouveau tarif",
         "Garder mon forfait", "/ mois", "Une montée en gamme"],
        ["Change plan", "Your current plan", "tokens included", "See the new fee", "Keep my plan", "/ month",
         "An upgrade"],
    ),
    "plan change confirmation": (
        lambda world: reverse("billing:plan_change_confirm") + "?plan=team",
        ["Passer de Pro à Team ?", "Abonnement de la période, HT", "Abonnement avec le changement",
         "Abonnement sans le changement", "Écart", "Confirmer : passer à Team", "Garder Pro",
         "Total sans le changement"],
        ["Switch from Pro to Team?", "This period's fee", "Fee with the change", "Fee without it", "Difference",
         "Confirm: switch to Team", "Keep Pro", "Total without the change"],
    ),
    "cancel": (
        lambda world: reverse("billing:cancel"),
        ["Résilier votre abonnement Pro ?", "Quand doit-il s’arrêter ?", "À la fin de cette période, le 31 déc. 2026",
         "Maintenant", "Le conserver", "Dernière facture"],
        ["Cancel your Pro subscription?", "When should it stop?", "At the end of this period", "Now", "Keep it",
         "Final invoice"],
    ),
    "api keys": (
        lambda world: reverse("accounts:api_keys"),
        ["Clés d’API", "Créer une clé", "Ce que la clé permet", "Lire la documentation", "Vos clés",
         "Dernière utilisation", "Jamais", "Révoquer"],
        ["API keys", "Create a key", "What the key may do", "Read the documentation", "Your keys", "Last used",
         "Never", "Revoke"],
    ),
    "profile": (
        lambda world: reverse("accounts:profile"),
        ["Profil de facturation", "Qui vous êtes", "Nom complet", "Société", "Code postal", "Numéro de TVA",
         "Langue", "Plafond mensuel de dépassement (EUR)", "Enregistrer le profil", "Allemagne", "Royaume-Uni"],
        ["Billing profile", "Who you are", "Full name", "Company", "Postal code", "VAT number",
         "Monthly overage cap", "Save the profile", "Germany", "United Kingdom"],
    ),
    "privacy": (
        lambda world: reverse("accounts:privacy"),
        ["Confidentialité", "Vos consentements", "Finalité", "Conditions générales d’utilisation",
         "E-mails commerciaux", "Non donné", "Acceptées", "Télécharger mes données (JSON)", "Effacer mon compte"],
        ["Privacy", "Your consents", "Purpose", "Terms of service", "Marketing emails", "Not given", "Accepted",
         "Download my data", "Erase my account"],
    ),
    "usage": (
        lambda world: reverse("billing:usage"),
        ["Votre quota sur cette période", "Jetons par jour", "Télécharger le CSV", "Total de la période"],
        ["Your quota this period", "Tokens per day", "Download CSV", "Total for the period"],
    ),
    "webhooks": (
        lambda world: reverse("webhooks:endpoints"),
        ["Vos points de terminaison", "Vous n’avez encore aucun point de terminaison de webhook.",
         "Ajouter le point de terminaison"],
        ["Your endpoints", "You have no webhook endpoint yet.", "Add the endpoint"],
    ),
    "payment method": (
        lambda world: reverse("billing:payment_method"),
        ["Moyen de paiement", "Virement bancaire", "Titulaire du compte"],
        ["Payment method", "Bank transfer", "Account holder"],
    ),
    "not found": (
        lambda world: "/billing/no-such-page/",
        ["Cette page n’existe pas", "Aller à votre tableau de bord"],
        ["This page does not exist", "Go to your dashboard"],
    ),
}


@pytest.mark.django_db
class TestEveryPageInTheProfilesLanguage:
    @pytest.mark.parametrize("language", ["fr", "en"])
    @pytest.mark.parametrize("name", PAGES)
    def test_in_the_profiles_language_whatever_the_browser_asks(self, client, world, name, language):
        url, french, english = PAGES[name]
        expected, absent = (french, english) if language == "fr" else (english, french)
        browser_asks = "en" if language == "fr" else "fr"

        response = speaking(client, world, language).get(url(world), HTTP_ACCEPT_LANGUAGE=browser_asks)

        text = visible_text(response.content.decode())
        assert response["Content-Language"] == language
        assert f'<html lang="{language}">' in response.content.decode()
        assert [phrase for phrase in expected if phrase not in text] == []
        assert [phrase for phrase in absent if phrase in text] == []

    @pytest.mark.parametrize("name", [*PAGES, "invoice"])
    def test_every_page_offers_the_switch(self, client, world, name):
        url = PAGES[name][0](world) if name in PAGES else reverse("billing:invoice_detail", args=[world["invoice"].pk])

        page = speaking(client, world, "fr").get(url).content.decode()

        assert SWITCH in page
        assert 'name="language" value="en" lang="en"' in page
        assert 'name="language" value="fr" lang="fr" class="language-option" aria-pressed="true"' in page

    def test_messages_after_an_action_are_in_french(self, client, world):
        response = speaking(client, world, "fr").post(reverse("billing:cancel"), {"when": "period_end"}, follow=True)

        assert "Votre abonnement prendra fin avec la période en cours." in visible_text(response.content.decode())

    def test_form_errors_are_in_french(self, client, world):
        response = speaking(client, world, "fr").post(
            reverse("accounts:profile"), {"country": "DE", "vat_number": "DE123", "language": "fr"}
        )

        text = visible_text(response.content.decode())
        assert response.status_code == 400
        assert "Certains champs sont à corriger" in text
        assert "Ce numéro de TVA n’est pas valide" in text


@pytest.mark.django_db
class TestVisitorsLanguage:
    def test_a_visitor_asking_for_french_gets_the_french_login_page(self, client):
        response = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.5")

        text = visible_text(response.content.decode())
        assert response["Content-Language"] == "fr"
        assert '<html lang="fr">' in response.content.decode()
        for phrase in ("Se connecter", "Adresse e-mail", "Mot de passe", "Mot de passe oublié ?",
                       "Vos factures, votre consommation et vos clés d’API TwinMCP."):
            assert phrase in text
        for phrase in ("Log in", "Email address", "Password", "Forgot your password?"):
            assert phrase not in text

    def test_any_other_visitor_gets_english(self, client):
        response = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="de-DE")

        text = visible_text(response.content.decode())
        assert response["Content-Language"] == "en"
        assert "Log in" in text and "Forgot your password?" in text and SWITCH in response.content.decode()

    @pytest.mark.parametrize(("url", "french", "english"), [
        ("/account/password-reset/sent/", "Consultez vos e-mails", "Check your email"),
        ("/account/reset/done/", "Votre mot de passe a été modifié", "Your password was changed"),
        ("/account/reset/MQ/bad-token/", "Ce lien ne fonctionne plus", "This link no longer works"),
        ("/account/signup/", "Créer mon compte", "Create my account"),
        ("/account/signup/", "Vous avez déjà un compte ?", "Already have an account?"),
    ])
    def test_the_pages_before_login_follow_the_browser(self, client, url, french, english):
        assert french in visible_text(client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode())
        assert english in visible_text(client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode())

    def test_the_logout_page_is_french(self, client, world):
        response = speaking(client, world, "fr").post(reverse("accounts:logout"), HTTP_ACCEPT_LANGUAGE="fr")

        assert "Vous êtes déconnecté" in visible_text(response.content.decode())

    def test_the_password_reset_pages_speak_french_too(self, client, mailoutbox, world):
        form = client.get(reverse("accounts:password_reset"), HTTP_ACCEPT_LANGUAGE="fr")
        sent = client.post(
            reverse("accounts:password_reset"), {"email": "ada@example.com"}, HTTP_ACCEPT_LANGUAGE="fr", follow=True
        )

        assert "Réinitialiser votre mot de passe" in visible_text(form.content.decode())
        assert "Consultez vos e-mails" in visible_text(sent.content.decode())
        [email] = mailoutbox
        assert email.subject == "Réinitialisez votre mot de passe TwinMCP"
        assert email.body.startswith("Bonjour,") and "ouvrez ce lien" in email.body


@pytest.mark.django_db
class TestSwitch:
    def test_the_switch_saves_a_customers_language_and_goes_back(self, client, world):
        speaking(client, world, "en")

        response = client.post(reverse("accounts:language"), {"language": "fr", "next": reverse("billing:credits")})

        assert response.status_code == 302 and response["Location"] == reverse("billing:credits")
        assert UserProfile.objects.get(user=world["user"]).language == "fr"
        # The profile now decides, in this browser and any other.
        client.cookies.clear()
        client.force_login(world["user"])
        assert "Disponible" in visible_text(client.get(reverse("billing:credits")).content.decode())

    def test_the_profile_wins_over_the_browser(self, client, world):
        page = speaking(client, world, "en").get(reverse("billing:dashboard"), HTTP_ACCEPT_LANGUAGE="fr")

        assert "Your plan" in visible_text(page.content.decode())

    def test_a_visitors_choice_is_kept_in_a_cookie(self, client):
        client.post(reverse("accounts:language"), {"language": "fr", "next": reverse("accounts:login")})

        response = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="en")

        assert "Mot de passe oublié ?" in visible_text(response.content.decode())

    def test_an_unknown_language_changes_nothing(self, client, world):
        speaking(client, world, "fr")

        response = client.post(reverse("accounts:language"), {"language": "xx", "next": reverse("billing:dashboard")})

        assert response.status_code == 302
        assert UserProfile.objects.get(user=world["user"]).language == "fr"

    def test_the_switch_takes_only_posts(self, client):
        assert client.get(reverse("accounts:language")).status_code == 405
