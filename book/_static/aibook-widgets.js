/* Loaded on pages with widgets, after require.js and before the ipywidgets embed bundle
   (see nb_ipywidgets_js in _config.yml), so static widgets render offline without errors. */
(function () {
  var here = document.currentScript.src;  // .../_static/aibook-widgets.js
  var W = here.slice(0, here.lastIndexOf("/")) + "/widgets";
  // The bundle's AMD modules locate their icon fonts from their require.js module URL; by
  // default that is relative to the page (404). Point the modules at _static/widgets/.
  window.__jupyter_widgets_assets_path__ = W + "/";
  require.config({paths: {"@jupyter-widgets/html-manager/dist": W, "@jupyter-widgets": W}});
  // ipywidgets typesets widget labels with MathJax 2's `MathJax.Hub.Queue(...)`; the site has
  // MathJax 3, so map that one call onto `MathJax.typesetPromise`. Deferred scripts (MathJax)
  // run before DOMContentLoaded, and this listener is registered before the bundle's.
  document.addEventListener("DOMContentLoaded", function () {
    var MJ = window.MathJax;
    if (!MJ || MJ.Hub || !MJ.typesetPromise) { return; }
    MJ.Hub = {Queue: function () {
      for (var i = 0; i < arguments.length; i++) {
        var job = arguments[i];
        if (Array.isArray(job) && job[0] === "Typeset" && job[2]) {
          MJ.startup.promise.then(function (el) {
            return function () { return MJ.typesetPromise([el]); };
          }(job[2]));
        }
      }
    }};
  });
})();
