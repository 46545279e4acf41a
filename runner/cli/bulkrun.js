#!/usr/bin/env -S node --max-semi-space-size=4
// The installed `bulkrun` command: loads the TypeScript sources through tsx. bulkrun streams
// everything; a small young generation keeps its memory flat (V8 sizes it for the machine's RAM).
import { register } from "tsx/esm/api";

register();
await import("./entry.ts");
