// The browser half of `cargo xtask wasm-bench`, run in the page by bench.mjs: the nipee
// package's operations and nostr-tools' equivalents on the same inputs (the fixtures the
// native half made), with the same iteration counts and medians as the native run
// (crates/wasm/examples/wasm-bench/native.rs). Returns { id: { nipee, nostrTools } } in
// seconds per operation (nostrTools is null where nostr-tools has no such operation).

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

// Median over `samples` timed batches of `batch` calls, after one untimed batch.
function perOp(samples, batch, f) {
  for (let i = 0; i < batch; i++) f();
  const times = [];
  for (let s = 0; s < samples; s++) {
    const t = performance.now();
    for (let i = 0; i < batch; i++) f();
    times.push((performance.now() - t) / 1000 / batch);
  }
  return median(times);
}

// Median over `iters` runs of `op` on what an untimed `setup` made (one untimed run first).
function perRun(iters, setup, op) {
  op(setup());
  const times = [];
  for (let i = 0; i < iters; i++) {
    const s = setup();
    const t = performance.now();
    op(s);
    times.push((performance.now() - t) / 1000);
  }
  return median(times);
}

function expect(result, type) {
  if (!result.outcomes.some((o) => o.type === type)) {
    throw new Error(`expected a ${type} outcome, got ${JSON.stringify(result.outcomes.map((o) => o.type))}`);
  }
}

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

// A fresh copy of an event, without nostr-tools' cached verification result.
const copyEvent = (e) => ({ id: e.id, pubkey: e.pubkey, created_at: e.created_at, kind: e.kind, tags: e.tags, content: e.content, sig: e.sig });

export function runBench(nipee, NT, fx, log) {
  const out = {};
  const put = (id, mine, theirs = null) => {
    out[id] = { nipee: mine, nostrTools: theirs };
    const us = (s) => (s === null ? "—" : `${(s * 1e6).toFixed(1)} µs`);
    log(`browser ${id}: nipee ${us(mine)}, nostr-tools ${us(theirs)}`);
  };
  const { NipeeClient } = nipee;
  const { config, now } = fx;
  const run = (c, f) => {
    try { return f(c); } finally { c.free(); }
  };

  for (const [id, iters] of [["join128", 20], ["join1024", 8]]) {
    const f = fx[id];
    put(id, perRun(iters, () => NipeeClient.open(f.rows, config), (c) => run(c, (c) => expect(c.process(f.wrap, now), "joined"))));
  }
  const u = fx.update1024;
  put("update1024", perRun(8, () => NipeeClient.open(u.rows, config), (c) => run(c, (c) => expect(c.process(u.commit, now), "commit"))));

  const m = fx.messages;
  const sender = NipeeClient.open(m.senderRows, config);
  put("msgEncrypt", perOp(20, 20, () => check(sender.sendMessage(m.group, m.text, now).publish.length === 1, "a send publishes one event")));
  sender.free();
  const receiver = NipeeClient.open(m.receiverRows, config);
  let next = 0;
  put("msgDecrypt", perOp(20, 20, () => expect(receiver.process(m.events[next++], now), "message")));
  receiver.free();

  const n = fx.nostr;
  const sk = hexToBytes(n.secret);
  const peerSk = hexToBytes(n.peerSecret);
  const template = { kind: n.unsigned.kind, created_at: n.unsigned.created_at, tags: n.unsigned.tags, content: n.unsigned.content };

  // The two libraries agree on these inputs before they are timed.
  const theirs = NT.finalizeEvent({ ...template }, sk);
  check(theirs.id === n.signed.id, "nostr-tools computes the same event id");
  check(NT.verifyEvent(copyEvent(n.signed)), "nostr-tools verifies nipee's signature");
  nipee.verifyEvent(theirs);
  check(NT.nip44.decrypt(n.payload, NT.nip44.getConversationKey(peerSk, n.pubkey)) === n.plaintext, "nostr-tools decrypts nipee's NIP-44 payload");
  check(nipee.nip44Decrypt(n.peerSecret, n.pubkey, NT.nip44.encrypt(n.plaintext, NT.nip44.getConversationKey(sk, n.peerPubkey))) === n.plaintext, "nipee decrypts nostr-tools' payload");
  check(NT.nip59.unwrapEvent(copyEvent(n.wrap), peerSk).content === n.rumor.content, "nostr-tools unwraps nipee's gift wrap");
  const rumor = { kind: n.rumor.kind, created_at: n.rumor.created_at, tags: n.rumor.tags, content: n.rumor.content };
  check(nipee.unwrapGiftWrap(NT.nip59.wrapEvent({ ...rumor }, sk, n.peerPubkey), n.peerSecret).rumor.content === n.rumor.content, "nipee unwraps nostr-tools' gift wrap");

  put("sign",
    perOp(21, 50, () => nipee.signEvent(n.unsigned, n.secret)),
    perOp(21, 50, () => NT.finalizeEvent({ ...template }, sk)));
  // nostr-tools caches a verification on the event object: every call gets a fresh copy
  // (an object literal: nanoseconds beside a verification).
  put("verify",
    perOp(21, 50, () => nipee.verifyEvent(n.signed)),
    perOp(21, 50, () => check(NT.verifyEvent(copyEvent(n.signed)), "verifies")));
  // nipee's NIP-44 functions take the two keys and derive the conversation key (one ECDH
  // and an HKDF) on every call; nostr-tools is timed doing the same.
  put("nip44Encrypt",
    perOp(21, 50, () => nipee.nip44Encrypt(n.secret, n.peerPubkey, n.plaintext)),
    perOp(21, 50, () => NT.nip44.encrypt(n.plaintext, NT.nip44.getConversationKey(sk, n.peerPubkey))));
  put("nip44Decrypt",
    perOp(21, 50, () => nipee.nip44Decrypt(n.peerSecret, n.pubkey, n.payload)),
    perOp(21, 50, () => NT.nip44.decrypt(n.payload, NT.nip44.getConversationKey(peerSk, n.pubkey))));
  // The conversation key computed once: nipee's Nip44Conversation, nostr-tools' key bytes.
  const ck = NT.nip44.getConversationKey(sk, n.peerPubkey);
  const peerCk = NT.nip44.getConversationKey(peerSk, n.pubkey);
  const conversation = new nipee.Nip44Conversation(n.secret, n.peerPubkey);
  const peerConversation = new nipee.Nip44Conversation(n.peerSecret, n.pubkey);
  check(peerConversation.decrypt(n.payload) === n.plaintext, "nipee decrypts with a cached key");
  put("nip44EncryptCachedKey",
    perOp(21, 50, () => conversation.encrypt(n.plaintext)),
    perOp(21, 50, () => NT.nip44.encrypt(n.plaintext, ck)));
  put("nip44DecryptCachedKey",
    perOp(21, 50, () => peerConversation.decrypt(n.payload)),
    perOp(21, 50, () => NT.nip44.decrypt(n.payload, peerCk)));
  conversation.free();
  peerConversation.free();
  put("giftWrap",
    perOp(21, 10, () => nipee.giftWrap(n.rumor, n.secret, n.peerPubkey, now)),
    perOp(21, 10, () => NT.nip59.wrapEvent({ ...rumor }, sk, n.peerPubkey)));
  put("unwrap",
    perOp(21, 10, () => check(nipee.unwrapGiftWrap(n.wrap, n.peerSecret).sender === n.pubkey, "sender")),
    perOp(21, 10, () => check(NT.nip59.unwrapEvent(copyEvent(n.wrap), peerSk).pubkey === n.pubkey, "sender")));
  return out;
}
