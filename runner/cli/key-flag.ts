import { choiceFlag } from "./args.ts";

/** `--key email|id`: how the CSV names users; the plugin's default when absent. */
export function keyOption(value: unknown): { key?: "email" | "id" } {
  const key = choiceFlag("key", value as string | undefined, ["email", "id"] as const);
  return key ? { key } : {};
}
