// A small modal list chosen by number keys (1-9) or a click; Esc cancels. One open at a time.
import { el } from "./queue.js";

const $ = (id) => document.getElementById(id);
let pending = null; // { options, resolve }

export const isPickerOpen = () => pending !== null;

/** Shows `options` ({zh, en, ...}) and resolves with the chosen one, or null when cancelled. */
export function pick(title, options) {
  close(null);
  $("picker-title").textContent = title;
  $("picker-list").replaceChildren(
    ...options.slice(0, 9).map((opt, i) => {
      const li = el("li", "picker-item");
      li.dataset.index = String(i);
      li.append(el("kbd", "", String(i + 1)), el("span", "zh", opt.zh), el("span", "en", opt.en ?? ""));
      li.addEventListener("click", () => close(opt));
      return li;
    })
  );
  $("picker").hidden = false;
  return new Promise((resolve) => {
    pending = { options, resolve };
  });
}

/** Keys while the picker is open; returns true when the key was the picker's. */
export function pickerKey(event) {
  if (!pending) return false;
  if (event.key === "Escape") {
    close(null);
    return true;
  }
  const n = Number(event.key);
  if (Number.isInteger(n) && n >= 1 && n <= Math.min(9, pending.options.length)) {
    close(pending.options[n - 1]);
    return true;
  }
  return true; // other keys are swallowed while choosing
}

function close(choice) {
  if (!pending) return;
  const { resolve } = pending;
  pending = null;
  $("picker").hidden = true;
  resolve(choice);
}

export function initPicker() {
  $("picker").addEventListener("click", (event) => {
    if (event.target === $("picker")) close(null); // a click outside the box cancels
  });
}
