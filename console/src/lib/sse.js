// Server-sent events read from a fetch() response (EventSource cannot send the Authorization
// header the API wants): the body is read as it arrives and cut into frames of `id:`,
// `event:` and `data:` lines ended by a blank line (the text/event-stream format).

const MAX_BUFFER = 1 << 20; // a frame larger than this is not one the live feed sends

export class StreamTooLarge extends Error {}

/**
 * Calls onFrame({id, event, data}) for each frame until the stream ends (resolves) or
 * fails (rejects); comment lines (`: keepalive`) are skipped.
 */
export async function readFrames(response, onFrame) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let frame = { id: null, event: "message", data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        if (nl === buffer.length - 1 && buffer[nl] === "\r") break; // "\r\n" cut in two
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (frame.data.length) onFrame({ id: frame.id, event: frame.event, data: frame.data.join("\n") });
          frame = { id: null, event: "message", data: [] };
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "data") frame.data.push(val);
        else if (field === "event") frame.event = val || "message";
        else if (field === "id") frame.id = val;
      }
      if (buffer.length > MAX_BUFFER) throw new StreamTooLarge("a live event larger than 1 MiB");
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
