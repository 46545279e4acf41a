import { Text } from "ink";
import type { ChunkSlot } from "../model.ts";
import { useColor } from "../theme.ts";

/** One character per run of chunks: failed ✗, all done █, some done ▒, none yet ·. */
export function slotChar(slot: ChunkSlot): string {
  if (slot.failed > 0) return "✗";
  if (slot.done >= slot.chunks) return "█";
  return slot.done > 0 ? "▒" : "·";
}

/** Props of {@link ChunkStrip}. */
export interface ChunkStripProps {
  slots: readonly ChunkSlot[];
}

/** An action's chunks in order, left to right, as a strip of characters. */
export function ChunkStrip({ slots }: ChunkStripProps) {
  const color = useColor();
  return (
    <Text>
      {slots.map((slot, i) => {
        const char = slotChar(slot);
        const tint = char === "✗" ? color("red") : slot.retried > 0 ? color("yellow") : char === "·" ? undefined : color("green");
        return (
          <Text key={i} color={tint}>
            {char}
          </Text>
        );
      })}
    </Text>
  );
}
