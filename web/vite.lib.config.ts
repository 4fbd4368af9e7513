import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The library build (`npm run build:lib`, also run by `npm pack` through prepack): src/index.ts
// as one ES module in dist/, the components' CSS as dist/styles.css for the app to import
// (`import "chat-core-web/styles.css"`). The demo build (vite.config.ts) is separate.
// React and socket.io-client stay imports: the app's bundler resolves them, so there is one
// React (a peer dependency) and one socket.io-client.
const external = [/^react($|\/)/, /^react-dom($|\/)/, /^socket\.io-client($|\/)/];

export default defineConfig({
  plugins: [react()],
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL("./dist", import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    minify: false,
    target: "es2022",
    copyPublicDir: false,
    lib: {
      entry: fileURLToPath(new URL("./src/index.ts", import.meta.url)),
      formats: ["es"],
      fileName: "index",
      cssFileName: "styles",
    },
    rolldownOptions: { external },
  },
});
