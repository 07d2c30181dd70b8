/* The session page: autosave, countdown, sequential navigation and practice checks.
 *
 * Every change is kept in localStorage until the server acknowledges it, so a closed tab or a lost
 * connection loses nothing typed; saves carry an increasing client_seq so that an older save arriving
 * late never overwrites a newer one. In an exam, every answer changed in the last moment goes in one
 * request (a pause of SAVE_PAUSE ms in the changes, or SAVE_MAX_WAIT ms of changes without one), each
 * with its own client_seq and its own result. The countdown follows the server's seconds_left and
 * submits the session when it reaches zero. */
(function () {
  "use strict";

  var configElement = document.getElementById("exam-config");
  if (!configElement) return;
  var config = JSON.parse(configElement.textContent);
  var S = config.strings;
  var finishForm = document.getElementById("finish-form");
  var csrfToken = finishForm.querySelector("input[name=csrfmiddlewaretoken]").value;
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.question[data-qtype]"))
    .filter(function (section) { return section.dataset.qtype !== "description"; });
  var bySection = {};
  var lastSeq = 0;
  var finishing = false;
  var leaving = false;  // the page is being left (reload, navigation, closed tab)

  function format(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, name) { return values[name]; });
  }

  function nextSeq() {
    lastSeq = Math.max(Date.now(), lastSeq + 1);
    return lastSeq;
  }

  function storageKey(position) {
    return "quizsite:session:" + config.session + ":" + position;
  }

  function store(position, pending) {
    try {
      if (pending) localStorage.setItem(storageKey(position), JSON.stringify(pending));
      else localStorage.removeItem(storageKey(position));
    } catch (error) { /* private mode or full storage: the server copy is all there is */ }
  }

  function stored(position) {
    try {
      var text = localStorage.getItem(storageKey(position));
      return text ? JSON.parse(text) : null;
    } catch (error) { return null; }
  }

  function all(section, selector) {
    return Array.prototype.slice.call(section.querySelectorAll(selector));
  }

  // --- reading and writing the inputs of one question, in the response shapes the API takes ---------

  function readResponse(section) {
    switch (section.dataset.qtype) {
      case "single_choice":
      case "true_false": {
        var checked = section.querySelector("input[type=radio]:checked");
        return checked ? checked.value : "";
      }
      case "multiple_choice":
        return all(section, "input[type=checkbox]:checked").map(function (input) { return input.value; });
      case "fill_blank":
      case "cloze":
        return all(section, "[data-part]").map(function (input) { return input.value; });
      case "numerical":
        return section.querySelector("[data-part]").value.trim();
      case "matching": {
        var pairs = {};
        all(section, "select[data-left]").forEach(function (select) { pairs[select.dataset.left] = select.value || null; });
        return pairs;
      }
      default: {
        var text = section.querySelector("textarea");
        return text ? text.value : "";
      }
    }
  }

  function writeResponse(section, response) {
    var qtype = section.dataset.qtype;
    if (qtype === "single_choice" || qtype === "true_false" || qtype === "multiple_choice") {
      var chosen = Array.isArray(response) ? response : [response];
      all(section, "input[type=radio], input[type=checkbox]").forEach(function (input) {
        input.checked = chosen.indexOf(input.value) !== -1;
      });
    } else if (qtype === "fill_blank" || qtype === "cloze") {
      var parts = Array.isArray(response) ? response : [];
      all(section, "[data-part]").forEach(function (input, index) { input.value = parts[index] == null ? "" : parts[index]; });
    } else if (qtype === "numerical") {
      section.querySelector("[data-part]").value = response == null ? "" : response;
    } else if (qtype === "matching") {
      var pairs = response || {};
      all(section, "select[data-left]").forEach(function (select) { select.value = pairs[select.dataset.left] || ""; });
    } else {
      var text = section.querySelector("textarea");
      if (text) text.value = response == null ? "" : response;
    }
  }

  function isEmpty(response) {
    if (response == null || response === "") return true;
    if (Array.isArray(response)) return response.every(isEmpty);
    if (typeof response === "object") return Object.keys(response).every(function (key) { return isEmpty(response[key]); });
    return false;
  }

  function setStatus(section, kind, text) {
    var status = section.querySelector("[data-status]");
    if (!status) return;
    status.className = "save-status " + kind;
    status.textContent = text;
  }

  function clock(date) {
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(date.getHours()) + ":" + two(date.getMinutes()) + ":" + two(date.getSeconds());
  }

  // --- saving ----------------------------------------------------------------------------------------

  function stateOf(section) {
    var position = section.dataset.position;
    if (!bySection[position]) {
      bySection[position] = {section: section, position: position, pending: null, inflight: null,
        retryTimer: null, retryDelay: 0};
    }
    return bySection[position];
  }

  function remember(section) {
    var state = stateOf(section);
    state.pending = {response: readResponse(section), seq: nextSeq()};
    store(state.position, state.pending);
    return state;
  }

  // An exam answer is saved shortly after each change, with the others changed meanwhile; a practice
  // answer only when checked.
  var SAVE_PAUSE = 600;
  var SAVE_MAX_WAIT = 5000;
  var batch = {inflight: null, timer: null, since: 0, retryTimer: null, retryDelay: 0};

  function changed(section) {
    if (finishing || section.hasAttribute("data-checked")) return;
    remember(section);
    setStatus(section, "draft", S.draft);
    if (config.practice) return;
    schedule();
  }

  function schedule() {
    var now = Date.now();
    if (!batch.timer) batch.since = now;
    clearTimeout(batch.timer);
    var wait = Math.max(0, Math.min(SAVE_PAUSE, batch.since + SAVE_MAX_WAIT - now));
    batch.timer = setTimeout(function () { batch.timer = null; sendAll(); }, wait);
  }

  // The server took the save (or holds a newer one): the draft goes unless typed again meanwhile.
  function accepted(state, sending, body) {
    if (state.pending === sending) {
      state.pending = null;
      // Leaving the page, the next page may have been rendered before this save committed: the
      // draft stays until that page sees it again (re-sending it is harmless, same client_seq).
      if (!leaving) store(state.position, null);
    }
    if (state.pending) setStatus(state.section, "draft", S.draft);  // typed again meanwhile
    else setStatus(state.section, "saved", format(S.saved, {time: clock(new Date())}));
    if (body.item) showChecked(state.section, body.item);
    if (body.client_seq && body.client_seq > sending.seq && !pendingCount()) {
      // Another tab saved a newer answer to this question: show that one.
      setStatus(state.section, "saved", S.newer);
      window.location.reload();
    }
  }

  // Refused for good (not an answer the question takes, a checked question): retrying cannot help.
  function refused(state, sending, message) {
    if (state.pending === sending) {
      state.pending = null;
      if (!leaving) store(state.position, null);
    }
    setStatus(state.section, "error", S.refused + " " + message);
  }

  // The attempt takes no more answers (409 time_up or not_open): true if so, after acting on it.
  function attemptClosed(reply, state) {
    var extra = (reply.body && reply.body.extra) || {};
    if (reply.status === 409 && extra.code === "time_up") {
      if (state) setStatus(state.section, "error", reply.body.message || S.timeUp);
      timeUp();
      return true;
    }
    if (reply.status === 409 && extra.code === "not_open") {
      // Finished elsewhere (another tab, the deadline sweeper): its review is all there is now.
      finishing = true;
      if (state) store(state.position, null);
      window.location.href = config.urls.review;
      return true;
    }
    return false;
  }

  function put(url, body, keepalive) {
    return fetch(url, {
      method: "PUT",
      credentials: "same-origin",
      keepalive: !!keepalive,
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken},
      body: JSON.stringify(body)
    }).then(function (reply) {
      return reply.json().catch(function () { return {}; }).then(function (parsed) {
        return {status: reply.status, body: parsed};
      });
    });
  }

  // Every answer waiting to be saved, in one request.
  function sendAll(keepalive) {
    if (batch.inflight) {
      return batch.inflight.then(function () { return sendAll(keepalive); });
    }
    clearTimeout(batch.timer);
    batch.timer = null;
    clearTimeout(batch.retryTimer);
    var sending = Object.keys(bySection).map(function (key) { return bySection[key]; })
      .filter(function (state) { return state.pending; })
      .map(function (state) { return {state: state, pending: state.pending}; });
    if (!sending.length) return Promise.resolve(true);
    var byPosition = {};
    sending.forEach(function (entry) {
      byPosition[entry.state.position] = entry;
      setStatus(entry.state.section, "saving", S.saving);
    });
    var answers = sending.map(function (entry) {
      return {position: Number(entry.state.position), response: entry.pending.response, client_seq: entry.pending.seq};
    });
    batch.inflight = put(config.urls.answerBatch, {answers: answers}, keepalive).then(function (reply) {
      batch.inflight = null;
      if (reply.status === 200) {
        batch.retryDelay = 0;
        (reply.body.saved || []).forEach(function (saved) {
          var entry = byPosition[saved.position];
          if (entry) accepted(entry.state, entry.pending, saved);
        });
        (reply.body.refused || []).forEach(function (refusal) {
          var entry = byPosition[refusal.position];
          if (entry) refused(entry.state, entry.pending, refusal.message);
        });
        if (pendingCount() && !finishing) schedule();  // typed again meanwhile
        return true;
      }
      if (attemptClosed(reply, null)) return false;
      if (reply.status === 400 || reply.status === 404) {
        sending.forEach(function (entry) {
          refused(entry.state, entry.pending, reply.body.message || ("HTTP " + reply.status));
        });
        return false;
      }
      throw new Error("HTTP " + reply.status);
    }).catch(function () {
      batch.inflight = null;
      sending.forEach(function (entry) { setStatus(entry.state.section, "error", S.retrying); });
      batch.retryDelay = Math.min(batch.retryDelay ? batch.retryDelay * 2 : 1000, 30000);
      clearTimeout(batch.retryTimer);
      batch.retryTimer = setTimeout(function () { sendAll(); }, batch.retryDelay);
      return false;
    });
    return batch.inflight;
  }

  // One answer on its own: a practice check, which shows that question's result.
  function send(state, keepalive) {
    if (!state.pending) return Promise.resolve(true);
    if (state.inflight) {
      return state.inflight.then(function () { return send(state, keepalive); });
    }
    clearTimeout(state.retryTimer);
    var sending = state.pending;
    setStatus(state.section, "saving", S.saving);
    var body = {response: sending.response, client_seq: sending.seq};
    state.inflight = put(config.urls.answers + state.position, body, keepalive).then(function (reply) {
      state.inflight = null;
      if (reply.status === 200) {
        state.retryDelay = 0;
        accepted(state, sending, reply.body);
        return true;
      }
      if (attemptClosed(reply, state)) return false;
      if (reply.status === 400 || reply.status === 404 || reply.status === 409) {
        refused(state, sending, reply.body.message || ("HTTP " + reply.status));
        return false;
      }
      throw new Error("HTTP " + reply.status);
    }).catch(function () {
      state.inflight = null;
      setStatus(state.section, "error", S.retrying);
      state.retryDelay = Math.min(state.retryDelay ? state.retryDelay * 2 : 1000, 30000);
      clearTimeout(state.retryTimer);
      state.retryTimer = setTimeout(function () { send(state); }, state.retryDelay);
      return false;
    });
    return state.inflight;
  }

  function pendingCount() {
    return Object.keys(bySection).filter(function (key) { return bySection[key].pending; }).length;
  }

  function flushAll(keepalive) {
    if (config.practice) return Promise.resolve(true);
    return sendAll(keepalive);
  }

  // --- practice: the checked answer's result ----------------------------------------------------------

  function keyText(item) {
    var key = item.key || {};
    if (key.correct_options) {
      var texts = {};
      (item.options || []).forEach(function (option) { texts[option.key] = option.text; });
      return key.correct_options.map(function (letter) { return letter + ". " + (texts[letter] || ""); }).join("；");
    }
    if (key.pairs && key.pairs.length) {
      return key.pairs.map(function (pair) { return pair.left + " → " + pair.right; }).join("；");
    }
    if (key.blanks && key.blanks.length) {
      return key.blanks.map(function (blank) { return blank.join(" / "); }).join("；");
    }
    if (item.qtype === "true_false") return key.answer === "true" ? S.true : key.answer === "false" ? S.false : key.answer;
    return key.answer || "";
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function showChecked(section, item) {
    section.setAttribute("data-checked", "");
    all(section, "input, select, textarea").forEach(function (input) { input.disabled = true; });
    var button = section.querySelector("[data-check]");
    if (button) button.remove();
    var result = section.querySelector("[data-result]");
    if (!result) return;
    result.textContent = "";
    var verdict = element("p", "verdict");
    if (item.grade_status === "pending" || item.grade_status === "needs_review") {
      verdict.appendChild(element("span", "muted", S.pending));
    } else if (item.correct === true) {
      verdict.appendChild(element("span", "correct", S.correct));
    } else if (item.correct === false) {
      verdict.appendChild(element("span", "wrong", S.wrong));
    }
    result.appendChild(verdict);
    if (item.key) {
      var key = element("p", "key", S.rightAnswer + " ");
      key.appendChild(element("strong", "math", keyText(item)));
      result.appendChild(key);
    }
    if (item.explanation) {
      var block = element("div", "explanation-block");
      var head = element("h4", null, S.explanation + " ");
      var label = item.explanation_source === "model"
        ? format(S.aiLabel, {version: item.explanation_version || ""}) : S.bankLabel;
      head.appendChild(element("span", "badge", label));
      block.appendChild(head);
      block.appendChild(element("div", "explanation math", item.explanation));
      result.appendChild(block);
    }
    if (window.quizsiteRenderMath) window.quizsiteRenderMath(result);
  }

  // --- time --------------------------------------------------------------------------------------------

  var countdown = document.getElementById("countdown-value");
  var deadline = config.secondsLeft == null ? null : Date.now() + config.secondsLeft * 1000;

  function showTime() {
    if (deadline == null || !countdown) return;
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    var hours = Math.floor(left / 3600);
    var minutes = Math.floor((left % 3600) / 60);
    var seconds = left % 60;
    countdown.textContent = (hours ? hours + ":" : "") + (minutes < 10 && hours ? "0" : "") + minutes + ":" +
      (seconds < 10 ? "0" : "") + seconds;
    document.getElementById("countdown").classList.toggle("urgent", left <= 60);
    if (left <= 2) flushAll();
    if (left <= 0) timeUp();
  }

  function timeUp() {
    if (finishing) return;
    finishing = true;
    all(document, "section.question input, section.question select, section.question textarea, button")
      .forEach(function (input) { input.disabled = true; });
    var status = document.getElementById("connection");
    if (status) status.textContent = S.timeUp;
    // The answers already sent are on the server; submitting is the server's finish.
    flushAll().then(submit, submit);
  }

  function submit() {
    HTMLFormElement.prototype.submit.call(finishForm);
  }

  function resync() {
    fetch(config.urls.session, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (reply) { return reply.ok ? reply.json() : null; })
      .then(function (view) {
        if (!view) return;
        if (view.state !== "in_progress" && view.state !== "overdue") {
          finishing = true;
          window.location.href = config.urls.review;
          return;
        }
        if (view.seconds_left != null) deadline = Date.now() + view.seconds_left * 1000;
        showTime();
      })
      .catch(function () { /* offline: keep counting locally */ });
  }

  // --- wiring ------------------------------------------------------------------------------------------

  var restored = false;  // drafts typed here that the server never acknowledged: sent again at once
  sections.forEach(function (section) {
    var state = stateOf(section);
    var draft = stored(state.position);
    if (draft && !section.hasAttribute("data-checked")) {
      // Typed here but never acknowledged by the server: put it back and send it again.
      writeResponse(section, draft.response);
      state.pending = draft;
      lastSeq = Math.max(lastSeq, draft.seq || 0);
      setStatus(section, "draft", S.draft);
      restored = true;
    } else if (draft) {
      store(state.position, null);
    }
    section.addEventListener("input", function () { changed(section); });
    section.addEventListener("change", function () { changed(section); });
    var check = section.querySelector("[data-check]");
    if (check) {
      check.addEventListener("click", function () {
        var current = remember(section);
        if (isEmpty(current.pending.response)) return;
        check.disabled = true;
        send(current).then(function () { check.disabled = false; });
      });
    }
  });

  if (restored && !config.practice && config.state === "in_progress") sendAll();

  var next = document.getElementById("next-question");
  if (next) {
    next.addEventListener("click", function () {
      next.disabled = true;
      var save = config.practice ? Promise.resolve(true) : sendAll();
      save.then(function () {
        return fetch(config.urls.advance, {
          method: "POST",
          credentials: "same-origin",
          headers: {"Accept": "application/json", "X-CSRFToken": csrfToken}
        });
      }).then(function (reply) {
        if (!reply.ok) throw new Error("HTTP " + reply.status);
        window.location.reload();
      }).catch(function () {
        next.disabled = false;
        var status = document.getElementById("connection");
        if (status) status.textContent = S.retrying;
      });
    });
  }

  finishForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (finishing) return;
    var unanswered = sections.filter(function (section) { return isEmpty(readResponse(section)); }).length;
    var question = unanswered && !config.sequential ? format(S.confirmUnanswered, {count: unanswered}) : S.confirmFinish;
    if (!window.confirm(question)) return;
    finishing = true;
    document.getElementById("finish-button").disabled = true;
    flushAll().then(submit, submit);
  });

  window.addEventListener("online", function () {
    document.getElementById("connection").textContent = "";
    flushAll();
  });
  window.addEventListener("offline", function () { document.getElementById("connection").textContent = S.offline; });
  window.addEventListener("beforeunload", function () { leaving = true; if (!finishing) flushAll(true); });
  window.addEventListener("pagehide", function () { leaving = true; if (!finishing) flushAll(true); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flushAll(true);
    else if (deadline != null) resync();
  });

  if (config.state === "overdue") {
    timeUp();
  } else if (deadline != null) {
    showTime();
    setInterval(showTime, 500);
    setInterval(resync, 30000);
  }
}());

/* The review page: "why is my answer wrong" asks the model, which explains the student's own mistake;
 * its text is shown as it is written (server-sent events) and kept on the answer by the server. */
(function () {
  "use strict";

  Array.prototype.forEach.call(document.querySelectorAll("[data-explain-stream]"), function (box) {
    var button = box.querySelector(".why-wrong-button");
    var note = box.querySelector(".why-wrong-note");
    var block = box.querySelector(".explanation-block");
    var badge = box.querySelector(".why-wrong-badge");
    var text = box.querySelector(".why-wrong-text");

    function showNote(message) {
      note.textContent = message;
      note.hidden = false;
    }

    button.addEventListener("click", function () {
      if (!window.EventSource) { showNote(box.dataset.noteFailed); return; }
      button.disabled = true;
      note.hidden = true;
      badge.hidden = true;
      text.textContent = "";
      block.hidden = false;
      var source = new EventSource(box.dataset.explainStream);
      source.onmessage = function (event) { text.textContent += JSON.parse(event.data).text || ""; };
      source.addEventListener("note", function (event) {
        var code = JSON.parse(event.data).code;
        showNote(code === "interrupted" ? box.dataset.noteInterrupted : box.dataset.noteUnavailable);
      });
      source.addEventListener("done", function (event) {
        // Closed here: an EventSource left open would reconnect and ask again.
        source.close();
        var data = JSON.parse(event.data);
        if (data.text) text.textContent = data.text;  // as kept, the same as after a reload
        if (data.source === "model") {
          badge.textContent = box.dataset.aiLabel.replace("%(version)s", data.version || "");
          badge.hidden = false;
        }
        button.hidden = data.source === "model";
        button.disabled = false;
        if (window.quizsiteRenderMath) window.quizsiteRenderMath(text);
      });
      source.onerror = function () {
        // A refusal (JSON, not a stream) or a lost connection: let the student try again.
        source.close();
        showNote(box.dataset.noteFailed);
        button.disabled = false;
      };
    });
  });
}());
