import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// dist/.gitkeep is tracked so that web.go's //go:embed pattern always
// matches; Vite empties dist/ before each build, so put it back afterwards.
function keepGitkeep() {
  return {
    name: 'herald-keep-gitkeep',
    apply: 'build',
    closeBundle() {
      writeFileSync(fileURLToPath(new URL('./dist/.gitkeep', import.meta.url)), '');
    },
  };
}

// The UI is served by the herald binary on the same origin as the API. For
// "npm run dev", point it at a running server: VITE_API_URL=http://localhost:8080 npm run dev
export default defineConfig({
  plugins: [react(), keepGitkeep()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
  },
});
