// The operator console's pages (camera wall, map, statistics) as app.js's PAGES entries: show() starts a page's
// requests and timers, hide() stops them, so that a hidden page sends nothing.
import { initMap, showMap } from "./map.js";
import { initStats, showStats } from "./stats.js";
import { initWall, showWall } from "./wall.js";

const page = (show) => ({ show: async () => show(true), hide: () => show(false) });

export const CONSOLE_PAGES = { wall: page(showWall), map: page(showMap), stats: page(showStats) };

/** openIncident(id), openCase(id): click-through to the review and cases views; cameras(): their ids. */
export function initConsole({ openIncident, openCase, cameras }) {
  initWall({ openIncident });
  initMap({ openIncident, openCase });
  initStats({ cameras });
}
