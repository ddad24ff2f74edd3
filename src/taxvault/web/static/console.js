/* taxvault console: the one script besides htmx (CSP script-src 'self'; no inline script).
   A table wider than the screen scrolls inside its .table-wrap: such a region must be reachable
   and scrollable by keyboard (WCAG 2.1.1), so it gets tabindex=0, role=region and its caption as name. */
(function () {
  "use strict";
  function mark() {
    var wraps = document.querySelectorAll(".table-wrap");
    for (var i = 0; i < wraps.length; i++) {
      var el = wraps[i];
      if (el.scrollWidth > el.clientWidth + 1) {
        el.tabIndex = 0;
        el.setAttribute("role", "region");
        if (!el.hasAttribute("aria-label")) {
          var caption = el.querySelector("caption");
          el.setAttribute("aria-label", caption ? caption.textContent.trim() : "Table");
        }
      } else if (el.getAttribute("role") === "region") {
        el.removeAttribute("tabindex");
        el.removeAttribute("role");
      }
    }
  }
  document.addEventListener("DOMContentLoaded", mark);
  window.addEventListener("resize", mark);
  document.addEventListener("htmx:afterSettle", mark);
})();
