// The embeddable widget: one self-contained IIFE, ../app/static/widget.js (CSS inlined).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  build: {
    outDir: "../app/static",
    emptyOutDir: false,
    copyPublicDir: false,
    sourcemap: false,
    lib: {
      entry: "src/widget.tsx",
      name: "SupportAgentWidget",
      formats: ["iife"],
      fileName: () => "widget.js",
    },
  },
});
