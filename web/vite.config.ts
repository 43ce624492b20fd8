// Vite build of the web client: Preact through the automatic JSX runtime, hashed assets under /assets/.
import { defineConfig } from 'vite';

export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    target: 'es2022',
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npm run dev` next to `make up`: the API and the live WebSocket stay on the gateway.
    proxy: { '/api': { target: 'http://127.0.0.1:8080', ws: true } },
  },
});
