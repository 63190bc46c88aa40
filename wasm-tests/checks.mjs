// The checks both runners apply to the nipee-wasm package: one source for
// Node and the browser. Each check returns nothing or throws with a reason.

function eq(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

function throwsWithCode(f, code, what) {
  let caught = null;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  if (caught === null) throw new Error(`${what}: expected an error, none was thrown`);
  const msg = String(caught.message ?? caught);
  if (!msg.startsWith(`${code}:`)) throw new Error(`${what}: expected code ${code}, got "${msg}"`);
}

export const checks = {
  "varint encodes the RFC 9420 examples": (nipee) => {
    eq(Array.from(nipee.varintEncode(37)), [0x25], "37");
    eq(Array.from(nipee.varintEncode(15293)), [0x7b, 0xbd], "15293");
    eq(Array.from(nipee.varintEncode(494878333)), [0x9d, 0x7f, 0x3e, 0x7d], "494878333");
  },
  "varint decodes the official deserialization headers": (nipee) => {
    const cases = [
      [[0x00], 0], [[0x3f], 63], [[0x40, 0x40], 64], [[0x7f, 0xff], 16383],
      [[0x80, 0x00, 0x40, 0x00], 16384], [[0xbf, 0xff, 0xff, 0xff], 1073741823],
    ];
    for (const [bytes, value] of cases) eq(nipee.varintDecode(new Uint8Array(bytes)), value, `decode ${bytes}`);
  },
  "a non-minimal varint is a malformed error": (nipee) => {
    throwsWithCode(() => nipee.varintDecode(new Uint8Array([0x40, 0x01])), "malformed", "non-minimal");
  },
  "the reserved 0b11 prefix is a malformed error": (nipee) => {
    throwsWithCode(() => nipee.varintDecode(new Uint8Array([0xc0, 0, 0, 0, 0, 0, 0, 1])), "malformed", "0b11");
  },
  "trailing bytes are a malformed error": (nipee) => {
    throwsWithCode(() => nipee.varintDecode(new Uint8Array([0x25, 0x00])), "malformed", "trailing");
  },
  "a length beyond 2^30-1 is a misuse error": (nipee) => {
    throwsWithCode(() => nipee.varintEncode(2 ** 30), "misuse", "too large");
    throwsWithCode(() => nipee.varintEncode(1.5), "misuse", "fraction");
  },
  "the facade reports its version": (nipee) => {
    eq(typeof nipee.version(), "string", "version type");
    if (!/^\d+\.\d+\.\d+/.test(nipee.version())) throw new Error(`version ${nipee.version()}`);
  },
};

// Runs every check against a loaded module; returns [{name, ok, error}].
export function runAll(nipee) {
  return Object.entries(checks).map(([name, f]) => {
    try {
      f(nipee);
      return { name, ok: true };
    } catch (e) {
      return { name, ok: false, error: String(e.message ?? e) };
    }
  });
}
