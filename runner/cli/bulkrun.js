#!/usr/bin/env node
// The installed `bulkrun` command: loads the TypeScript sources through tsx.
import { register } from "tsx/esm/api";

register();
await import("./entry.ts");
