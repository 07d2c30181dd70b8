// The run form's estimate: as its fields change, the memory per device, the time and whether the run
// fits its pool are asked of the server (tuning-estimate) and shown under the form.
(function () {
  var form = document.getElementById("run-form");
  var out = document.getElementById("run-estimate");
  if (!form || !out) return;
  var url = form.getAttribute("data-estimate-url");
  var pending = null;
  var asked = 0;

  function ask() {
    var params = new URLSearchParams(new FormData(form));
    params.delete("csrfmiddlewaretoken");
    var mine = ++asked;
    fetch(url + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (found) {
        if (mine !== asked) return; // a newer answer is on its way
        out.textContent = found.summary || "";
        out.className = found.fits === false ? "estimate-refused" : found.fits ? "estimate-fits" : "";
      })
      .catch(function () { out.textContent = ""; });
  }

  function later() {
    window.clearTimeout(pending);
    pending = window.setTimeout(ask, 300);
  }
  form.addEventListener("change", later);
  form.addEventListener("input", later);
  ask();
}());
