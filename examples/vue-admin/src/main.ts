import { createApp } from 'vue'
import { createPinia } from 'pinia'
import 'element-plus/theme-chalk/base.css'
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'
import App from './App.vue'
import { onSessionEnded } from './api/refresh'
import { router } from './router'
import { useSessionStore } from './stores/session'
import './styles.css'

const app = createApp(App)
app.use(createPinia())
app.use(router)

// A refused refresh (or a revoked user) ends the session: back to the sign-in page.
onSessionEnded(() => {
  useSessionStore().ended()
  if (router.currentRoute.value.name !== 'login') {
    router.replace({ name: 'login', query: { redirect: router.currentRoute.value.fullPath } })
  }
})

app.mount('#app')
