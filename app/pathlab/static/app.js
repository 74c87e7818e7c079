// Progressive enhancement only: every page works without this file.
// Chromium honours `autofocus` on the error summary; this covers browsers that do not.
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("error-summary");
  if (summary && document.activeElement !== summary) summary.focus();
  followBatch();
});

// A batch job's page: without this script the user refreshes it with its button; with it, the
// progress bar moves by itself and the summary (role="status") is announced politely, only when
// it changes. When the job finishes, the requests table is read again once and the refresh
// button, no longer useful, goes.
function followBatch() {
  const section = document.getElementById("batch-progress");
  if (!section || section.dataset.finished === "true") return;
  const bar = document.getElementById("batch-bar");
  const status = document.getElementById("batch-summary");
  const poll = async () => {
    let progress;
    try {
      const answer = await fetch(section.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (!answer.ok) throw new Error(String(answer.status));
      progress = await answer.json();
    } catch (err) {
      window.setTimeout(poll, 5000);  // the app itself is unreachable: the refresh button still works
      return;
    }
    bar.max = progress.total;
    bar.value = progress.assessed;
    bar.textContent = `${progress.assessed} of ${progress.total}`;
    const text = (progress.finished ? "Finished: " : "In progress: ") + progress.summary;
    if (status.textContent !== text) status.textContent = text;
    if (!progress.finished) {
      window.setTimeout(poll, 1000);
      return;
    }
    section.dataset.finished = "true";
    for (const id of ["refresh-hint", "refresh"]) {
      const el = document.getElementById(id);
      if (el) el.closest("p").remove();
    }
    const page = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (page.ok) {
      const fresh = new DOMParser().parseFromString(await page.text(), "text/html");
      const requests = fresh.getElementById("batch-requests");
      if (requests) document.getElementById("batch-requests").replaceWith(requests);
    }
  };
  window.setTimeout(poll, 1000);
}
