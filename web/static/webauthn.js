// Passkeys (WebAuthn) for authd's pages: registration on the two-factor
// page, sign-in on the sign-in and second-step pages. Forms marked
// data-passkey="register" or "login" run the ceremony with the browser's
// JSON helpers and post the answer to the server, which checks it.
"use strict";

async function postJSON(url, body) {
  const resp = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "Accept": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await resp.json().catch(() => ({}));
  if (answer.step_up_required) {
    // The change needs a recent sign-in: confirm, then come back here.
    window.location.assign("/account/reauth?next=" + encodeURIComponent(window.location.pathname));
    throw new Error("Please confirm it is you first.");
  }
  if (!resp.ok) {
    throw new Error(answer.error || "The server answered " + resp.status + ".");
  }
  return answer;
}

function field(form, name) {
  const el = form.elements.namedItem(name);
  return el ? el.value : "";
}

async function register(form) {
  const options = await postJSON("/account/passkeys/options", {});
  const cred = await navigator.credentials.create({
    publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey),
  });
  return postJSON("/account/passkeys", { ceremony: options.ceremony, name: field(form, "passkey_name"), credential: cred.toJSON() });
}

async function signIn(form) {
  const options = await postJSON("/login/passkey/options", {});
  const cred = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey),
  });
  return postJSON("/login/passkey", {
    ceremony: options.ceremony, credential: cred.toJSON(), next: field(form, "next"), rd: field(form, "rd"),
  });
}

for (const form of document.querySelectorAll("form[data-passkey]")) {
  const status = document.getElementById(form.dataset.status);
  if (!window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON) {
    if (status) status.textContent = "This browser cannot use passkeys.";
    continue;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (status) status.textContent = "Waiting for your passkey…";
    try {
      const done = await (form.dataset.passkey === "register" ? register(form) : signIn(form));
      window.location.assign(done.next || "/account");
    } catch (err) {
      if (status) status.textContent = err.name === "NotAllowedError" ? "Cancelled, or no passkey answered." : err.message;
    }
  });
}
