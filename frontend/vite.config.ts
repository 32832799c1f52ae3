/// <reference types="vitest/config" />
// The app: built into ../app/static, which `support-agent serve` serves at `/`.
// The widget bundle is a second build (vite.widget.config.ts) into the same folder.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const server = process.env.SUPPORT_AGENT_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../app/static",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      "/api": server,
      "/ws": { target: server.replace(/^http/, "ws"), ws: true },
    },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
