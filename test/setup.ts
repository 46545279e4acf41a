import type { EmbeddedServer } from "../runner/db/embedded.ts";
import { createTemplate, testServer } from "./helpers/server.ts";

let server: EmbeddedServer | undefined;

export async function globalSetup(): Promise<void> {
  server = await testServer();
  await createTemplate(server.url);
}

export async function globalTeardown(): Promise<void> {
  await server?.stop();
}
