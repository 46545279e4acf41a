import { sideEffect } from "postgraphile/grafast";
import { wrapPlans, type PlanWrapperFn } from "postgraphile/utils";
import type { ResolvedConfig } from "../config.ts";
import { checkCron } from "../engine/cron.ts";
import { parseSource } from "../engine/source.ts";
import { checkRequest } from "../engine/submit.ts";
import { BulkrunError } from "../errors.ts";

type Input = Record<string, unknown> | null | undefined;

/**
 * The checks the CLI makes, before the insert of a create mutation: the same messages for an
 * unknown action type, bad options, a bad source, cron expression or time zone. The insert itself
 * still goes through the table's trigger, exactly as one from psql.
 */
export function inputChecksPlugin(config: ResolvedConfig) {
  const checkAction = (input: Input) => {
    if (!input) return;
    checkRequest({ config }, {
      type: input.type as string,
      options: input.options as Record<string, unknown> | undefined,
      webhookUrl: (input.webhookUrl as string | null) ?? undefined,
    });
    parseSource(input.source);
  };
  const checkSchedule = (input: Input, patch: boolean) => {
    if (!input) return;
    if (input.cron != null || input.timeZone != null) checkCron((input.cron as string) ?? "* * * * *", (input.timeZone as string) ?? "UTC");
    if (input.type != null) checkRequest({ config }, { type: input.type as string, options: input.options as Record<string, unknown> | undefined });
    else if (input.options != null && patch) {
      throw new BulkrunError("BULKRUN_ERR_OPTIONS", "give `type` together with `options`, so that the options can be checked against it");
    }
    if (input.source != null || !patch) {
      const { kind } = parseSource(input.source);
      if (!["url", "inline", "filter"].includes(kind)) {
        throw new BulkrunError("BULKRUN_ERR_SOURCE", "a schedule reads its source afresh at every tick: give a URL, inline rows or a filter");
      }
    }
  };
  const before = (path: string[], check: (input: Input) => void): PlanWrapperFn =>
    (plan, _$source, fieldArgs) => {
      sideEffect(fieldArgs.getRaw(path), (input: Input) => check(input));
      // Steps planned after a side effect wait for it: a failed check stops the insert.
      return plan();
    };
  return wrapPlans(
    {
      Mutation: {
        createBulkAction: before(["input", "bulkAction"], checkAction),
        createSchedule: before(["input", "schedule"], (input) => checkSchedule(input, false)),
        updateSchedule: before(["input", "schedulePatch"], (input) => checkSchedule(input, true)),
        updateScheduleByRowId: before(["input", "schedulePatch"], (input) => checkSchedule(input, true)),
      },
    },
    { name: "BulkrunInputChecksPlugin" },
  );
}
