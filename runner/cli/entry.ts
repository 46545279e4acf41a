import { main } from "./main.ts";

// `bulkrun logs 1 | head` closes stdout early; that is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

const code = await main(process.argv.slice(2));
// The command is done: leave even if a stuck connection would keep the event loop alive, once
// what it printed has been written.
process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
