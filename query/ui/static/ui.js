// provledger pages: tooltips for timeline and chart marks, timeline -> suspect links,
// and verdicts posted without a page load, then the new order fetched once the ledger has it.
"use strict";
(function () {
  const tip = document.getElementById("tip");

  function showTip(el) {
    if (!tip) return;
    tip.textContent = el.getAttribute("data-tip");
    tip.hidden = false;
    const box = el.getBoundingClientRect();
    const left = Math.min(window.scrollX + box.left, window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8);
    tip.style.left = Math.max(4, left) + "px";
    tip.style.top = (window.scrollY + box.bottom + 6) + "px";
  }
  function hideTip() { if (tip) tip.hidden = true; }

  document.querySelectorAll("[data-tip]").forEach(function (el) {
    el.addEventListener("mouseenter", function () { showTip(el); });
    el.addEventListener("focus", function () { showTip(el); });
    el.addEventListener("mouseleave", hideTip);
    el.addEventListener("blur", hideTip);
  });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") hideTip(); });

  // A timeline marker opens its suspect (click, Enter or Space).
  function openSuspect(el) {
    const id = el.getAttribute("data-target");
    const item = id && document.getElementById(id);
    if (!item) return;
    const details = item.querySelector("details");
    if (details) details.open = true;
    item.scrollIntoView({ block: "start" });
    const summary = item.querySelector("summary");
    if (summary) summary.focus();
  }
  document.querySelectorAll(".marker[data-target]").forEach(function (el) {
    el.addEventListener("click", function () { openSuspect(el); });
    el.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openSuspect(el); }
    });
  });

  // The list page ranks the first rows itself; the others' top suspects load one at a
  // time (each costs the server a full ranking), replacing the link to the incident.
  (async function loadTopSuspects() {
    for (const cell of document.querySelectorAll("td[data-top]")) {
      try {
        const answer = await fetch(cell.dataset.top, { credentials: "same-origin" });
        if (answer.status === 200) cell.innerHTML = await answer.text();
      } catch (err) { return; }
    }
  })();

  const list = document.getElementById("suspects");
  const status = document.getElementById("verdict-status");
  if (!list) return;

  function say(text) { if (status) status.textContent = text; }

  async function refresh(eventId) {
    const incident = encodeURIComponent(list.dataset.incident);
    const lookback = encodeURIComponent(list.dataset.lookback);
    const url = "/ui/incidents/" + incident + "/suspects?lookback=" + lookback + "&wait=" + encodeURIComponent(eventId);
    for (let tries = 0; tries < 120; tries++) {
      const answer = await fetch(url, { credentials: "same-origin" });
      if (answer.status === 200) {
        list.innerHTML = await answer.text();
        say("Verdict recorded. New order: " + Array.from(list.querySelectorAll(".suspect")).slice(0, 3)
          .map(function (s) { return s.dataset.eventId; }).join(", "));
        list.dataset.version = eventId;
        return;
      }
      if (answer.status !== 202) { say("Could not reload the suspects (" + answer.status + ")."); return; }
      await new Promise(function (done) { setTimeout(done, 250); });
    }
    say("The verdict was sent but the ledger has not stored it yet; reload the page later.");
  }

  list.addEventListener("submit", async function (e) {
    const form = e.target.closest("form.verdict");
    if (!form) return;
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    say("Sending the verdict…");
    const answer = await fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": data.csrf },
      body: JSON.stringify({ kind: data.kind, event_id: data.event_id, verdict: data.verdict }),
    });
    if (answer.status !== 202) {
      const body = await answer.json().catch(function () { return {}; });
      say("Verdict refused: " + (body.error || answer.status));
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
      return;
    }
    const accepted = await answer.json();
    say("Verdict sent; waiting for the ledger to re-rank…");
    await refresh(accepted.accepted);
  });
})();
