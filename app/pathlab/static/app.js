// Progressive enhancement only: every page works without this file.
// Chromium honours `autofocus` on the error summary; this covers browsers that do not.
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("error-summary");
  if (summary && document.activeElement !== summary) summary.focus();
});
