/**
 * Server-sent events from a fetch body: the `data` of each event, in order,
 * as the HTML spec's parser reads them (fields split at the first colon, one
 * optional space dropped, multi-line data joined by "\n", CRLF, CR or LF
 * line ends, comments and other fields ignored).
 */
export async function* eventData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      // A trailing CR may be the first half of a CRLF: keep it for the next chunk.
      const lines = buffer.split(/\r\n|\r(?!$)|\n/);
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "") {
          if (data.length > 0) yield data.join("\n");
          data = [];
          continue;
        }
        const colon = line.indexOf(":");
        if (colon === 0) continue;
        const field = colon < 0 ? line : line.slice(0, colon);
        if (field !== "data") continue;
        const value = colon < 0 ? "" : line.slice(colon + 1);
        data.push(value.startsWith(" ") ? value.slice(1) : value);
      }
    }
  } finally {
    // Stopped early (by the reader or an abort): let the connection go.
    reader.cancel().catch(() => undefined);
  }
  // An event is dispatched only at a blank line; a stream cut short drops its last partial event, as EventSource does.
}
