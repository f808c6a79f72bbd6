/* Copy buttons: `data-copy-target` names the element whose text is copied, `data-copy-status` the live region
   that tells what happened. The button stays hidden without scripts; when the clipboard is unavailable or
   refused, the text is selected for the customer to copy by hand. */
"use strict";

function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

document.querySelectorAll("[data-copy-target]").forEach((button) => {
  const target = document.getElementById(button.dataset.copyTarget);
  const status = document.getElementById(button.dataset.copyStatus);
  if (!target || !status) {
    return;
  }
  const announce = (text, visible) => {
    status.textContent = text;
    status.classList.toggle("visually-hidden", !visible);
  };
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(target.textContent.trim());
      button.textContent = button.dataset.copiedLabel;
      button.classList.add("is-copied");
      // The button says so on screen already: the status is for screen readers.
      announce(button.dataset.copiedLabel, false);
    } catch (error) {
      selectText(target);
      announce(button.dataset.selectedLabel, true);
    }
  });
});
