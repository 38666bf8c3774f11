// Idle sign-out without lost work, on every signed-in page.
//
// 1. Before the idle limit a banner counts down with "Stay signed in". The server's clock is
//    the one that counts: the page asks /accounts/session/ as a background refresh (not
//    activity) before warning, so activity in another tab is respected.
// 2. A form marked data-keep-on-expiry is checked before it is sent: if the session has
//    ended, it is not sent; what it holds stays in the page, the user signs in again in a
//    dialog (fetch to the sign-in page, which then answers JSON with the new CSRF token) and
//    the form is sent then.
(function () {
  "use strict";

  const dialog = document.getElementById("session-signin");
  if (!dialog) return;
  const statusUrl = dialog.dataset.statusUrl;
  const loginUrl = dialog.dataset.loginUrl;
  const username = dialog.dataset.username;
  const idleSeconds = Number(dialog.dataset.idleSeconds) || 900;
  const warnBefore = Math.min(120, idleSeconds / 3);
  const banner = document.getElementById("session-banner");
  const bannerText = document.getElementById("session-banner-text");
  const countdown = document.getElementById("session-countdown");
  const stayButton = document.getElementById("session-stay");
  const signInButton = document.getElementById("session-open-signin");
  const signInForm = document.getElementById("session-signin-form");
  const signInError = document.getElementById("session-signin-error");
  const password = document.getElementById("session-password");

  let timer = null;
  let ticker = null;
  let deadline = 0;
  let pending = null; // the form (and its submit button) waiting for the sign-in

  function ask(activity) {
    const headers = { Accept: "application/json" };
    if (!activity) headers["X-Background-Refresh"] = "1";
    return fetch(statusUrl, { credentials: "same-origin", headers: headers, cache: "no-store" })
      .then(function (response) { return response.json(); });
  }

  function stopClocks() {
    clearTimeout(timer);
    clearInterval(ticker);
  }

  function schedule(remaining) {
    stopClocks();
    banner.hidden = true;
    timer = setTimeout(check, Math.max(0, remaining - warnBefore) * 1000);
  }

  function check() {
    ask(false).then(function (state) {
      if (!state.authenticated) signedOut();
      else if (state.remaining_seconds > warnBefore + 1) schedule(state.remaining_seconds);
      else warn(state.remaining_seconds);
    }).catch(function () {
      timer = setTimeout(check, 5000);
    });
  }

  function warn(remaining) {
    stopClocks();
    deadline = Date.now() + remaining * 1000;
    banner.dataset.state = "warning";
    bannerText.textContent = "You will be signed out for inactivity in ";
    countdown.hidden = false;
    stayButton.hidden = false;
    signInButton.hidden = true;
    banner.hidden = false;
    function tick() {
      const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      countdown.textContent = left + " s";
      if (left <= 0) {
        clearInterval(ticker);
        timer = setTimeout(check, 1500); // the server decides; its clock counts whole seconds
      }
    }
    tick();
    ticker = setInterval(tick, 250);
  }

  function signedOut() {
    stopClocks();
    document.body.classList.add("session-expired");
    banner.dataset.state = "expired";
    bannerText.textContent =
      "You were signed out for inactivity. What you entered on this page is kept: sign in to continue.";
    countdown.hidden = true;
    stayButton.hidden = true;
    signInButton.hidden = false;
    banner.hidden = false;
  }

  function openSignIn() {
    signInError.hidden = true;
    if (!dialog.open) dialog.showModal();
    password.focus();
  }

  function signedIn(state) {
    document.querySelectorAll('input[name="csrfmiddlewaretoken"]').forEach(function (input) {
      input.value = state.csrf_token;
    });
    document.body.classList.remove("session-expired");
    if (dialog.open) dialog.close();
    password.value = "";
    schedule(state.remaining_seconds || idleSeconds);
    if (pending) {
      const held = pending;
      pending = null;
      send(held.form, held.submitter);
    }
  }

  function send(form, submitter) {
    form.dataset.sessionChecked = "1";
    form.requestSubmit(submitter || null);
  }

  stayButton.addEventListener("click", function () {
    ask(true).then(function (state) {
      if (state.authenticated) schedule(state.remaining_seconds);
      else signedOut();
    });
  });
  signInButton.addEventListener("click", openSignIn);
  // Keys typed in the dialog are the password, not the page's shortcuts.
  dialog.addEventListener("keydown", function (e) { e.stopPropagation(); });

  signInForm.addEventListener("submit", function (e) {
    e.preventDefault();
    ask(false).then(function (state) {
      if (state.authenticated) return state; // signed in again in another tab
      const body = new FormData(signInForm);
      body.set("csrfmiddlewaretoken", state.csrf_token);
      return fetch(loginUrl, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      }).then(function (response) { return response.json(); });
    }).then(function (state) {
      if (!state.authenticated) {
        signInError.textContent = state.error || "Sign-in failed.";
        signInError.hidden = false;
        password.select();
      } else if (state.username !== username) {
        // Never send one person's read as another's: start over on the home page.
        window.location.assign("/");
      } else {
        signedIn(state);
      }
    }).catch(function () {
      signInError.textContent = "The server did not answer; try again.";
      signInError.hidden = false;
    });
  });

  // Capture phase: runs before the form leaves, whoever asked it to (a key, a button).
  document.addEventListener("submit", function (e) {
    const form = e.target;
    if (!form.matches("form[data-keep-on-expiry]")) return;
    if (form.dataset.sessionChecked === "1") {
      delete form.dataset.sessionChecked;
      return; // checked just now: let it go
    }
    e.preventDefault();
    if (form.dataset.sessionBusy === "1") return;
    form.dataset.sessionBusy = "1";
    const submitter = e.submitter;
    // Asked as activity: the user is acting, so a live session stays live until it arrives.
    ask(true).then(function (state) {
      delete form.dataset.sessionBusy;
      if (state.authenticated && state.username === username) {
        send(form, submitter);
      } else {
        pending = { form: form, submitter: submitter };
        signedOut();
        openSignIn();
      }
    }).catch(function () {
      delete form.dataset.sessionBusy;
      stopClocks();
      banner.dataset.state = "error";
      bannerText.textContent = "The server did not answer. What you entered is kept: send it again.";
      countdown.hidden = stayButton.hidden = signInButton.hidden = true;
      banner.hidden = false;
    });
  }, true);

  schedule(idleSeconds);
})();
