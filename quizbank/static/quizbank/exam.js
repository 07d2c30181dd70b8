/* The session page: autosave, countdown, sequential navigation and practice checks.
 *
 * Every change is kept in localStorage until the server acknowledges it, so a closed tab or a lost
 * connection loses nothing typed; saves carry an increasing client_seq so that an older save arriving
 * late never overwrites a newer one. The countdown follows the server's seconds_left and submits the
 * session when it reaches zero. */
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
      bySection[position] = {section: section, position: position, pending: null, inflight: null, timer: null,
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

  // An exam answer is saved shortly after each change; a practice answer only when checked.
  function changed(section) {
    if (finishing || section.hasAttribute("data-checked")) return;
    var state = remember(section);
    setStatus(section, "draft", S.draft);
    if (config.practice) return;
    clearTimeout(state.timer);
    state.timer = setTimeout(function () { send(state); }, 600);
  }

  function send(state, keepalive) {
    if (!state.pending) return Promise.resolve(true);
    if (state.inflight) {
      return state.inflight.then(function () { return send(state, keepalive); });
    }
    clearTimeout(state.timer);
    clearTimeout(state.retryTimer);
    var sending = state.pending;
    setStatus(state.section, "saving", S.saving);
    state.inflight = fetch(config.urls.answers + state.position, {
      method: "PUT",
      credentials: "same-origin",
      keepalive: !!keepalive,
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken},
      body: JSON.stringify({response: sending.response, client_seq: sending.seq})
    }).then(function (reply) {
      return reply.json().catch(function () { return {}; }).then(function (body) {
        return {status: reply.status, body: body};
      });
    }).then(function (reply) {
      state.inflight = null;
      if (reply.status === 200) {
        state.retryDelay = 0;
        if (state.pending === sending) {
          state.pending = null;
          // Leaving the page, the next page may have been rendered before this save committed: the
          // draft stays until that page sees it again (re-sending it is harmless, same client_seq).
          if (!leaving) store(state.position, null);
        }
        if (state.pending) setStatus(state.section, "draft", S.draft);  // typed again meanwhile
        else setStatus(state.section, "saved", format(S.saved, {time: clock(new Date())}));
        if (reply.body.item) showChecked(state.section, reply.body.item);
        if (reply.body.client_seq && reply.body.client_seq > sending.seq && !pendingCount()) {
          // Another tab saved a newer answer to this question: show that one.
          setStatus(state.section, "saved", S.newer);
          window.location.reload();
        }
        return true;
      }
      var extra = (reply.body && reply.body.extra) || {};
      if (reply.status === 409 && extra.code === "time_up") {
        setStatus(state.section, "error", reply.body.message || S.timeUp);
        timeUp();
        return false;
      }
      if (reply.status === 409 && extra.code === "not_open") {
        // Finished elsewhere (another tab, the deadline sweeper): its review is all there is now.
        finishing = true;
        store(state.position, null);
        window.location.href = config.urls.review;
        return false;
      }
      if (reply.status === 400 || reply.status === 404 || reply.status === 409) {
        // Refused for good (not an answer the question takes, a checked question): retrying cannot help.
        if (state.pending === sending) {
          state.pending = null;
          // Leaving the page, the next page may have been rendered before this save committed: the
          // draft stays until that page sees it again (re-sending it is harmless, same client_seq).
          if (!leaving) store(state.position, null);
        }
        setStatus(state.section, "error", S.refused + " " + (reply.body.message || ("HTTP " + reply.status)));
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
    return Promise.all(Object.keys(bySection).map(function (key) { return send(bySection[key], keepalive); }));
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

  sections.forEach(function (section) {
    var state = stateOf(section);
    var draft = stored(state.position);
    if (draft && !section.hasAttribute("data-checked")) {
      // Typed here but never acknowledged by the server: put it back and send it again.
      writeResponse(section, draft.response);
      state.pending = draft;
      lastSeq = Math.max(lastSeq, draft.seq || 0);
      setStatus(section, "draft", S.draft);
      if (!config.practice && config.state === "in_progress") send(state);
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

  var next = document.getElementById("next-question");
  if (next) {
    next.addEventListener("click", function () {
      next.disabled = true;
      var current = sections.length ? stateOf(sections[0]) : null;
      var save = current && !config.practice && current.pending ? send(current) : Promise.resolve(true);
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
