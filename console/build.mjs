// Builds the console into dist/ (`make console`): two bundles, the console (bpmn-js and its
// properties panel) and the public form (small: a citizen's phone should not load a modeler),
// with their CSS and fonts, and the HTML pages naming each asset by its content hash so a
// browser never keeps an old bundle after a deploy. No CDN: everything is served by the edge.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";

// `import templates from "laneway:element-templates"`: every template in ../element-templates
// (made by `laneway templates` from the connectors' declared attributes), so the properties
// panel's connector forms come from the same declaration the deploy checks against, and a new
// template file needs nothing here
const TEMPLATES = "../element-templates";
const elementTemplates = {
  name: "laneway-element-templates",
  setup(b) {
    b.onResolve({ filter: /^laneway:element-templates$/ }, () => ({ path: TEMPLATES, namespace: "laneway-templates" }));
    b.onLoad({ filter: /.*/, namespace: "laneway-templates" }, () => {
      const files = readdirSync(TEMPLATES).filter((f) => f.endsWith(".json")).sort();
      const all = files.flatMap((f) => JSON.parse(readFileSync(join(TEMPLATES, f), "utf8")));
      return { contents: JSON.stringify(all), loader: "json",
               watchFiles: files.map((f) => join(TEMPLATES, f)) };
    });
  },
};

const out = "dist";
const tmp = "dist.tmp";
rmSync(tmp, { recursive: true, force: true });
mkdirSync(join(tmp, "assets"), { recursive: true });

await build({
  entryPoints: { console: "src/main.js", form: "src/public-form.js",
                 "console-style": "src/style.css", "form-style": "src/form.css" },
  bundle: true,
  minify: true,
  sourcemap: "linked",
  format: "esm",
  splitting: true, // the pages main.js imports when shown become chunks of their own
  chunkNames: "chunk-[hash]",
  target: ["chrome110", "firefox110", "safari16"],
  outdir: join(tmp, "assets"),
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".eot": "file", ".svg": "file" },
  metafile: true,
  logLevel: "warning",
  legalComments: "linked",
  plugins: [elementTemplates],
});

const assets = readdirSync(join(tmp, "assets"));
const find = (prefix, ext) => {
  const name = assets.find((a) => a.startsWith(prefix + "-") && a.endsWith(ext));
  if (!name) throw new Error(`build: no ${prefix}*${ext} in dist/assets`);
  return "/assets/" + name;
};
const page = (template, js, css) =>
  readFileSync(template, "utf8").replace("@JS@", js).replace("@CSS@", css);
writeFileSync(join(tmp, "index.html"), page("static/index.html", find("console", ".js"), find("console-style", ".css")));
writeFileSync(join(tmp, "form.html"), page("static/form.html", find("form", ".js"), find("form-style", ".css")));
cpSync("static/favicon.svg", join(tmp, "favicon.svg"));

// a digest of everything built, so `make console` and the tests can tell a stale bundle
const digest = createHash("sha256");
for (const name of assets.sort()) digest.update(name);
writeFileSync(join(tmp, "BUILD"), digest.digest("hex") + "\n");

rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);
console.log(`console: built ${assets.length} assets into ${out}/`);
