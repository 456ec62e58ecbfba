// Records what a browser makes of the page, for the test that opens it headless.
window.addEventListener("error", function (event) {
  var root = document.documentElement;
  root.dataset.errors = (root.dataset.errors || "") + event.message + ";";
});
document.addEventListener("DOMContentLoaded", function () {
  var root = document.documentElement;
  root.dataset.chartBars = document.querySelectorAll("#size-chart rect.bar").length;
  root.dataset.rendered = "yes";
});
