import { Box, Text, useApp, useInput, useStdin, useWindowSize, type Key } from "ink";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { byActivity } from "./activity.ts";
import type { GraphqlClient } from "./client.ts";
import { ActionDetail } from "./components/ActionDetail.tsx";
import { ActionTable } from "./components/ActionTable.tsx";
import { HelpLine, type InputMode } from "./components/HelpLine.tsx";
import { Overview } from "./components/Overview.tsx";
import { parseFilter, type Filter } from "./filter.ts";
import { watchChanges, type ActionChange } from "./live.ts";
import type { ControlVerb } from "./model.ts";
import { control, fetchDetail, fetchOverview } from "./queries.ts";
import { ColorContext, useColor } from "./theme.ts";
import { usePoll } from "./use-poll.ts";

/** Props of {@link App}. */
export interface AppProps {
  client: GraphqlClient;
  /** How often the whole picture is asked for, in ms. */
  refreshMs: number;
  color: boolean;
  /** Subscribe to live changes between refreshes. @default true */
  live?: boolean;
}

const KEY_VERBS: Record<string, ControlVerb> = { p: "pause", r: "resume", x: "retry" };
const DONE: Record<ControlVerb, string> = { pause: "paused", resume: "resumed", cancel: "cancelled", retry: "retried" };

/** Lines the overview, the blank line, the table header, the message and the help line take. */
const CHROME_LINES = 8;

/** The dashboard: overview and actions table, or one action's detail; keys drive both. */
export function App({ client, refreshMs, color, live = true }: AppProps) {
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const { columns, rows } = useWindowSize();
  const [view, setView] = useState<"list" | "detail">("list");
  const [mode, setMode] = useState<InputMode>({ kind: "browse", view: "list" });
  const [filter, setFilter] = useState<Filter>({ text: "" });
  const [selectedId, setSelectedId] = useState<number>();
  const [message, setMessage] = useState<{ text: string; error: boolean }>();

  const fatal = useCallback((error: Error) => exit(error), [exit]);
  const overview = usePoll(() => fetchOverview(client, filter), refreshMs, [client, filter.status, filter.accountId], fatal);
  const detailId = view === "detail" ? selectedId : undefined;
  const detail = usePoll(
    () => (detailId === undefined ? Promise.resolve(null) : fetchDetail(client, detailId, Math.min(120, columns - 2))),
    refreshMs,
    [client, detailId, columns],
    fatal,
  );
  const actions = useMemo(() => byActivity(overview.data?.actions ?? []), [overview.data]);
  const listed = useRef(new Set<number>());
  const askedAt = useRef(0);
  listed.current = new Set(actions.map((a) => a.id));

  useEffect(() => {
    if (actions.length && !actions.some((a) => a.id === selectedId)) setSelectedId(actions[0]!.id);
  }, [actions, selectedId]);

  const { update: updateOverview, refresh: refreshOverview } = overview;
  const { update: updateDetail } = detail;
  useEffect(() => {
    if (!live) return;
    const merge = (change: ActionChange) => {
      // A new action (or one the filter hides) is not in the table yet: ask for the table again.
      if (!listed.current.has(change.id)) {
        if (Date.now() - askedAt.current > refreshMs / 2) {
          askedAt.current = Date.now();
          refreshOverview();
        }
        return;
      }
      updateOverview((data) => ({ ...data, actions: data.actions.map((a) => (a.id === change.id ? { ...a, ...change } : a)) }));
      updateDetail((data) => (data && data.action.id === change.id ? { ...data, action: { ...data.action, ...change } } : data));
    };
    const stop = watchChanges(client.target, merge);
    return () => void stop();
  }, [client, live, refreshMs, updateOverview, refreshOverview, updateDetail]);

  const act = (verb: ControlVerb, id: number) => {
    setMessage({ text: `${verb} action ${id}…`, error: false });
    control(client, verb, id).then(
      (result) => {
        const text = verb === "retry" ? `action ${result.id} retries the failed rows of ${id}` : `action ${id} ${DONE[verb]}: now ${result.status}`;
        setMessage({ text, error: false });
        overview.refresh();
        detail.refresh();
      },
      (error: Error) => setMessage({ text: `${verb} action ${id}: ${error.message}`, error: true }),
    );
  };

  const move = (step: number) => {
    const index = actions.findIndex((a) => a.id === selectedId);
    const next = actions[Math.max(0, Math.min(actions.length - 1, index + step))];
    if (next) setSelectedId(next.id);
  };

  const onKey = (input: string, key: Key) => {
    if (mode.kind === "confirm") {
      if (input === "y" || input === "Y") act("cancel", mode.actionId);
      else setMessage({ text: `action ${mode.actionId} not cancelled`, error: false });
      setMode({ kind: "browse", view });
      return;
    }
    if (mode.kind === "filter") {
      // Pasted (or quickly sent) text arrives as one input, the Enter that ends it included.
      const typed = input.replace(/[\r\n]+$/, "");
      if (key.escape) setMode({ kind: "browse", view });
      else if (key.return || typed !== input) {
        const parsed = parseFilter(mode.text + typed, overview.data?.accounts ?? []);
        if (typeof parsed === "string") setMessage({ text: parsed, error: true });
        else {
          setFilter(parsed);
          setMessage(parsed.text ? { text: `showing ${parsed.text} actions`, error: false } : undefined);
        }
        setMode({ kind: "browse", view });
      } else if (key.backspace || key.delete) setMode({ kind: "filter", text: mode.text.slice(0, -1) });
      else if (input && !key.ctrl && !key.meta) setMode({ kind: "filter", text: mode.text + input });
      return;
    }
    if (input === "q") return exit();
    if (view === "list") {
      if (key.upArrow || input === "k") return move(-1);
      if (key.downArrow || input === "j") return move(1);
      if (key.pageUp) return move(-10);
      if (key.pageDown) return move(10);
      if (key.return && selectedId !== undefined) {
        setView("detail");
        setMode({ kind: "browse", view: "detail" });
        return;
      }
      if (input === "/") return setMode({ kind: "filter", text: filter.text });
      if (key.escape && filter.text) {
        setFilter({ text: "" });
        setMessage(undefined);
        return;
      }
    } else if (key.escape || key.leftArrow) {
      setView("list");
      setMode({ kind: "browse", view: "list" });
      return;
    }
    if (selectedId === undefined) return;
    if (input === "c") return setMode({ kind: "confirm", actionId: selectedId });
    const verb = KEY_VERBS[input];
    if (verb) act(verb, selectedId);
  };
  useInput(onKey, { isActive: isRawModeSupported });

  const width = Math.max(40, columns);
  const height = Math.max(10, rows - 1);
  const now = Date.now();
  const away = overview.reconnecting || detail.reconnecting;
  const problem = overview.error ?? detail.error;
  return (
    <ColorContext.Provider value={color}>
      <Box flexDirection="column" width={width} height={height}>
        <Banner away={away} url={client.target.url} problem={problem?.message} />
        {overview.data === undefined ? (
          <Text>{away ? "" : `connecting to ${client.target.url}…`}</Text>
        ) : view === "detail" && detail.data ? (
          <ActionDetail detail={detail.data} width={width} height={height - 3} now={now} />
        ) : view === "detail" && detail.data === null ? (
          <Text>{`action ${selectedId} does not exist for this token`}</Text>
        ) : view === "detail" ? (
          <Text>{`loading action ${selectedId}…`}</Text>
        ) : (
          <>
            <Overview data={overview.data} width={width} now={now} />
            <Text>{filter.text ? `actions: ${filter.text} (Esc shows all)` : " "}</Text>
            <ActionTable actions={actions} selectedId={selectedId} width={width} height={height - CHROME_LINES - (away ? 1 : 0)} now={now} />
          </>
        )}
        <Box flexGrow={1} />
        <MessageLine message={message} />
        <HelpLine mode={mode} keys={isRawModeSupported} />
      </Box>
    </ColorContext.Provider>
  );
}

function Banner({ away, url, problem }: { away: boolean; url: string; problem: string | undefined }) {
  const color = useColor();
  if (away) {
    return (
      <Text color={color("yellow")} bold wrap="truncate">
        {`reconnecting · ${problem ?? `no answer from ${url}`}`}
      </Text>
    );
  }
  return problem ? (
    <Text color={color("red")} wrap="truncate">
      {problem}
    </Text>
  ) : null;
}

function MessageLine({ message }: { message: { text: string; error: boolean } | undefined }) {
  const color = useColor();
  return (
    <Text color={message?.error ? color("red") : undefined} wrap="truncate">
      {message?.text ?? " "}
    </Text>
  );
}
