import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

// The server serves the built app under /admin/ (ADMIN_UI_DIR) and the API under
// /api/v1 on the same origin; in development Vite proxies /api to the server.
const api = process.env.FASTVUE_API ?? 'http://127.0.0.1:8000'

export default defineConfig({
  base: '/admin/',
  plugins: [
    vue(),
    // Element Plus components and their CSS are imported per use, not as a whole.
    Components({ resolvers: [ElementPlusResolver()], dts: false }),
  ],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  server: {
    port: 5173,
    proxy: { '/api': { target: api, changeOrigin: false } },
  },
  build: {
    chunkSizeWarningLimit: 800,
  },
})
