// The Cinder explorer: a single page over the node's public JSON-RPC
// (WebSocket: calls and subscriptions on one connection). Routes live in
// the URL's hash: #/, #/block/<height|hash>, #/tx/<hash>, #/account/<address>,
// #/validators. docs/design/explorer.md describes it.

import { blake3 } from "/blake3.js";

const $ = (id) => document.getElementById(id);
const main = () => $("main");

// ----- RPC ------------------------------------------------------------------

class Rpc {
  constructor(url) {
    this.url = url;
    this.next = 1;
    this.pending = new Map();
    this.subs = new Map();
    this.onState = () => {};
  }
  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.onopen = () => { this.ws = ws; this.onState(true); resolve(); };
      ws.onerror = () => reject(new Error(`cannot reach the node's RPC at ${this.url}`));
      ws.onclose = () => {
        this.ws = null;
        this.onState(false);
        for (const [, p] of this.pending) p.reject(new Error("the connection to the node closed"));
        this.pending.clear();
        this.subs.clear();
      };
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.method === "cinder_subscription") {
          const f = this.subs.get(m.params.subscription);
          if (f) f(m.params.result);
          return;
        }
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error) p.reject(new Error(`${m.error.message} (${m.error.code})`));
        else p.resolve(m.result);
      };
    });
  }
  call(method, params = []) {
    if (!this.ws) return Promise.reject(new Error("not connected to the node"));
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }
  async subscribe(kind, f) {
    const id = await this.call("cinder_subscribe", [kind]);
    this.subs.set(id, f);
    return id;
  }
}

let rpc;
let chain = { pos: false, chainId: null };

// ----- formatting -------------------------------------------------------------

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const short = (h) => (h && h.length > 18 ? `${h.slice(0, 10)}…${h.slice(-6)}` : h || "");
const link = (kind, id, text) => `<a class="mono" href="#/${kind}/${esc(id)}">${esc(text ?? short(id))}</a>`;

/** A decimal amount string in the smallest unit, as CIN. */
function cin(amount) {
  const v = BigInt(amount);
  const whole = v / 10n ** 18n;
  let frac = (v % 10n ** 18n).toString().padStart(18, "0").replace(/0+$/, "");
  return `${whole.toLocaleString("en-US")}${frac ? "." + frac : ""} CIN`;
}

function ago(seconds) {
  const d = Math.max(0, Math.round(Date.now() / 1000 - seconds));
  return d < 60 ? `${d} s ago` : d < 3600 ? `${Math.floor(d / 60)} min ago` : new Date(seconds * 1000).toISOString();
}

const kv = (rows) =>
  `<table class="kv">${rows.filter(Boolean).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join("")}</table>`;

function txKind(t) {
  if (t.stake) return "stake";
  if (t.gov) return "governance";
  if (t.contract) return "contract";
  if (t.ibc) return "ibc";
  return "transfer";
}

// ----- search -----------------------------------------------------------------

function searchError(msg) {
  const e = $("search-error");
  e.textContent = msg || "";
  e.hidden = !msg;
}

/** Where a search goes, or an error message. */
async function resolveSearch(q) {
  q = q.trim();
  if (/^\d+$/.test(q)) {
    const head = await rpc.call("cinder_blockNumber");
    if (BigInt(q) > BigInt(head)) return { error: `No block at height ${q}: the chain's head is at ${head}.` };
    return { route: `#/block/${q}` };
  }
  const hex = q.startsWith("0x") ? q.slice(2) : q;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    return {
      error: `"${q}" is not a height, hash or address. Search takes a block height, or a block hash, transaction hash or address (64 hex digits, with or without 0x).`,
    };
  }
  const id = "0x" + hex.toLowerCase();
  if (await rpc.call("cinder_getBlockByHash", [id, false])) return { route: `#/block/${id}` };
  if (await rpc.call("cinder_getTransactionByHash", [id])) return { route: `#/tx/${id}` };
  const p = await rpc.call("cinder_getProof", [id]);
  if (p.exists) return { route: `#/account/${id}` };
  return { error: `Nothing found for ${id}: no block, transaction or account has that id.` };
}

// ----- state proofs -------------------------------------------------------------

const enc = new TextEncoder();
const PLACEHOLDER = enc.encode("SPARSE_MERKLE_PLACEHOLDER_HASH__");
const LEAF = enc.encode("JMT::LeafNode");
const INTERNAL = enc.encode("JMT::IntrnalNode");

const fromHex = (h) => {
  h = h.startsWith("0x") ? h.slice(2) : h;
  if (h.length % 2 || /[^0-9a-fA-F]/.test(h)) throw new Error("not hex");
  return Uint8Array.from(h.match(/../g) || [], (b) => parseInt(b, 16));
};
const toHex = (b) => "0x" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const le = (v, n) => Uint8Array.from({ length: n }, (_, i) => Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));

/**
 * Checks a `cinder_getProof` account proof in the browser: that under
 * `root` the account `address` holds `{balance, nonce}` (or, with
 * `account` null, that there is no account). The proof is the borsh
 * encoding of jmt's SparseMerkleProof with BLAKE3: an optional leaf
 * (key hash, value hash), then siblings from the bottom up, each Null,
 * Internal(left, right) or Leaf(key hash, value hash). Returns
 * `{ok, reason}`.
 */
export function verifyAccountProof(rootHex, addressHex, account, proofHex) {
  try {
    const root = fromHex(rootHex);
    const key = blake3(fromHex(addressHex));
    const b = fromHex(proofHex);
    let o = 0;
    const take = (n) => {
      if (o + n > b.length) throw new Error("the proof ends early");
      const s = b.subarray(o, o + n);
      o += n;
      return s;
    };
    let leaf = null;
    const tag = take(1)[0];
    if (tag === 1) leaf = { key: take(32), value: take(32) };
    else if (tag !== 0) throw new Error("a bad leaf tag");
    const n = new DataView(take(4).slice().buffer).getUint32(0, true);
    if (n > 256) throw new Error("more than 256 siblings");
    const siblings = [];
    for (let i = 0; i < n; i++) {
      const t = take(1)[0];
      if (t === 0) siblings.push(PLACEHOLDER);
      else if (t === 1) siblings.push(blake3(cat(INTERNAL, take(64))));
      else if (t === 2) siblings.push(blake3(cat(LEAF, take(64))));
      else throw new Error("a bad sibling tag");
    }
    if (o !== b.length) throw new Error("bytes after the proof");
    if (account) {
      if (!leaf) return { ok: false, reason: "the proof says the account does not exist" };
      if (!eq(leaf.key, key)) return { ok: false, reason: "the proof is for another key" };
      const value = cat(le(account.balance, 16), le(account.nonce, 8));
      if (!eq(leaf.value, blake3(value))) return { ok: false, reason: "the balance and nonce do not match the proof" };
    } else if (leaf) {
      if (eq(leaf.key, key)) return { ok: false, reason: "the account exists" };
      const bit = (h, i) => (h[i >> 3] >> (7 - (i & 7))) & 1;
      for (let i = 0; i < n; i++) if (bit(leaf.key, i) !== bit(key, i)) return { ok: false, reason: "not a valid absence proof" };
    }
    let h = leaf ? blake3(cat(LEAF, leaf.key, leaf.value)) : PLACEHOLDER;
    for (let i = 0; i < n; i++) {
      const depth = n - 1 - i;
      const right = (key[depth >> 3] >> (7 - (depth & 7))) & 1;
      h = right ? blake3(cat(INTERNAL, siblings[i], h)) : blake3(cat(INTERNAL, h, siblings[i]));
    }
    if (!eq(h, root)) return { ok: false, reason: `the proof leads to root ${toHex(h)}, not ${rootHex}` };
    return { ok: true, reason: `verified: ${n} levels up to the state root` };
  } catch (e) {
    return { ok: false, reason: `a malformed proof: ${e.message}` };
  }
}

// ----- pages ---------------------------------------------------------------------

const live = { blocks: [], txs: [], series: [], finalSeen: new Map(), sub: null };

function blockRow(b) {
  const who = b.number === 0 ? "genesis" : b.pos ? `validator ${b.pos.proposer}` : link("account", b.coinbase);
  return `<tr data-number="${b.number}"><td>${link("block", b.number, b.number)}</td><td>${link("block", b.hash)}</td>
    <td>${ago(b.timestamp)}</td><td>${Array.isArray(b.transactions) ? b.transactions.length : ""}</td><td>${who}</td></tr>`;
}

function txRow(t) {
  return `<tr data-hash="${esc(t.hash)}"><td>${link("tx", t.hash)}</td><td>${link("account", t.from)}</td>
    <td>${link("account", t.to)}</td><td>${cin(t.value)}</td><td>${esc(txKind(t))}</td><td>${link("block", t.blockNumber, t.blockNumber)}</td></tr>`;
}

async function stats() {
  const [head, pending, peers] = await Promise.all([
    rpc.call("cinder_blockNumber"),
    rpc.call("cinder_pendingTransactionCount"),
    rpc.call("cinder_peers"),
  ]);
  const fin = chain.pos ? await rpc.call("cinder_finalizedBlockNumber").catch(() => null) : null;
  return { head, pending, peers: peers.length, fin };
}

function drawChart(canvas, points, unit) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const c = canvas.getContext("2d");
  c.scale(dpr, dpr);
  c.clearRect(0, 0, w, h);
  c.font = "11px system-ui"; c.fillStyle = "#667085";
  const ys = points.map((p) => p[1]).filter((y) => Number.isFinite(y));
  if (ys.length < 2) { c.fillText("waiting for blocks…", 8, h / 2); return; }
  const max = Math.max(...ys) * 1.1 || 1;
  const x0 = points[0][0], x1 = points[points.length - 1][0] || x0 + 1;
  c.strokeStyle = "#c2410c"; c.lineWidth = 1.5; c.beginPath();
  points.forEach(([x, y], i) => {
    if (!Number.isFinite(y)) return;
    const px = 30 + ((x - x0) / Math.max(1, x1 - x0)) * (w - 40), py = h - 14 - (y / max) * (h - 24);
    i ? c.lineTo(px, py) : c.moveTo(px, py);
  });
  c.stroke();
  c.fillText(`${max.toPrecision(3)} ${unit}`, 2, 10);
  c.fillText(`0`, 2, h - 14);
  c.fillText(`blocks ${x0}–${x1}`, 30, h - 2);
}

function renderCharts() {
  const s = live.series;
  const bt = [], tps = [], fin = [];
  for (let i = 1; i < s.length; i++) {
    const dt = (s[i].ms - s[i - 1].ms) / 1000;
    bt.push([s[i].n, dt]);
    tps.push([s[i].n, dt > 0 ? s[i].txs / dt : NaN]);
  }
  for (const x of s) fin.push([x.n, live.finalSeen.has(x.n) ? (live.finalSeen.get(x.n) - x.ms) / 1000 : NaN]);
  const get = (id) => document.getElementById(id);
  if (get("chart-bt")) drawChart(get("chart-bt"), bt, "s");
  if (get("chart-tps")) drawChart(get("chart-tps"), tps, "tx/s");
  if (get("chart-fin")) drawChart(get("chart-fin"), fin, "s");
}

const blockMs = (b) => (b.pos ? b.pos.timestampMs : b.timestamp * 1000);

async function addBlock(number) {
  const b = await rpc.call("cinder_getBlockByNumber", [number, true]);
  if (!b || live.blocks.some((x) => x.hash === b.hash)) return;
  live.blocks = [b, ...live.blocks.filter((x) => x.number !== b.number)].sort((a, c) => c.number - a.number).slice(0, 10);
  live.txs = [...b.transactions.slice().reverse(), ...live.txs].slice(0, 10);
  live.series = [...live.series.filter((x) => x.n !== b.number), { n: b.number, ms: blockMs(b), txs: b.transactions.length }]
    .sort((a, c) => a.n - c.n)
    .slice(-60);
}

async function noteFinality() {
  if (!chain.pos) return;
  const f = await rpc.call("cinder_finalizedBlockNumber").catch(() => null);
  if (f === null) return;
  for (const x of live.series) if (x.n <= f && !live.finalSeen.has(x.n) && x.n > (live.firstFinal ?? -1)) live.finalSeen.set(x.n, Date.now());
}

async function home() {
  const head = await rpc.call("cinder_blockNumber");
  if (!live.loaded) {
    live.loaded = true;
    const from = Math.max(0, head - 29);
    for (let n = head; n >= from; n--) await addBlock(n);
    // Blocks already final when the page opened have no measured latency.
    live.firstFinal = chain.pos ? await rpc.call("cinder_finalizedBlockNumber").catch(() => -1) : -1;
  }
  await paintHome();
  if (!live.sub) {
    live.sub = await rpc.subscribe("newHeads", async (h) => {
      await addBlock(h.number);
      await noteFinality();
      if (route().page === "home") await paintHome();
    });
  }
}

async function paintHome() {
  const s = await stats();
  main().innerHTML = `
    <div class="stats">
      <div class="stat"><b id="stat-height">${s.head}</b><span>head height</span></div>
      ${chain.pos ? `<div class="stat"><b id="stat-finalized">${s.fin ?? "–"}</b><span>finalized</span></div>` : ""}
      <div class="stat"><b>${s.peers}</b><span>peers</span></div>
      <div class="stat"><b>${s.pending}</b><span>pending transactions</span></div>
      <div class="stat"><b>${chain.chainId}</b><span>chain id · ${chain.pos ? "proof of stake" : "proof of work"}</span></div>
    </div>
    <section><h2>Block time, throughput${chain.pos ? " and finality latency" : ""} (last ${live.series.length} blocks)</h2>
      <div class="charts">
        <div><div class="muted">block time</div><canvas id="chart-bt"></canvas></div>
        <div><div class="muted">transactions per second</div><canvas id="chart-tps"></canvas></div>
        ${chain.pos ? `<div><div class="muted">finality latency (seen by this page)</div><canvas id="chart-fin"></canvas></div>` : ""}
      </div></section>
    <div class="cols">
      <section><h2>Latest blocks</h2><table id="latest-blocks"><tr><th>height</th><th>hash</th><th>time</th><th>txs</th><th>${chain.pos ? "proposer" : "miner"}</th></tr>
        ${live.blocks.map(blockRow).join("")}</table></section>
      <section><h2>Latest transactions</h2><table id="latest-txs"><tr><th>hash</th><th>from</th><th>to</th><th>value</th><th>kind</th><th>block</th></tr>
        ${live.txs.map(txRow).join("") || `<tr><td colspan="6" class="muted">none in the last blocks</td></tr>`}</table></section>
    </div>`;
  renderCharts();
}

async function blockPage(id) {
  const b = /^\d+$/.test(id)
    ? await rpc.call("cinder_getBlockByNumber", [Number(id), true])
    : await rpc.call("cinder_getBlockByHash", [id, true]);
  if (!b) return notFound(`No block ${id}.`);
  const rows = [
    ["height", `<span id="block-number">${b.number}</span>`],
    ["hash", `<span class="mono" id="block-hash">${esc(b.hash)}</span>`],
    ["parent", b.number > 0 ? link("block", b.parentHash, b.parentHash) : "—"],
    ["time", `${new Date(blockMs(b)).toISOString()} (${ago(b.timestamp)})`],
    ["state root", `<span class="mono">${esc(b.stateRoot)}</span>`],
    ["transactions root", `<span class="mono">${esc(b.transactionsRoot)}</span>`],
    ["receipts root", `<span class="mono">${esc(b.receiptsRoot)}</span>`],
    ["size", `${b.size.toLocaleString()} bytes`],
  ];
  let consensus = "";
  if (b.pos) {
    const set = await rpc.call("cinder_getValidators", [b.number]).catch(() => null);
    const who = (i) => {
      const v = set?.validators.find((v) => v.index === i);
      return v ? `${i} · ${link("account", v.address)}` : `${i}`;
    };
    const cert = await rpc.call("cinder_getCommit", [b.number]).catch(() => null);
    consensus = `<section><h2>Proof of stake</h2>${kv([
      ["proposer", who(b.pos.proposer)],
      ["round", String(b.pos.round)],
      ["seed (VRF)", `<span class="mono">${esc(b.pos.seed)}</span>`],
      ["carries parent's certificate", b.pos.hasLastCommit ? "yes" : "no"],
      [
        "certificate",
        cert
          ? `<span id="cert">round ${cert.round}: ${cert.signatures.length} signature${cert.signatures.length === 1 ? "" : "s"}, power ${cert.signedPower} of ${cert.totalVotingPower}</span>`
          : `<span id="cert" class="muted">not yet (not finalized on this node)</span>`,
      ],
      cert && ["signers", `<span id="signers">${cert.signatures.map((s) => who(s.validator)).join("<br>")}</span>`],
    ])}</section>`;
  } else {
    consensus = `<section><h2>Proof of work</h2>${kv([
      ["miner (coinbase)", link("account", b.coinbase, b.coinbase)],
      ["bits", `<span class="mono">${esc(b.bits)}</span>`],
      ["nonce", String(b.nonce)],
      ["extra nonce", String(b.extraNonce)],
      ["version", String(b.version)],
      ["PoW header", `<span class="mono">${esc(b.powHeader)}</span>`],
    ])}</section>`;
  }
  main().innerHTML = `<section><h2>Block ${b.number}</h2>${kv(rows)}</section>${consensus}
    <section><h2>Transactions (${b.transactions.length})</h2><table><tr><th>hash</th><th>from</th><th>to</th><th>value</th><th>kind</th><th>block</th></tr>
    ${b.transactions.map(txRow).join("")}</table></section>`;
}

async function txPage(hash) {
  const [t, r] = await Promise.all([
    rpc.call("cinder_getTransactionByHash", [hash]),
    rpc.call("cinder_getTransactionReceipt", [hash]),
  ]);
  if (!t) return notFound(`No transaction ${hash}.`);
  const extra = t.stake || t.gov || t.contract || t.ibc;
  const status = r
    ? `<span id="tx-status" class="${r.status === "success" ? "ok" : "bad"}">${esc(r.status)}</span>${r.reason ? ` — ${esc(r.reason)}` : ""}`
    : `<span id="tx-status" class="muted">pending</span>`;
  main().innerHTML = `<section><h2>Transaction</h2>${kv([
    ["hash", `<span class="mono" id="tx-hash">${esc(t.hash)}</span>`],
    ["status", status],
    ["block", t.blockNumber != null ? `${link("block", t.blockNumber, t.blockNumber)} (index ${t.transactionIndex})` : "pending"],
    ["from", link("account", t.from, t.from)],
    ["to", link("account", t.to, t.to)],
    ["value", `<span id="tx-value">${cin(t.value)}</span>`],
    ["kind", esc(txKind(t))],
    ["nonce", String(t.nonce)],
    ["gas", `limit ${t.gasLimit.toLocaleString()}${r ? `, used ${r.gasUsed.toLocaleString()}` : ""}, price ${esc(t.gasPrice)}`],
    r?.contractAddress && ["contract created", link("account", r.contractAddress, r.contractAddress)],
    extra && ["call", `<pre>${esc(JSON.stringify(extra, null, 2))}</pre>`],
    r?.output && r.output !== "0x" && ["output", `<span class="mono">${esc(r.output)}</span>`],
  ])}</section>
  ${r && r.logs.length ? `<section><h2>Events (${r.logs.length})</h2><table><tr><th>#</th><th>contract</th><th>topics</th><th>data</th></tr>
    ${r.logs.map((l) => `<tr><td>${l.logIndex}</td><td>${link("account", l.address)}</td><td class="mono">${l.topics.map(esc).join("<br>")}</td><td class="mono">${esc(l.data)}</td></tr>`).join("")}</table></section>` : ""}`;
}

async function accountPage(address) {
  const p = await rpc.call("cinder_getProof", [address]);
  // The root comes from the block header, fetched on its own: the proof
  // is checked against the chain, not against what came with it.
  const header = await rpc.call("cinder_getBlockByNumber", [p.blockNumber, false]);
  const account = p.exists ? { balance: p.balance, nonce: p.nonce } : null;
  const check = header.hash === p.blockHash
    ? verifyAccountProof(header.stateRoot, address, account, p.proof)
    : { ok: false, reason: "the proof's block is not the canonical block at its height" };
  const code = await rpc.call("cinder_getCode", [address]).catch(() => null);
  main().innerHTML = `<section><h2>Account</h2>${kv([
    ["address", `<span class="mono" id="account-address">${esc(address)}</span>`],
    ["balance", `<span id="account-balance" data-raw="${esc(p.balance)}">${cin(p.balance)}</span>`],
    ["nonce", `<span id="account-nonce">${p.nonce}</span>`],
    ["exists", p.exists ? "yes" : "no (never funded)"],
    code && ["contract", `code hash <span class="mono">${esc(code.codeHash)}</span>, admin ${code.admin ? link("account", code.admin) : "none"}`],
    [
      "state proof",
      `<span id="proof-status" data-ok="${check.ok}" class="${check.ok ? "ok" : "bad"}">${check.ok ? "✓" : "✗"} ${esc(check.reason)}</span>
       <div class="muted">checked in this page against block ${link("block", p.blockNumber, p.blockNumber)}'s state root <span class="mono">${esc(header.stateRoot)}</span></div>`,
    ],
  ])}</section>
  <section id="stake-section" hidden><h2>Stake</h2><div id="stake"></div></section>
  <section><h2>Recent transactions <span class="muted" id="recent-note">(scanning the last 200 blocks…)</span></h2>
    <table id="account-txs"><tr><th>hash</th><th>from</th><th>to</th><th>value</th><th>kind</th><th>block</th></tr></table></section>`;
  if (chain.pos) stake(address);
  recent(address);
}

async function stake(address) {
  const set = await rpc.call("cinder_getValidators", []).catch(() => null);
  if (!set) return;
  const rows = [];
  const own = await rpc.call("cinder_getStake", [address]).catch(() => null);
  if (own) rows.push(["validator", `tokens ${cin(own.tokens)}, commission ${own.commissionBps / 100}%, ${own.active ? "active" : "not active"}${own.jailedUntilEpoch ? `, jailed until epoch ${own.jailedUntilEpoch}` : ""}`]);
  for (const v of set.validators) {
    const d = await rpc.call("cinder_getStake", [v.address, address]).catch(() => null);
    if (d && (d.stake !== "0" || d.unbonding.length)) {
      rows.push([`delegated to ${v.index}`, `${cin(d.stake)} to ${link("account", v.address)}; rewards ${cin(d.pendingRewards)}${d.unbonding.length ? `; unbonding ${d.unbonding.map((u) => `${cin(u.amount)} (epoch ${u.maturesEpoch})`).join(", ")}` : ""}`]);
    }
  }
  if (!rows.length || !$("stake")) return;
  $("stake").innerHTML = kv(rows);
  $("stake-section").hidden = false;
}

async function recent(address) {
  const head = await rpc.call("cinder_blockNumber");
  const found = [];
  const low = Math.max(0, head - 199);
  for (let n = head; n >= low && found.length < 20; n--) {
    const b = await rpc.call("cinder_getBlockByNumber", [n, true]);
    if (!b) continue;
    for (const t of b.transactions) if (t.from === address || t.to === address) found.push(t);
    if (!$("account-txs") || route().id !== address) return;
  }
  $("account-txs").innerHTML += found.map(txRow).join("");
  $("recent-note").textContent = found.length ? `(blocks ${low}–${head})` : `(none in blocks ${low}–${head})`;
}

async function validatorsPage() {
  if (!chain.pos) return notFound("This chain is proof of work: it has miners, not validators.");
  const set = await rpc.call("cinder_getValidators", []);
  const fin = await rpc.call("cinder_finalizedBlockNumber");
  const span = 20;
  const signed = new Map();
  let certs = 0;
  for (let n = fin; n > Math.max(0, fin - span); n--) {
    const c = await rpc.call("cinder_getCommit", [n]).catch(() => null);
    if (!c) continue;
    certs++;
    for (const s of c.signatures) signed.set(s.validator, (signed.get(s.validator) || 0) + 1);
  }
  main().innerHTML = `<section><h2>Validators for height ${set.number}</h2>
    <p class="muted">Total voting power ${set.totalVotingPower}; a certificate needs more than ${set.quorumAbove}. Signing: signatures in the certificates of the last ${certs} finalized blocks.</p>
    <table id="validators"><tr><th>index</th><th>operator</th><th>stake</th><th>voting power</th><th>recent signing</th></tr>
    ${set.validators.map((v) => `<tr><td>${v.index}</td><td>${link("account", v.address)}</td><td>${cin(v.stake)}</td><td>${v.votingPower}</td><td>${signed.get(v.index) || 0} / ${certs}</td></tr>`).join("")}
    </table></section>`;
}

function notFound(msg) {
  main().innerHTML = `<section><p class="bad" id="not-found">${esc(msg)}</p></section>`;
}

// ----- routing -------------------------------------------------------------------

function route() {
  const [, page = "", id = ""] = location.hash.split("/");
  return { page: page || "home", id: decodeURIComponent(id) };
}

async function render() {
  const { page, id } = route();
  try {
    if (page === "home") await home();
    else if (page === "block") await blockPage(id);
    else if (page === "tx") await txPage(id);
    else if (page === "account") await accountPage(id);
    else if (page === "validators") await validatorsPage();
    else notFound(`No page ${page}.`);
  } catch (e) {
    notFound(`The node did not answer: ${e.message}`);
  }
}

async function start() {
  const cfg = await (await fetch("/config.json")).json();
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.hostname}:${cfg.rpcPort}`;
  rpc = new Rpc(url);
  rpc.onState = (up) => {
    $("conn").textContent = up ? `connected to ${url}` : `disconnected from ${url}: retrying…`;
    $("conn").className = up ? "conn" : "conn down";
  };
  window.cinderExplorer = { blake3Hex: (bytes) => toHex(blake3(Uint8Array.from(bytes))), verifyAccountProof, resolveSearch, rpc };
  $("search").addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = $("search-input").value;
    searchError("");
    try {
      const r = await resolveSearch(q);
      if (r.error) searchError(r.error);
      else location.hash = r.route;
    } catch (err) {
      searchError(`The search failed: ${err.message}`);
    }
  });
  window.addEventListener("hashchange", () => { searchError(""); render(); });
  for (;;) {
    try {
      await rpc.open();
      chain.chainId = await rpc.call("cinder_chainId");
      chain.pos = (await rpc.call("cinder_finalizedBlockNumber").then(() => true, () => false));
      $("nav-validators").hidden = !chain.pos;
      live.sub = null;
      await render();
      await new Promise((resolve) => { const ws = rpc.ws; ws.addEventListener("close", resolve); });
    } catch (e) {
      rpc.onState(false);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

start();
