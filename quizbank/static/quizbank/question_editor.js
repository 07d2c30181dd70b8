// The question editor: only the answer fields of the chosen type are shown; the question text is
// previewed as the pages will show it (rendered by the server, LaTeX typeset here by math.js); an image
// chosen is uploaded and its reference put into the text at the cursor.
(function () {
  var form = document.getElementById("question-form");
  if (!form) return;
  var qtype = form.elements.qtype;
  var stem = form.elements.stem;
  var format = form.elements.stem_format;
  var preview = document.getElementById("stem-preview");
  var status = document.getElementById("image-status");
  var strings = document.getElementById("editor-strings").dataset;
  var token = form.elements.csrfmiddlewaretoken.value;

  function showTypedFields() {
    form.querySelectorAll(".typed").forEach(function (row) {
      row.hidden = row.dataset.types.split(" ").indexOf(qtype.value) === -1;
    });
  }

  function post(url, body) {
    return fetch(url, {method: "POST", body: body, headers: {"X-CSRFToken": token}, credentials: "same-origin"})
      .then(function (response) {
        return response.json().then(function (data) { return {ok: response.ok, data: data}; });
      });
  }

  var pending = null;
  function refreshPreview() {
    clearTimeout(pending);
    pending = setTimeout(function () {
      var body = new FormData();
      body.append("text", stem.value);
      body.append("format", format.value);
      post(form.dataset.previewUrl, body).then(function (result) {
        if (!result.ok) return;
        preview.innerHTML = result.data.html;  // sanitised by the server, as every page shows it
        if (window.quizsiteRenderMath) window.quizsiteRenderMath(preview);
      }).catch(function () {});
    }, 300);
  }

  function insertAtCursor(text) {
    var start = stem.selectionStart, end = stem.selectionEnd;
    stem.value = stem.value.slice(0, start) + text + stem.value.slice(end);
    stem.selectionStart = stem.selectionEnd = start + text.length;
    stem.focus();
    refreshPreview();
  }

  function upload(event) {
    var file = event.target.files[0];
    if (!file) return;
    var body = new FormData();
    body.append("file", file);
    status.textContent = strings.uploading;
    post(form.dataset.uploadUrl, body).then(function (result) {
      if (!result.ok) {
        status.textContent = strings.failed + " " + (result.data.message || "");
        return;
      }
      if (format.value === "plain") format.value = "markdown";  // plain text shows no images
      insertAtCursor(format.value === "html" ? result.data.html : result.data.markdown);
      status.textContent = strings.uploaded;
    }).catch(function () { status.textContent = strings.failed; });
    event.target.value = "";
  }

  qtype.addEventListener("change", showTypedFields);
  stem.addEventListener("input", refreshPreview);
  format.addEventListener("change", refreshPreview);
  document.getElementById("image-file").addEventListener("change", upload);
  showTypedFields();
  refreshPreview();
}());
