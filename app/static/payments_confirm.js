// The "confirming…" page: ask every two seconds whether the Stripe webhook has landed,
// and reload into the access view as soon as it has. Without JS the Refresh link does it.
(function () {
  const box = document.getElementById("payment-status");
  if (!box) return;
  const url = box.dataset.statusUrl;
  let tries = 0;
  function poll() {
    tries += 1;
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then((response) => (response.ok ? response.json() : null))
      .then((status) => {
        if (status && status.paid) window.location.reload();
        else if (tries < 90) window.setTimeout(poll, 2000);
      })
      .catch(() => { if (tries < 90) window.setTimeout(poll, 4000); });
  }
  window.setTimeout(poll, 1000);
})();
