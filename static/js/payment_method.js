// The card form of /billing/payment-method/: Stripe.js takes the card and confirms the page's SetupIntent with
// Stripe, then the form posts only the SetupIntent's id back; the server asks Stripe what was saved.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form || typeof window.Stripe !== "function") {
    return;  // no Stripe.js: the message saying a card needs JavaScript stays
  }
  var stripe = window.Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card");
  var errors = document.getElementById("card-errors");
  var button = form.querySelector("button[type=submit]");
  card.mount("#card-element");
  document.getElementById("card-needs-javascript").hidden = true;
  form.hidden = false;

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    errors.textContent = "";
    stripe.confirmCardSetup(form.dataset.clientSecret, {payment_method: {card: card}}).then(function (result) {
      if (result.error || !result.setupIntent) {
        errors.textContent = (result.error && result.error.message) || form.dataset.genericError;
        button.disabled = false;
        return;
      }
      form.elements.setup_intent.value = result.setupIntent.id;
      form.submit();
    });
  });
})();
