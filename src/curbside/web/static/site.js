// curbside web: small progressive enhancements. Every form works without this file.
// 1. Forms marked data-autosubmit submit when a choice changes (the audience selector).
// 2. Forms marked data-stream POST their question to a server-sent-events endpoint and show each
//    stage as it ends, then open the article; on any failure they fall back to a normal submit.
// 3. A form marked data-autostart (the page an example question links to) asks at once.
"use strict";

const STAGE_LABELS = {
  started: "Question received",
  library: "Found an approved article in the library that answers it",
  "live-fetch": "Fetched evidence from PubMed",
  retrieve: "Retrieved evidence",
  synthesize: "Wrote the answer",
  verify: "Checked every claim against its cited passage",
  "render-prep": "Prepared the article",
  saved: "Saved for review",
};

function addLine(list, text, cls) {
  const li = document.createElement("li");
  li.textContent = text; // textContent: server text is never parsed as HTML
  if (cls) li.className = cls;
  list.appendChild(li);
  return li;
}

function handleEvent(list, name, data) {
  if (name === "stage") {
    const label = STAGE_LABELS[data.stage] || data.stage;
    addLine(list, data.ms != null ? `${label} (${Math.round(data.ms)} ms)` : label, "done");
  } else if (name === "section") {
    addLine(list, `Section: ${data.heading}`, "done");
  } else if (name === "article" && typeof data.url === "string" && data.url.startsWith("/")) {
    window.location.assign(data.url);
  } else if (name === "error") {
    addLine(list, data.message || "Something went wrong.", "error");
  }
}

async function streamSubmit(form, event) {
  if (!form.dataset.stream || !window.fetch || !window.TextDecoder || !window.ReadableStream) return; // plain submit
  event.preventDefault();
  const list = form.querySelector(".progress");
  const button = form.querySelector("button[type=submit]");
  const fields = new FormData(form);
  const body = {};
  for (const [key, value] of fields.entries()) if (key !== "csrf_token") body[key] = value;
  if (list) { list.textContent = ""; list.classList.add("active"); }
  if (button) button.disabled = true;
  try {
    const response = await fetch(form.dataset.stream, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "text/event-stream",
        "X-CSRF-Token": fields.get("csrf_token") || "",
      },
      body: JSON.stringify(body),
    });
    if (!response.ok || !response.body) {
      let message = `The server answered ${response.status}.`;
      try { message = (await response.json()).message || message; } catch (e) { /* not JSON */ }
      if (list) addLine(list, message, "error");
      if (button) button.disabled = false;
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message", data = "";
        for (const line of frame.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data && list) handleEvent(list, name, JSON.parse(data));
      }
    }
  } catch (e) {
    form.submit(); // network or parsing trouble: let the server do it the plain way
    return;
  }
  if (button) button.disabled = false;
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-autosubmit]")) {
    form.addEventListener("change", () => form.submit());
  }
  for (const form of document.querySelectorAll("form[data-stream]")) {
    form.addEventListener("submit", (event) => streamSubmit(form, event));
  }
  for (const form of document.querySelectorAll("form[data-autostart]")) {
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }
});
