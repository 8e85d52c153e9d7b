// The instances page: filled in by issue 11's work (docs/console.md).
import { h, replace } from "../lib/dom.js";

export async function render(root) {
  replace(root, h("h1", {}, "instances"), h("p", {}, "Not built yet."));
}
