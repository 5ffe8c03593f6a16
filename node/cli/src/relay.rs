//! `cinder relay`: the relayer between two chains (docs/design/interop.md,
//! "The relayer"; the model is Hermes).
//!
//! - `open` creates a light client of each chain on the other and runs
//!   the channel handshake (init, try, ack, confirm), updating each client
//!   before the proofs it is to check.
//! - `start` relays over an open channel both ways: packets in flight on
//!   one end are delivered to the other with a proof of their commitment;
//!   acknowledgements written on the receiving end go back with a proof;
//!   packets past their timeout on the receiving end go back as timeouts
//!   with a proof that they were not received.
//!
//! The relayer keeps no state of its own: every pass reads what is in
//! flight from the chains, so a relayer killed at any point and started
//! again (or two relayers at once) delivers each packet exactly once: the
//! chain refuses a second delivery, and the relayer counts such a refusal
//! as done, not as an error.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use cinder_chain::ibc::client::{ends_epoch, epoch_of};
use cinder_chain::ibc::{ClientKind, ClientState, keys};
use cinder_engine::sig::SecretKey;
use cinder_primitives::{
    Acknowledgement, Address, Bounded, BoundedBytes, ClientInit, ClientUpdate, CommitCertificate, Header, IBC_ADDRESS,
    IbcOp, Ordering, Packet, PowAlgo, Proof, STAKING_ADDRESS, SetProof, Transaction, TxKind, decode,
};
use cinder_rpc::{Client, IbcInfoJson, ReceiptJson};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::wallet::rt;

/// `cinder relay`.
#[derive(Debug, Args)]
pub(crate) struct RelayArgs {
    #[command(subcommand)]
    cmd: RelayCmd,
}

/// The two chains and the relayer's key.
#[derive(Debug, Args)]
struct Ends {
    /// Chain A's RPC URL.
    #[arg(long)]
    a: String,
    /// Chain B's RPC URL.
    #[arg(long)]
    b: String,
    /// The relayer's key: a keystore file (with `--password-file`) or a
    /// file holding a 32-byte seed in hex. Its account pays the fees on
    /// both chains.
    #[arg(long)]
    key: PathBuf,
    /// The keystore file's password (its first line).
    #[arg(long, env = "CINDER_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
    /// Report each step as a JSON line on stdout.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for a transaction's receipt or a height.
    #[arg(long, default_value_t = 60)]
    wait: u64,
    /// Confirmations a proof-of-work counterparty's header needs before a
    /// client uses it.
    #[arg(long, default_value_t = 6)]
    pow_depth: u64,
}

#[derive(Debug, Subcommand)]
enum RelayCmd {
    /// Create a client of each chain on the other and open a channel
    /// between them; prints the ids.
    Open {
        #[command(flatten)]
        ends: Ends,
        /// An ordered channel (default: unordered).
        #[arg(long)]
        ordered: bool,
    },
    /// Relay packets, acknowledgements and timeouts over an open channel,
    /// both ways.
    Start {
        #[command(flatten)]
        ends: Ends,
        /// Chain A's end of the channel.
        #[arg(long)]
        channel: u64,
        /// One pass each way, then exit (status 1 if anything failed).
        #[arg(long)]
        once: bool,
        /// Milliseconds between passes.
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
    },
}

/// Runs `cinder relay`.
pub(crate) fn run(args: RelayArgs) -> Result<()> {
    rt()?.block_on(async {
        match args.cmd {
            RelayCmd::Open { ends, ordered } => {
                let (a, b) = connect(&ends).await?;
                let ordering = if ordered { Ordering::Ordered } else { Ordering::Unordered };
                open(&a, &b, ordering).await
            }
            RelayCmd::Start { ends, channel, once, interval_ms } => {
                let (a, b) = connect(&ends).await?;
                start(&a, &b, channel, once, Duration::from_millis(interval_ms)).await
            }
        }
    })
}

/// The most transactions the relayer has in a chain's pool at once (the
/// pool takes at most 64 nonces ahead of an account's next).
const WINDOW: u64 = 64;

/// One chain as the relayer sees it.
struct End {
    name: &'static str,
    c: Client,
    info: IbcInfoJson,
    key: SecretKey,
    me: Address,
    wait: Duration,
    json: bool,
    pow_depth: u64,
}

async fn connect_one(e: &Ends, name: &'static str, url: &str) -> Result<End> {
    let key = crate::wallet::key_from_file(&e.key, e.password_file.as_deref())?;
    let c = Client::new(url).with_context(|| format!("chain {name}: {url}"))?;
    let info = c.ibc_info().await.with_context(|| format!("chain {name} ({url})"))?;
    let me = Address::from_public_key(&key.public_key());
    Ok(End { name, c, info, key, me, wait: Duration::from_secs(e.wait), json: e.json, pow_depth: e.pow_depth })
}

async fn connect(e: &Ends) -> Result<(End, End)> {
    let a = connect_one(e, "a", &e.a).await?;
    let b = connect_one(e, "b", &e.b).await?;
    if a.info.chain_id == b.info.chain_id && a.info.genesis == b.info.genesis {
        bail!("--a and --b are the same chain");
    }
    Ok((a, b))
}

/// Prints a step: a JSON line with `--json`, else a line of text.
fn report(json: bool, v: serde_json::Value) {
    if json {
        say!("{v}");
    } else {
        let event = v.get("event").and_then(|e| e.as_str()).unwrap_or("");
        let mut fields: Vec<String> = Vec::new();
        if let Some(o) = v.as_object() {
            for (k, x) in o {
                if k != "event" {
                    fields.push(format!("{k}={}", x.to_string().trim_matches('"')));
                }
            }
        }
        say!("{event}: {}", fields.join(" "));
    }
}

fn unhex(s: &str, what: &str) -> Result<Vec<u8>> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).with_context(|| format!("{what} is not hex"))
}

fn bytes<const N: usize>(v: Vec<u8>, what: &str) -> Result<BoundedBytes<N>> {
    BoundedBytes::new(v).map_err(|v| anyhow!("{what} of {} bytes is too large", v.len()))
}

impl End {
    fn is_pos(&self) -> bool {
        self.info.consensus == "pos"
    }

    /// The newest height a client of this chain can be given: the
    /// finalized height (PoS) or the head (PoW).
    async fn settled(&self) -> Result<u64> {
        if self.is_pos() { Ok(self.c.finalized_block_number().await?) } else { Ok(self.c.block_number().await?) }
    }

    /// Waits until [`End::settled`] reaches `h`.
    async fn settled_at_least(&self, h: u64) -> Result<u64> {
        let deadline = Instant::now() + self.wait;
        loop {
            let s = self.settled().await?;
            if s >= h {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                bail!("chain {} did not reach height {h} within {:?} (at {s})", self.name, self.wait);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn header(&self, h: u64) -> Result<Header> {
        let b =
            self.c.block_by_number(h, false).await?.with_context(|| format!("chain {}: no block {h}", self.name))?;
        decode(&unhex(&b.raw_header, "a header")?).with_context(|| format!("chain {}: header {h}", self.name))
    }

    async fn time_ms(&self, h: u64) -> Result<u64> {
        let b =
            self.c.block_by_number(h, false).await?.with_context(|| format!("chain {}: no block {h}", self.name))?;
        Ok(b.pos.map_or(b.timestamp.saturating_mul(1000), |p| p.timestamp_ms))
    }

    async fn commit(&self, h: u64) -> Result<CommitCertificate> {
        let c = self.c.commit(h).await?.with_context(|| format!("chain {}: no certificate of block {h}", self.name))?;
        decode(&unhex(&c.raw, "a certificate")?).with_context(|| format!("chain {}: certificate {h}", self.name))
    }

    /// A record of `address`'s ledger (`IBC_ADDRESS`, `STAKING_ADDRESS`)
    /// at height `h` and its proof.
    async fn record_of(&self, address: Address, h: u64, key: &[u8]) -> Result<(Option<Vec<u8>>, Proof)> {
        let p = self.c.proof(address, Some(h), &[key.to_vec()]).await?;
        let s = p.storage.first().context("a proof without its record")?;
        let value = s.value.as_deref().map(|v| unhex(v, "a record")).transpose()?;
        Ok((value, Proof { height: h, proof: bytes(unhex(&s.proof, "a proof")?, "a proof")? }))
    }

    async fn record(&self, h: u64, key: &[u8]) -> Result<(Option<Vec<u8>>, Proof)> {
        self.record_of(IBC_ADDRESS, h, key).await
    }

    /// Signs and sends `ops` in order (consecutive nonces), at most
    /// [`WINDOW`] of them in the pool at once, and waits for every receipt.
    async fn submit(&self, ops: Vec<IbcOp>) -> Result<Vec<(IbcOp, ReceiptJson)>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let mut nonce = self.c.nonce(self.me).await?;
        let mut included = nonce;
        let gas_price = self.c.gas_price().await?;
        let mut sent = Vec::with_capacity(ops.len());
        let deadline = Instant::now() + self.wait;
        for op in ops {
            let kind = TxKind::Ibc(op.clone());
            let gas_limit = cinder_vm::plain_gas(&kind);
            // Keep within the pool's window: wait for the chain to include
            // earlier ones.
            while nonce >= included.saturating_add(WINDOW) {
                if Instant::now() >= deadline {
                    bail!("chain {}: the relayer's transactions were not included within {:?}", self.name, self.wait);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                included = self.c.nonce(self.me).await?;
            }
            let hash = loop {
                let tx = Transaction {
                    chain_id: self.info.chain_id,
                    sender: self.key.public_key(),
                    nonce,
                    gas_limit,
                    gas_price,
                    kind: kind.clone(),
                }
                .sign(&self.key);
                match self.c.send(&tx).await {
                    Ok(h) => break h,
                    // A transaction of this account still in the pool (a
                    // relayer that stopped before its receipt came): wait for
                    // it to be included and take the next nonce.
                    Err(e) if e.to_string().contains("replacement") && Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        nonce = nonce.max(self.c.nonce(self.me).await?);
                    }
                    Err(e) => return Err(anyhow!(e).context(format!("chain {}: sending {}", self.name, op.name()))),
                }
            };
            report(self.json, json!({"event": "sent", "chain": self.name, "op": op.name(), "tx": hash}));
            nonce = nonce.saturating_add(1);
            sent.push((op, hash));
        }
        let mut out = Vec::with_capacity(sent.len());
        for (op, hash) in sent {
            let r = loop {
                if let Some(r) = self.c.receipt(hash).await? {
                    break r;
                }
                if Instant::now() >= deadline {
                    bail!("chain {}: {} ({hash}) not included within {:?}", self.name, op.name(), self.wait);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            report(
                self.json,
                json!({"event": "included", "chain": self.name, "op": op.name(), "tx": hash,
                       "block": r.block_number, "status": r.status, "reason": r.reason}),
            );
            out.push((op, r));
        }
        Ok(out)
    }

    /// [`End::submit`] of operations that must all succeed.
    async fn submit_all(&self, ops: Vec<IbcOp>) -> Result<Vec<ReceiptJson>> {
        let mut out = Vec::new();
        for (op, r) in self.submit(ops).await? {
            if r.status != "success" {
                bail!("chain {}: {} {}: {}", self.name, op.name(), r.status, r.reason.unwrap_or_default());
            }
            out.push(r);
        }
        Ok(out)
    }
}

/// A receipt's output as the id or sequence it returns.
fn output_id(r: &ReceiptJson) -> Result<u64> {
    let b = unhex(&r.output, "an output")?;
    let b: [u8; 8] = b.get(..8).and_then(|s| s.try_into().ok()).context("an output that is no id")?;
    Ok(u64::from_le_bytes(b))
}

/// Creates a client of `cp` on `host`; returns its id.
async fn create_client(host: &End, cp: &End) -> Result<u64> {
    let init = if cp.is_pos() {
        let h = cp.settled().await?;
        let len = cp.info.epoch_length.context("a PoS chain without an epoch length")?;
        let header = cp.header(h).await?;
        let key = cinder_staking::store::set_key(epoch_of(h, len));
        let (set, _) = cp.record_of(STAKING_ADDRESS, h, &key).await?;
        let set = set.with_context(|| format!("chain {}: no validator set at height {h}", cp.name))?;
        ClientInit::Pos {
            chain_id: cp.info.chain_id,
            genesis: cp.info.genesis,
            epoch_length: len,
            header,
            set: bytes(set, "a validator set")?,
        }
    } else {
        let head = cp.settled().await?;
        let h = head.saturating_sub(cp.pow_depth);
        let algo = match cp.info.pow_algo.as_deref() {
            Some("blake3") => PowAlgo::Blake3,
            _ => PowAlgo::Sha256d,
        };
        let bits = cp.info.pow_limit_bits.as_deref().context("a PoW chain without its limit")?;
        let max_bits = u32::from_str_radix(bits.trim_start_matches("0x"), 16).context("the PoW limit")?;
        ClientInit::Pow {
            chain_id: cp.info.chain_id,
            genesis: cp.info.genesis,
            algo,
            checkpoint: cp.header(h).await?,
            max_bits,
            depth: cp.pow_depth,
        }
    };
    let r = host.submit_all(vec![IbcOp::CreateClient(Box::new(init))]).await?;
    let id = output_id(r.first().context("no receipt")?)?;
    report(host.json, json!({"event": "client", "chain": host.name, "client": id, "of": cp.name}));
    Ok(id)
}

/// The client updates that bring `host`'s client `client` of `cp` to
/// `cp`'s height `h` (PoS: the last block of each epoch in between with
/// the next set, then `h`).
async fn pos_updates(client: u64, state: &ClientState, cp: &End, h: u64) -> Result<Vec<IbcOp>> {
    let ClientKind::Pos(p) = &state.kind else { bail!("not a PoS client") };
    let len = p.epoch_length;
    let mut ops = Vec::new();
    let update = |header: Header, commit: CommitCertificate, next_set: Option<SetProof>| IbcOp::UpdateClient {
        client,
        update: Box::new(ClientUpdate::Pos { header, commit, next_set }),
    };
    let set_proof = |at: u64| async move {
        let key = cinder_staking::store::set_key(epoch_of(at, len).saturating_add(1));
        let (set, proof) = cp.record_of(STAKING_ADDRESS, at, &key).await?;
        let set = set.with_context(|| format!("chain {}: no next validator set at height {at}", cp.name))?;
        Ok::<_, anyhow::Error>(SetProof { set: bytes(set, "a validator set")?, proof: proof.proof })
    };
    let mut epoch = p.epoch;
    while epoch < epoch_of(h, len) {
        let last = epoch.saturating_add(1).saturating_mul(len);
        ops.push(update(cp.header(last).await?, cp.commit(last).await?, Some(set_proof(last).await?)));
        epoch = epoch.saturating_add(1);
    }
    let next = if ends_epoch(h, len) { Some(set_proof(h).await?) } else { None };
    ops.push(update(cp.header(h).await?, cp.commit(h).await?, next));
    Ok(ops)
}

/// The PoW headers that extend `host`'s client of `cp` to `cp`'s head.
async fn pow_updates(client: u64, state: &ClientState, cp: &End, head: u64) -> Result<Vec<IbcOp>> {
    let ClientKind::Pow(p) = &state.kind else { bail!("not a PoW client") };
    let tip = p.pending.last().map_or(p.confirmed, |x| (x.height, x.state.block));
    // From the client's tip if the chain still holds it, else from its
    // confirmed header (the branch must then outweigh the pending one).
    let from = match cp.c.block_by_number(tip.0, false).await? {
        Some(b) if b.hash == tip.1 => tip.0,
        _ => p.confirmed.0,
    };
    let mut ops = Vec::new();
    let mut h = from.saturating_add(1);
    while h <= head {
        let end = head.min(h.saturating_add(cinder_primitives::MAX_POW_HEADERS as u64 - 1));
        let mut headers = Vec::new();
        for x in h..=end {
            headers.push(cp.header(x).await?);
        }
        let headers = Bounded::new(headers).map_err(|_| anyhow!("too many headers"))?;
        ops.push(IbcOp::UpdateClient { client, update: Box::new(ClientUpdate::Pow { headers }) });
        h = end.saturating_add(1);
    }
    Ok(ops)
}

/// Makes `host`'s client `client` of `cp` able to prove `cp`'s state at
/// `min` or later; returns the height to prove at.
async fn ensure(host: &End, client: u64, cp: &End, min: u64) -> Result<u64> {
    let raw =
        host.c.ibc_client(client, None).await?.with_context(|| format!("chain {}: no client {client}", host.name))?;
    if let Some(why) = &raw.frozen {
        bail!("chain {}: client {client} is frozen: {why}", host.name);
    }
    if raw.latest >= min {
        return Ok(raw.latest);
    }
    let state: ClientState = borsh::from_slice(&unhex(&raw.raw, "a client record")?).context("a client record")?;
    let ops = match &state.kind {
        ClientKind::Pos(_) => {
            let h = cp.settled_at_least(min).await?;
            pos_updates(client, &state, cp, h).await?
        }
        ClientKind::Pow(p) => {
            let head = cp.settled_at_least(min.saturating_add(p.depth)).await?;
            pow_updates(client, &state, cp, head).await?
        }
    };
    let n = ops.len();
    host.submit_all(ops).await?;
    let now = host.c.ibc_client(client, None).await?.context("the client vanished")?;
    report(
        host.json,
        json!({"event": "updated", "chain": host.name, "client": client, "height": now.latest, "updates": n}),
    );
    if now.latest < min {
        bail!("chain {}: client {client} reached {} only, not {min}", host.name, now.latest);
    }
    Ok(now.latest)
}

/// `cinder relay open`.
async fn open(a: &End, b: &End, ordering: Ordering) -> Result<()> {
    let client_a = create_client(a, b).await?;
    let client_b = create_client(b, a).await?;
    let init = a.submit_all(vec![IbcOp::ChanOpenInit { client: client_a, ordering }]).await?;
    let r = init.first().context("no receipt")?;
    let chan_a = output_id(r)?;

    // Try on B, proving A's channel and A's client of B.
    let h = ensure(b, client_b, a, r.block_number).await?;
    let (client_rec, client_proof) = a.record(h, &keys::client(client_a)).await?;
    let (_, channel_proof) = a.record(h, &keys::channel(chan_a)).await?;
    let try_op = IbcOp::ChanOpenTry {
        client: client_b,
        ordering,
        counterparty_client: client_a,
        counterparty_channel: chan_a,
        counterparty_client_state: bytes(client_rec.context("A's client record is missing")?, "a client record")?,
        channel_proof,
        client_proof,
    };
    let r = b.submit_all(vec![try_op]).await?;
    let r = r.first().context("no receipt")?;
    let chan_b = output_id(r)?;

    // Ack on A, proving B's channel and B's client of A.
    let h = ensure(a, client_a, b, r.block_number).await?;
    let (client_rec, client_proof) = b.record(h, &keys::client(client_b)).await?;
    let (_, channel_proof) = b.record(h, &keys::channel(chan_b)).await?;
    let ack = IbcOp::ChanOpenAck {
        channel: chan_a,
        counterparty_client: client_b,
        counterparty_channel: chan_b,
        counterparty_client_state: bytes(client_rec.context("B's client record is missing")?, "a client record")?,
        channel_proof,
        client_proof,
    };
    let r = a.submit_all(vec![ack]).await?;
    let r = r.first().context("no receipt")?;

    // Confirm on B, proving A's open channel.
    let h = ensure(b, client_b, a, r.block_number).await?;
    let (_, channel_proof) = a.record(h, &keys::channel(chan_a)).await?;
    b.submit_all(vec![IbcOp::ChanOpenConfirm { channel: chan_b, channel_proof }]).await?;
    let out = json!({"event": "open", "clientA": client_a, "clientB": client_b, "channelA": chan_a,
                     "channelB": chan_b, "ordering": ordering.name()});
    if a.json {
        say!("{out}");
    } else {
        say!(
            "clients: A {client_a} (of B), B {client_b} (of A); channel: A {chan_a} <-> B {chan_b} ({})",
            ordering.name()
        );
    }
    Ok(())
}

/// One direction of a channel.
struct Leg<'a> {
    src: &'a End,
    src_channel: u64,
    /// The source's client of the destination.
    src_client: u64,
    dst: &'a End,
    dst_channel: u64,
    /// The destination's client of the source.
    dst_client: u64,
    ordering: Ordering,
}

/// What one pass did.
#[derive(Default)]
struct Tally {
    received: Vec<u64>,
    acknowledged: Vec<u64>,
    timed_out: Vec<u64>,
    skipped: Vec<(u64, String)>,
    errors: Vec<String>,
}

/// Whether a refusal means someone delivered it first.
fn already_done(reason: &str) -> bool {
    reason.contains("already received") || reason.contains("not in flight")
}

impl Leg<'_> {
    /// Delivers what is in flight, then brings back the acknowledgements
    /// and timeouts (those of packets it just delivered included).
    async fn pass(&self) -> Result<Tally> {
        let mut t = Tally::default();
        self.deliver(&mut t).await?;
        self.back(&mut t).await?;
        Ok(t)
    }

    /// The packets in flight on the source, each with whether the
    /// destination received it; and the destination's settled height and
    /// its time.
    async fn in_flight(&self) -> Result<(Vec<(Packet, bool)>, u64, u64)> {
        let packets = self.src.c.ibc_packets(self.src_channel, 1, 100).await?;
        let dst_head = self.dst.settled().await?;
        let dst_time = self.dst.time_ms(dst_head).await?;
        let mut out = Vec::with_capacity(packets.len());
        for p in packets {
            let packet: Packet = decode(&unhex(&p.raw, "a packet")?).context("a packet")?;
            let r = self.dst.c.ibc_receipt(self.dst_channel, p.sequence).await?;
            out.push((packet, r.received));
        }
        Ok((out, dst_head, dst_time))
    }

    fn timed_out(p: &Packet, height: u64, time_ms: u64) -> bool {
        (p.timeout_height != 0 && height >= p.timeout_height)
            || (p.timeout_time_ms != 0 && time_ms >= p.timeout_time_ms)
    }

    /// Delivers the packets the destination has not received and can
    /// still receive, proven at a height its client has verified.
    async fn deliver(&self, t: &mut Tally) -> Result<()> {
        let (packets, dst_head, dst_time) = self.in_flight().await?;
        let recv: Vec<Packet> = packets
            .into_iter()
            .filter(|(p, received)| !received && !Self::timed_out(p, dst_head, dst_time))
            .map(|(p, _)| p)
            .collect();
        if recv.is_empty() {
            return Ok(());
        }
        let src_head = self.src.c.block_number().await?;
        let h = ensure(self.dst, self.dst_client, self.src, src_head).await?;
        let mut ops = Vec::new();
        for p in recv {
            let (_, proof) = self.src.record(h, &keys::commitment(self.src_channel, p.sequence)).await?;
            ops.push(IbcOp::RecvPacket { packet: Box::new(p), proof });
        }
        self.tally(t, self.dst.submit(ops).await?, |t| &mut t.received);
        Ok(())
    }

    /// Acknowledges on the source what the destination received, and
    /// times out what it can no longer receive.
    async fn back(&self, t: &mut Tally) -> Result<()> {
        let (packets, dst_head, dst_time) = self.in_flight().await?;
        let back: Vec<(Packet, bool)> =
            packets.into_iter().filter(|(p, received)| *received || Self::timed_out(p, dst_head, dst_time)).collect();
        if back.is_empty() {
            return Ok(());
        }
        // An acknowledgement is written with the receipt: prove at a height
        // that holds the newest receipts.
        let min = if back.iter().any(|(_, r)| *r) { self.dst.c.block_number().await? } else { dst_head };
        let h = ensure(self.src, self.src_client, self.dst, min).await?;
        let time = self.dst.time_ms(h).await?;
        let mut acks = Vec::new();
        let mut timeouts = Vec::new();
        for (p, received) in back {
            if received {
                let (ack, proof) = self.dst.record(h, &keys::ack(self.dst_channel, p.sequence)).await?;
                let Some(ack) = ack else {
                    t.skipped.push((p.sequence, "its acknowledgement is not at the proven height yet".into()));
                    continue;
                };
                let ack: Acknowledgement = decode(&ack).context("an acknowledgement")?;
                acks.push(IbcOp::Acknowledge { packet: Box::new(p), ack, proof });
            } else {
                let passed = (p.timeout_height != 0 && h >= p.timeout_height)
                    || (p.timeout_time_ms != 0 && time >= p.timeout_time_ms);
                if !passed {
                    t.skipped.push((p.sequence, "the proven height is before its timeout".into()));
                    continue;
                }
                let (op, next_recv) = match self.ordering {
                    Ordering::Unordered => (self.dst.record(h, &keys::receipt(self.dst_channel, p.sequence)).await?, 0),
                    Ordering::Ordered => {
                        let r = self.dst.record(h, &keys::next_recv(self.dst_channel)).await?;
                        let next = match &r.0 {
                            Some(b) => u64::from_le_bytes(
                                b.as_slice().try_into().map_err(|_| anyhow!("a counter is not 8 bytes"))?,
                            ),
                            None => 1,
                        };
                        (r, next)
                    }
                };
                timeouts.push(IbcOp::Timeout { packet: Box::new(p), proof: op.1, next_recv });
            }
        }
        self.tally(t, self.src.submit(acks).await?, |t| &mut t.acknowledged);
        self.tally(t, self.src.submit(timeouts).await?, |t| &mut t.timed_out);
        Ok(())
    }

    fn tally(&self, t: &mut Tally, done: Vec<(IbcOp, ReceiptJson)>, ok: fn(&mut Tally) -> &mut Vec<u64>) {
        for (op, r) in done {
            let seq = match &op {
                IbcOp::RecvPacket { packet, .. }
                | IbcOp::Acknowledge { packet, .. }
                | IbcOp::Timeout { packet, .. } => packet.sequence,
                _ => 0,
            };
            let reason = r.reason.clone().unwrap_or_default();
            if r.status == "success" {
                ok(t).push(seq);
            } else if already_done(&reason) {
                t.skipped.push((seq, reason));
            } else {
                t.errors.push(format!("{} of packet {seq}: {} {reason}", op.name(), r.status));
            }
        }
    }
}

/// `cinder relay start`.
async fn start(a: &End, b: &End, channel: u64, once: bool, interval: Duration) -> Result<()> {
    let ca = a.c.ibc_channel(channel).await?.with_context(|| format!("chain a has no channel {channel}"))?;
    if ca.state != "open" {
        bail!("chain a's channel {channel} is {}, not open", ca.state);
    }
    let cb_id = ca.counterparty_channel.context("an open channel without its counterparty")?;
    let cb = b.c.ibc_channel(cb_id).await?.with_context(|| format!("chain b has no channel {cb_id}"))?;
    if cb.counterparty_channel != Some(channel) {
        bail!("chain b's channel {cb_id} is not paired with chain a's {channel}");
    }
    let ordering = if ca.ordering == "ordered" { Ordering::Ordered } else { Ordering::Unordered };
    let legs = [
        Leg {
            src: a,
            src_channel: channel,
            src_client: ca.client,
            dst: b,
            dst_channel: cb_id,
            dst_client: cb.client,
            ordering,
        },
        Leg {
            src: b,
            src_channel: cb_id,
            src_client: cb.client,
            dst: a,
            dst_channel: channel,
            dst_client: ca.client,
            ordering,
        },
    ];
    let mut pass = 0u64;
    loop {
        pass = pass.saturating_add(1);
        let mut failed = false;
        for leg in &legs {
            let t = match leg.pass().await {
                Ok(t) => t,
                Err(e) => Tally { errors: vec![format!("{e:#}")], ..Tally::default() },
            };
            failed |= !t.errors.is_empty();
            let busy = !(t.received.is_empty()
                && t.acknowledged.is_empty()
                && t.timed_out.is_empty()
                && t.skipped.is_empty()
                && t.errors.is_empty());
            if busy || once {
                report(
                    a.json,
                    json!({"event": "pass", "pass": pass, "from": leg.src.name, "to": leg.dst.name,
                           "received": t.received, "acknowledged": t.acknowledged, "timedOut": t.timed_out,
                           "skipped": t.skipped.iter().map(|(s, r)| json!({"sequence": s, "reason": r})).collect::<Vec<_>>(),
                           "errors": t.errors}),
                );
            }
        }
        if once {
            if failed {
                bail!("the pass had errors (see above)");
            }
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}
