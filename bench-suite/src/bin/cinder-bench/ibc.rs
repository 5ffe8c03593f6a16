//! `cinder-bench ibc`: what inter-blockchain verification costs and how
//! fast packets cross between two chains.
//!
//! - In process, one core: a PoS light-client update (a header and its
//!   commit certificate of V validators, one batch verification) and a
//!   packet's state proof (a JMT inclusion proof in a state of K records),
//!   µs per verification and the gas each operation is charged.
//! - End to end (with `--a`, `--b`, `--channel`, `--relayer`): N transfers
//!   sent at once on chain A's end of an open channel, then `cinder relay
//!   start --once` passes until every packet is received on B and
//!   acknowledged on A: packets per second, and the passes it took
//!   (scripts/bench-ibc.sh starts the two devnets and opens the channel).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cinder_chain::ibc::client::{self, Member, PosClient};
use cinder_chain::ibc::keys;
use cinder_engine::sig::SecretKey;
use cinder_primitives::{
    Address, BoundedBytes, BoundedString, CONSENSUS_VERSION, ClientUpdate, CommitCertificate, Hash, Header,
    HeaderFields, IbcOp, Packet, PosHeaderData, Proof, SignedVote, Transaction, TxKind, VoteData, VoteType,
};
use cinder_state::{MemStore, State, StateStore};

use crate::Failure;

/// Options of `cinder-bench ibc`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Verifications timed of each kind.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    n: u32,
    /// Validator set sizes of the header updates.
    #[arg(long, value_delimiter = ',', default_value = "4,100")]
    validators: Vec<u16>,
    /// Records in the state the packet proof is taken in.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    records: u32,
    /// End to end: chain A's RPC URL.
    #[arg(long, requires_all = ["b", "channel", "relayer", "key"])]
    a: Option<String>,
    /// End to end: chain B's RPC URL.
    #[arg(long)]
    b: Option<String>,
    /// End to end: chain A's end of an open channel.
    #[arg(long)]
    channel: Option<u64>,
    /// End to end: the `cinder` binary that relays.
    #[arg(long)]
    relayer: Option<PathBuf>,
    /// End to end: the relayer's key file (and `--password-file`).
    #[arg(long)]
    key: Option<PathBuf>,
    /// End to end: the key file's password file.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// End to end: packets sent (by devnet accounts 3 to 7).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    packets: u32,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn sk(i: u16) -> SecretKey {
    let mut seed = [9u8; 32];
    seed[..2].copy_from_slice(&i.to_le_bytes());
    SecretKey::from_seed(&seed)
}

/// µs per PoS header update with `v` validators all signing.
fn header_update(v: u16, n: u32) -> Result<(f64, u64)> {
    let keys: Vec<SecretKey> = (0..v).map(sk).collect();
    let set = PosClient {
        chain_id: 7,
        genesis: Hash::default(),
        epoch_length: 1_000_000,
        epoch: 0,
        set: keys.iter().map(|k| Member { key: k.public_key().0, power: 10 }).collect(),
        latest: 1,
    };
    let pos = PosHeaderData {
        version: CONSENSUS_VERSION,
        time_ms: 1_700_000_000_000,
        round: 0,
        proposer: 0,
        vrf_proof: [0; cinder_engine::sig::VRF_PROOF_LEN],
        seed: Hash::default(),
        last_commit: Hash::default(),
    };
    let fields = HeaderFields {
        height: 2,
        state_root: Hash([3; 32]),
        consensus_data: BoundedBytes::new(pos.to_bytes()).map_err(|_| anyhow::anyhow!("consensus data"))?,
        ..HeaderFields::default()
    };
    let header = Header::new(Hash([1; 32]), 1_700_000_000, 0x207f_ffff, fields);
    let votes: Vec<SignedVote> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            VoteData {
                version: CONSENSUS_VERSION,
                chain_id: 7,
                height: 2,
                round: 0,
                kind: VoteType::Precommit,
                block: Some(header.id()),
                validator: u16::try_from(i).unwrap_or(u16::MAX),
            }
            .sign(k)
        })
        .collect();
    let commit = CommitCertificate::from_votes(&votes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let op = IbcOp::UpdateClient {
        client: 0,
        update: Box::new(ClientUpdate::Pos { header: header.clone(), commit: commit.clone(), next_set: None }),
    };
    let gas = cinder_vm::ibc_gas(&op);
    let start = Instant::now();
    for _ in 0..n {
        let mut c = set.clone();
        match client::update_pos(&mut c, None, &header, &commit, None) {
            Ok(client::PosUpdate::Verified(_)) => {}
            other => bail!("the update did not verify: {other:?}"),
        }
    }
    Ok((start.elapsed().as_secs_f64() * 1e6 / f64::from(n), gas))
}

/// µs per packet proof verification in a state of `records` records, the
/// proof's size, and a receive's gas.
fn packet_proof(records: u32, n: u32) -> Result<(f64, usize, u64)> {
    let state = State::new(MemStore::default());
    let data: Vec<_> = (0..records)
        .map(|i| {
            (
                keys::tree_key(&keys::commitment(0, u64::from(i) + 1)),
                Some(blake3::hash(&i.to_le_bytes()).as_bytes().to_vec()),
            )
        })
        .collect();
    let (root, batch) = state.apply_all(None, &[], &data)?;
    state.store().commit(&batch)?;
    let key = keys::commitment(0, u64::from(records / 2) + 1);
    let (value, proof) = state.prove_data(batch.version, keys::tree_key(&key))?;
    let value = value.context("the record")?;
    let bytes = proof.to_bytes();
    let start = Instant::now();
    for _ in 0..n {
        client::verify(&root, 1, &bytes, keys::tree_key(&key), Some(&value)).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    let packet = Packet {
        sequence: 1,
        source_channel: 0,
        dest_channel: 0,
        data: BoundedBytes::new(vec![0; 120]).map_err(|_| anyhow::anyhow!("data"))?,
        timeout_height: 0,
        timeout_time_ms: 1,
    };
    let op = IbcOp::RecvPacket {
        packet: Box::new(packet),
        proof: Proof { height: 1, proof: BoundedBytes::new(bytes.clone()).map_err(|_| anyhow::anyhow!("proof"))? },
    };
    Ok((us, bytes.len(), cinder_vm::ibc_gas(&op)))
}

/// Sends `packets` transfers on A's channel, then relays until every one is
/// acknowledged: (seconds, passes).
fn end_to_end(a: &Args) -> Result<(f64, u32)> {
    let (Some(url_a), Some(url_b), Some(channel), Some(relayer), Some(key)) =
        (&a.a, &a.b, a.channel, &a.relayer, &a.key)
    else {
        bail!("end to end needs --a, --b, --channel, --relayer and --key");
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let c = cinder_rpc::Client::new(url_a)?;
    let senders: Vec<SecretKey> = (3..8).map(|i| cinder_chain::workload::key("cinder-devnet", i)).collect();
    rt.block_on(async {
        let chain_id = c.chain_id().await?;
        let gas_price = c.gas_price().await?;
        let mut txs = Vec::new();
        let mut nonces = Vec::new();
        for k in &senders {
            nonces.push(c.nonce(Address::from_public_key(&k.public_key())).await?);
        }
        for i in 0..a.packets {
            let s = usize::try_from(i).unwrap_or(0) % senders.len();
            let k = &senders[s];
            let op = IbcOp::Transfer {
                channel,
                denom: BoundedString::truncated("cin"),
                amount: 1,
                receiver: Address([5; 32]),
                timeout_height: 0,
                timeout_time_ms: 4_000_000_000_000,
                memo: BoundedString::default(),
            };
            let kind = TxKind::Ibc(op);
            let tx = Transaction {
                chain_id,
                sender: k.public_key(),
                nonce: nonces[s],
                gas_limit: cinder_vm::plain_gas(&kind),
                gas_price,
                kind,
            }
            .sign(k);
            nonces[s] += 1;
            txs.push(tx);
        }
        for chunk in txs.chunks(500) {
            for r in c.send_batch(chunk).await? {
                r?;
            }
        }
        // Until every transfer is in a block.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let next = c.ibc_channel(channel).await?.context("no channel")?.next_send;
            if next > u64::from(a.packets) && c.pending_count().await? == 0 {
                break;
            }
            if Instant::now() > deadline {
                bail!("the transfers were not all included within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let start = Instant::now();
    let mut passes = 0u32;
    loop {
        let in_flight = rt.block_on(c.ibc_packets(channel, 1, 1))?;
        if in_flight.is_empty() {
            break;
        }
        if passes >= 200 {
            bail!("packets still in flight after 200 passes");
        }
        passes += 1;
        let mut cmd = Command::new(relayer);
        cmd.args(["relay", "start", "--once", "--channel", &channel.to_string(), "--a", url_a, "--b", url_b, "--key"])
            .arg(key);
        if let Some(p) = &a.password_file {
            cmd.arg("--password-file").arg(p);
        }
        let out = cmd.output().context("running the relayer")?;
        if !out.status.success() {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let errors: Vec<&str> = stdout.lines().filter(|l| l.contains("errors=[\"")).collect();
            bail!("the relayer failed: {} {}", String::from_utf8_lossy(&out.stderr).trim(), errors.join(" "));
        }
    }
    Ok((start.elapsed().as_secs_f64(), passes))
}

/// Runs `cinder-bench ibc`.
pub(crate) fn run(a: Args) -> Result<(), Failure> {
    if a.validators.iter().any(|v| *v == 0 || *v > 1_024) {
        return Err(Failure::Usage("--validators: each 1 to 1,024".into()));
    }
    let mut updates = Vec::new();
    for v in &a.validators {
        updates.push((*v, header_update(*v, a.n)?));
    }
    let (proof_us, proof_bytes, recv_gas) = packet_proof(a.records, a.n)?;
    let e2e = if a.a.is_some() { Some(end_to_end(&a)?) } else { None };
    if a.json {
        let v = serde_json::json!({
            "header_update": updates.iter().map(|(v, (us, gas))| serde_json::json!({"validators": v, "us": us, "gas": gas})).collect::<Vec<_>>(),
            "packet_proof": {"records": a.records, "us": proof_us, "bytes": proof_bytes, "recv_gas": recv_gas},
            "end_to_end": e2e.map(|(s, passes)| serde_json::json!({"packets": a.packets, "seconds": s, "packets_per_s": f64::from(a.packets) / s, "passes": passes})),
        });
        println!("{v}");
        return Ok(());
    }
    let mut rows = Vec::new();
    for (v, (us, gas)) in &updates {
        rows.push(vec![format!("header update, {v} validators"), format!("{us:.1}"), gas.to_string()]);
    }
    rows.push(vec![
        format!("packet proof, {} records ({proof_bytes} B)", a.records),
        format!("{proof_us:.1}"),
        recv_gas.to_string(),
    ]);
    crate::table(&["verification (1 core)", "us", "gas"], &rows);
    if let Some((s, passes)) = e2e {
        println!(
            "end to end: {} packets received and acknowledged in {s:.2} s ({:.1} packets/s, {passes} relayer passes)",
            a.packets,
            f64::from(a.packets) / s
        );
    }
    Ok(())
}
