/** Sends `count` GETs to `url`, `concurrency` at a time, reading each body; throws on an answer that is not 2xx. */
export async function sendGets(url: string, headers: Record<string, string>, count: number, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      const response = await fetch(url, { headers });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
