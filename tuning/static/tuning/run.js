// The run page while its run runs: every few seconds the page is fetched again and its live part
// (status, steps, speed, time left, curves, checkpoints, events) is swapped in, until the run has
// ended. Without scripts the page refreshes itself instead (its <noscript> refresh).
(function () {
  var live = document.getElementById("run-live");
  if (!live || !live.getAttribute("data-refresh")) return;
  var every = (Number(live.getAttribute("data-refresh")) || 5) * 1000;

  function poll() {
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("run-live");
        if (!fresh) return;
        live.replaceWith(fresh);
        live = fresh;
        if (live.getAttribute("data-refresh")) window.setTimeout(poll, every);
      })
      .catch(function () { window.setTimeout(poll, every * 4); }); // the server is busy or restarting
  }
  window.setTimeout(poll, every);
}());
