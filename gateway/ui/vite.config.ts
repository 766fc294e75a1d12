// Vite builds the UI into dist/, which the gateway serves. esbuild compiles the JSX
// (automatic runtime), so no React plugin is needed. `npm run dev` proxies the API to a
// gateway on PGSAGE_GATEWAY_URL (default http://127.0.0.1:8080).
import { defineConfig } from "vite";

const gateway = process.env.PGSAGE_GATEWAY_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 600 },
  server: { proxy: { "/v1": gateway, "/readyz": gateway, "/healthz": gateway } },
});
