// After `tsc -p tsconfig.lib.json`: make dist/**/*.d.ts resolvable under every moduleResolution
// a consumer may use. Relative imports get the `.js` extension that "node16"/"nodenext" require
// (the sources use extensionless paths, which only "bundler" accepts), and the components'
// `import "./chat.css"` is dropped: the CSS ships as dist/styles.css and the JS does not load it.
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("../dist", import.meta.url));
const files = readdirSync(dist, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".d.ts"));
if (files.length === 0) throw new Error(`no declarations in ${dist}: run tsc -p tsconfig.lib.json first`);

for (const file of files) {
  const path = join(dist, file);
  const text = readFileSync(path, "utf8")
    .replace(/^import\s+["'][^"']+\.css["'];\r?\n/gm, "")
    .replace(/(\bfrom\s+|\bimport\s*\(\s*)(["'])(\.{1,2}\/[^"']*)\2/g, (whole, lead, quote, spec) => {
      if (/\.(js|mjs|cjs)$/.test(spec)) return whole;
      const base = join(dirname(path), spec);
      if (existsSync(`${base}.d.ts`)) return `${lead}${quote}${spec}.js${quote}`;
      if (existsSync(join(base, "index.d.ts"))) return `${lead}${quote}${spec}/index.js${quote}`;
      throw new Error(`${file}: cannot resolve ${spec}`);
    });
  writeFileSync(path, text);
}
