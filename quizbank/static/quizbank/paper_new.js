// The new-paper form: show only the part of the form the chosen kind uses.
(function () {
  var form = document.getElementById("paper-form");
  if (!form) return;
  function sync() {
    var kind = form.querySelector("input[name=kind]:checked");
    var random = kind && kind.value === "random";
    document.getElementById("fixed-part").hidden = random;
    document.getElementById("random-part").hidden = !random;
  }
  form.querySelectorAll("input[name=kind]").forEach(function (input) { input.addEventListener("change", sync); });
  sync();
}());
