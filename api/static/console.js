// The operator console's pages (camera wall, map, statistics): which section each view shows, and starting
// and stopping their timers as the view changes, so that a hidden page sends no requests.
import { initMap, showMap } from "./map.js";
import { initStats, showStats } from "./stats.js";
import { initWall, showWall } from "./wall.js";

const PAGES = { wall: showWall, map: showMap, stats: showStats };
export const CONSOLE_VIEWS = Object.keys(PAGES);

/** view: the view now shown (null: none, signed out). */
export function showConsoleView(view) {
  for (const [name, show] of Object.entries(PAGES)) {
    document.getElementById(`${name}-view`).hidden = name !== view;
    show(name === view);
  }
}

/** openIncident(id), openCase(id): click-through to the review and cases views; cameras(): their ids. */
export function initConsole({ openIncident, openCase, cameras }) {
  initWall({ openIncident });
  initMap({ openIncident, openCase });
  initStats({ cameras });
}
