import { defineConfig } from "./runner/config.ts";
import usersImport from "./plugins/users-import/index.ts";

export default defineConfig({
  plugins: [usersImport],
  worker: { concurrency: 2 },
  chunkSize: 5000,
});
