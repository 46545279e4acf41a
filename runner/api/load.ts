/**
 * Loads the API on demand: most commands never serve it, and PostGraphile takes a while to load.
 * Grafast prints a warning when it loads without knowing its mode; bulkrun runs it in production
 * mode unless GRAPHILE_ENV says otherwise.
 */
export async function loadApi() {
  process.env.GRAPHILE_ENV ??= "production";
  const [server, sdl] = await Promise.all([import("./server.ts"), import("./schema-sdl.ts")]);
  return { startApi: server.startApi, schemaSdl: sdl.schemaSdl };
}
