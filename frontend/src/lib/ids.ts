/** Ids made in the browser: thread ids match ^[A-Za-z0-9_-]{1,64}$. */
function randomHex(bytes: number): string {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function newThreadId(): string {
  return `t_${randomHex(12)}`;
}

export function newClientMsgId(): string {
  return `m_${randomHex(8)}`;
}
