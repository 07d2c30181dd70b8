// LaTeX in stems, options, explanations and answers: any element with class "math" (and text added
// later by scripts, through window.quizsiteRenderMath). Loaded without `defer` so the function exists
// before the page's own scripts run; KaTeX itself (deferred) is looked up at call time.
(function () {
  // Text longer than this is shown as it is, never typeset: a student's answer can be 50,000
  // characters of `$...$` on the teacher's grading page, and typesetting it would stall the tab.
  var MATH_MAX_CHARS = 10000;
  var OPTIONS = {
    delimiters: [
      {left: "$$", right: "$$", display: true},
      {left: "\\[", right: "\\]", display: true},
      {left: "\\(", right: "\\)", display: false},
      {left: "$", right: "$", display: false}
    ],
    throwOnError: false,
    maxSize: 20,     // em: no \rule or \kern as large as the page
    maxExpand: 200,  // macro expansions per formula: a \def that doubles itself stops here
    trust: false     // no \href, \url or \includegraphics
  };

  window.quizsiteRenderMath = function (root) {
    if (!window.renderMathInElement) return;
    var targets = root.classList && root.classList.contains("math") ? [root] : root.querySelectorAll(".math");
    Array.prototype.forEach.call(targets, function (element) {
      if ((element.textContent || "").length > MATH_MAX_CHARS) {
        element.setAttribute("data-math-skipped", "too long");
        return;
      }
      window.renderMathInElement(element, OPTIONS);
    });
  };
  document.addEventListener("DOMContentLoaded", function () { window.quizsiteRenderMath(document.body); });
}());
