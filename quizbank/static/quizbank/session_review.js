// The attempt is over: drafts kept for it on this device are no longer needed. The session's id
// comes from the script tag's data-session attribute.
(function () {
  var script = document.currentScript;
  var id = script && script.getAttribute("data-session");
  if (!id) return;
  try {
    var prefix = "quizsite:session:" + id + ":";
    Object.keys(localStorage).forEach(function (key) { if (key.indexOf(prefix) === 0) localStorage.removeItem(key); });
  } catch (error) { /* storage unavailable */ }
}());
