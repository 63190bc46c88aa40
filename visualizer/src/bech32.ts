// NIP-19 npub → hex, for relay filters (which take hex keys). Only the bech32 decoding and
// its checksum; the client itself accepts npubs wherever it takes a key.
const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

function polymod(values: number[]): number {
  const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GEN[i]!;
  }
  return chk >>> 0;
}

function fail(message: string): Error {
  return Object.assign(new Error(`malformed: ${message}`), { code: "malformed" });
}

export function npubToHex(npub: string): string {
  const s = npub.trim().toLowerCase();
  const sep = s.lastIndexOf("1");
  const hrp = s.slice(0, sep);
  if (hrp !== "npub") throw fail(`expected an npub, got "${s.slice(0, 8)}…"`);
  const data: number[] = [];
  for (const c of s.slice(sep + 1)) {
    const v = CHARSET.indexOf(c);
    if (v < 0) throw fail(`"${c}" is not a bech32 character`);
    data.push(v);
  }
  const expanded = [...[...hrp].map((c) => c.charCodeAt(0) >> 5), 0, ...[...hrp].map((c) => c.charCodeAt(0) & 31)];
  if (data.length < 7 || polymod([...expanded, ...data]) !== 1) throw fail("bad npub checksum");
  let acc = 0;
  let bits = 0;
  const bytes: number[] = [];
  for (const v of data.slice(0, -6)) {
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((acc >> bits) & 0xff);
    }
  }
  if (bytes.length !== 32) throw fail(`an npub holds 32 bytes, this one ${bytes.length}`);
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join("");
}
