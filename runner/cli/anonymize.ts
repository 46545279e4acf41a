import { actionCommand } from "./action-command.ts";

export const anonymize = actionCommand({
  name: "anonymize",
  type: "users.anonymize",
  summary: "scrub the users listed in a CSV of emails (GDPR erasure)",
  flags: {},
  flagsUsage: "",
  options: () => ({}),
  filter: false,
});
