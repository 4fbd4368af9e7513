/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies the API to a local `chat serve` (default port 3001) so the
// demo runs same-origin, exactly as it does when the Python server serves the build.
const backend = process.env.CHAT_BACKEND ?? "http://127.0.0.1:3001";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    // The Python package serves this directory at `/` and ships it in the wheel.
    outDir: fileURLToPath(new URL("../chat_core/web_dist", import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: {
      "/socket.io": { target: backend, ws: true, changeOrigin: false },
      "/dev": { target: backend },
      "/v1": { target: backend },
      "/healthz": { target: backend },
    },
  },
  test: {
    environment: "jsdom",
    include: ["test/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
