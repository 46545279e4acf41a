import { createContext, useContext } from "react";

/** Whether the dashboard may use colour (false under NO_COLOR). */
export const ColorContext = createContext(true);

/** The colour of each action status; statuses not listed stay plain. */
const STATUS_COLORS: Record<string, string> = {
  running: "green",
  preparing: "cyan",
  queued: "blue",
  scheduled: "blue",
  paused: "yellow",
  completed: "gray",
  failed: "red",
  cancelled: "magenta",
};

/** A colour for a status, or undefined when colour is off. */
export function useStatusColor(): (status: string) => string | undefined {
  const color = useContext(ColorContext);
  return (status) => (color ? STATUS_COLORS[status] : undefined);
}

/** A named colour, or undefined when colour is off. */
export function useColor(): (name: string) => string | undefined {
  const color = useContext(ColorContext);
  return (name) => (color ? name : undefined);
}
