/** The problem details of an error response (asserting its media type). */
export async function problem(res: Response): Promise<Record<string, unknown>> {
  if (res.headers.get('content-type') !== 'application/problem+json') {
    throw new Error(`not problem+json: ${res.headers.get('content-type')} ${await res.text()}`);
  }
  return (await res.json()) as Record<string, unknown>;
}

/** The `name=value` part of each `Set-Cookie` header, by name. */
export function setCookies(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const header of res.headers.getSetCookie()) {
    const pair = header.split(';')[0] as string;
    const eq = pair.indexOf('=');
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}
