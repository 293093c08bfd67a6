// Small and optional: every page works without it. It asks before destructive buttons, refreshes the
// dashboard's live part, follows a running run's console (server-sent events) and ticks elapsed times.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

function refresh(element) {
  return fetch(element.dataset.refresh, { headers: { Accept: "text/html" }, credentials: "same-origin" })
    .then((response) => (response.ok ? response.text() : null))
    .then((html) => {
      if (html !== null) element.innerHTML = html;
    })
    .catch(() => {});
}

function seconds(text) {
  const total = Math.round(text);
  if (total < 60) return total + "s";
  const minutes = Math.floor(total / 60), secs = total % 60;
  if (minutes < 60) return minutes + "m" + String(secs).padStart(2, "0") + "s";
  return Math.floor(minutes / 60) + "h" + String(minutes % 60).padStart(2, "0") + "m";
}

function tick() {
  for (const element of document.querySelectorAll("[data-since]")) {
    const started = Date.parse(element.dataset.since);
    if (!Number.isNaN(started)) element.textContent = seconds((Date.now() - started) / 1000);
  }
}

function followConsole(pre) {
  if (!window.EventSource || pre.dataset.finished === "yes") return;
  const summary = document.getElementById("summary");
  const source = new EventSource(pre.dataset.events);
  const stick = () => pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
  source.addEventListener("log", (event) => {
    const atEnd = stick();
    pre.append(event.data);
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("run", () => summary && refresh(summary));
  source.addEventListener("end", () => {
    source.close();
    pre.dataset.finished = "yes";
    const note = document.getElementById("live-note");
    if (note) note.remove();
    if (summary) refresh(summary);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.querySelector("#live[data-refresh]");
  if (live) setInterval(() => refresh(live).then(tick), 2000);
  const pre = document.getElementById("console");
  if (pre) followConsole(pre);
  tick();
  setInterval(tick, 1000);
});
