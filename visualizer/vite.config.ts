// The nipee-wasm package is not bundled: it is served beside the app under /pkg/ (copied into
// dist/pkg at build time, served from the package folder by the dev server), so the worker
// loads exactly the files `cargo xtask wasm` produced.
import { defineConfig, type Plugin } from "vite";
import fs from "node:fs";
import path from "node:path";

const here = import.meta.dirname;
// The same variable the wasm tests read: the folder holding `web/` and `nodejs/`.
const pkgRoot = process.env.NIPEE_WASM_PKG ?? path.resolve(here, "../target/wasm-pkg");
const pkgWeb = path.join(pkgRoot, "web");
// The package's plain JavaScript (RelayHost, the stores), for a package folder that holds only
// wasm-bindgen's output: taken from the same tree's source.
const pkgJs = path.resolve(here, "../crates/wasm/js");
const HOST_FILES = ["host.js", "storage.js"];

function pkgFile(name: string): string | null {
  for (const dir of [pkgWeb, pkgJs]) {
    const file = path.join(dir, name);
    if ((dir === pkgWeb || HOST_FILES.includes(name)) && fs.existsSync(file)) return file;
  }
  return null;
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript",
  ".wasm": "application/wasm",
  ".ts": "text/plain",
};

function nipeePackage(): Plugin {
  return {
    name: "nipee-wasm-package",
    configureServer(server) {
      server.middlewares.use("/pkg", (req, res, next) => {
        const name = path.basename(new URL(req.url ?? "/", "http://x").pathname);
        const file = name ? pkgFile(name) : null;
        if (!file) return next();
        res.setHeader("content-type", TYPES[path.extname(file)] ?? "application/octet-stream");
        fs.createReadStream(file).pipe(res);
      });
    },
    writeBundle(options) {
      const out = path.join(options.dir ?? path.join(here, "dist"), "pkg");
      if (!fs.existsSync(path.join(pkgWeb, "nipee_wasm.js"))) {
        this.warn(`no nipee-wasm package in ${pkgWeb}: run \`cargo xtask wasm\`; the app will say so when it loads`);
        return;
      }
      fs.mkdirSync(out, { recursive: true });
      for (const name of fs.readdirSync(pkgWeb)) fs.copyFileSync(path.join(pkgWeb, name), path.join(out, name));
      for (const name of HOST_FILES) {
        const file = pkgFile(name);
        if (!fs.existsSync(path.join(out, name)) && file) {
          fs.copyFileSync(file, path.join(out, name));
          this.info(`${name} is not in the package folder: copied from ${pkgJs}`);
        } else if (!file) {
          this.warn(`${name} is neither in ${pkgWeb} nor in ${pkgJs}: the app cannot start a client`);
        }
      }
    },
  };
}

export default defineConfig({
  plugins: [nipeePackage()],
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  worker: { format: "es" },
  build: { target: "es2022", sourcemap: true },
});
