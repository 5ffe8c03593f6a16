//! Two simulated chains, each with a real state tree and validators that
//! sign real certificates, exchanging proofs through the rules.

use std::collections::BTreeMap;

use cinder_engine::sig::SecretKey;
use cinder_primitives::{
    Acknowledgement, Address, Bounded, BoundedBytes, BoundedString, CONSENSUS_VERSION, ClientInit, ClientUpdate,
    CommitCertificate, Hash, Header, HeaderFields, IBC_ADDRESS, IbcOp, Misbehaviour, Ordering, Packet, PosHeaderData,
    Proof, SetProof, SignedVote, VoteData, VoteType, encode,
};
use cinder_staking::store::{ConsensusSet, SetMember, set_key};
use cinder_state::{MemStore, State, StateStore, data_key};

use super::*;

const EPOCH: u64 = 4;

/// A chain: state tree, headers, validators, native balances.
struct Sim {
    chain_id: u64,
    state: State<MemStore>,
    version: u64,
    headers: Vec<Header>,
    keys: Vec<Seed>,
    /// The set for the next epoch, written at the end of this one.
    next_keys: Vec<Seed>,
    /// The genesis set.
    epoch0: Vec<Seed>,
    balances: BTreeMap<Address, u128>,
    time_ms: u64,
    /// Records written by hand with the next block.
    extra: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// A validator key's seed.
type Seed = [u8; 32];

fn sk(seed: &Seed) -> SecretKey {
    SecretKey::from_seed(seed)
}

fn set_bytes(keys: &[Seed]) -> Vec<u8> {
    let members = keys
        .iter()
        .map(sk)
        .map(|k| SetMember { operator: Address::from_public_key(&k.public_key()), key: k.public_key().0, power: 10 })
        .collect();
    borsh::to_vec(&ConsensusSet { members }).unwrap()
}

fn keys(seed: u8, n: u8) -> Vec<Seed> {
    (0..n).map(|i| [seed.wrapping_add(i); 32]).collect()
}

impl Sim {
    fn new(chain_id: u64, seed: u8) -> Sim {
        let state = State::new(MemStore::default());
        let keys = keys(seed, 4);
        let set = (data_key("staking", &set_key(0)), Some(set_bytes(&keys)));
        let (root, batch) = state.apply_all(None, &[], &[set]).unwrap();
        state.store().commit(&batch).unwrap();
        let genesis = Header::new(
            Hash::default(),
            1_700_000_000,
            0x207f_ffff,
            HeaderFields { height: 0, state_root: root, ..Default::default() },
        );
        Sim {
            chain_id,
            state,
            version: batch.version,
            headers: vec![genesis],
            next_keys: keys.clone(),
            epoch0: keys.clone(),
            keys,
            balances: BTreeMap::new(),
            time_ms: 1_700_000_000_000,
            extra: Vec::new(),
        }
    }

    fn genesis(&self) -> Hash {
        self.headers[0].id()
    }
    fn height(&self) -> u64 {
        self.headers.len() as u64 - 1
    }
    fn env(&self) -> Env {
        Env {
            chain_id: self.chain_id,
            genesis: self.genesis(),
            height: self.height() + 1,
            time_ms: self.time_ms + 1000,
        }
    }

    fn read(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.state.data(self.version, keys::tree_key(key)).unwrap()
    }

    /// A block of `ops` from `sender`: what each returned or why refused.
    fn block(&mut self, sender: Address, ops: Vec<IbcOp>) -> Vec<Result<Option<Vec<u8>>, String>> {
        let env = self.env();
        for op in &ops {
            let e = op.escrowed();
            let b = self.balances.entry(sender).or_default();
            *b = b.checked_sub(e).expect("the sender cannot pay");
            *self.balances.entry(IBC_ADDRESS).or_default() += e;
        }
        let v = self.version;
        let st = &self.state;
        let read = move |k: &[u8]| st.data(v, keys::tree_key(k)).map_err(|e| e.to_string());
        let refs: Vec<(usize, Address, &IbcOp)> = ops.iter().enumerate().map(|(i, o)| (i, sender, o)).collect();
        let out = run(&read, &env, &refs).unwrap();
        let ibc = self.balances.entry(IBC_ADDRESS).or_default();
        *ibc = ibc.checked_sub(out.debit).expect("the escrow account pays out more than it holds");
        for (a, x) in &out.credits {
            *self.balances.entry(*a).or_default() += x;
        }
        let mut data: Vec<_> = out.data.iter().map(|(k, v)| (keys::tree_key(k), v.clone())).collect();
        data.extend(self.extra.drain(..).map(|(k, v)| (keys::tree_key(&k), v)));
        if client::ends_epoch(env.height, EPOCH) {
            let next = client::epoch_of(env.height, EPOCH) + 1;
            data.push((data_key("staking", &set_key(next)), Some(set_bytes(&self.next_keys))));
        }
        let (root, batch) = self.state.apply_all(Some(self.version), &[], &data).unwrap();
        self.state.store().commit(&batch).unwrap();
        self.version = batch.version;
        self.time_ms = env.time_ms;
        let pos = PosHeaderData {
            version: CONSENSUS_VERSION,
            time_ms: env.time_ms,
            round: 0,
            proposer: 0,
            vrf_proof: [0; cinder_engine::sig::VRF_PROOF_LEN],
            seed: Hash::default(),
            last_commit: Hash::default(),
        };
        let fields = HeaderFields {
            height: env.height,
            state_root: root,
            consensus_data: BoundedBytes::new(pos.to_bytes()).unwrap(),
            ..Default::default()
        };
        let prev = self.headers.last().unwrap().id();
        self.headers.push(Header::new(prev, u32::try_from(env.time_ms / 1000).unwrap(), 0x207f_ffff, fields));
        if client::ends_epoch(env.height, EPOCH) {
            self.keys = self.next_keys.clone();
        }
        let mut results: Vec<Result<Option<Vec<u8>>, String>> = vec![Ok(None); ops.len()];
        for (r, o) in out.outputs {
            results[r] = Ok(Some(o));
        }
        for (r, why) in out.refused {
            results[r] = Err(why);
        }
        results
    }

    fn empty_block(&mut self) {
        self.block(Address::default(), Vec::new());
    }

    /// Precommits of the validators `signers` (of the set that certifies
    /// `height`) for `header`.
    fn certify_with(&self, header: &Header, keys: &[Seed], signers: &[u16]) -> CommitCertificate {
        let votes: Vec<SignedVote> = signers
            .iter()
            .map(|&i| {
                VoteData {
                    version: CONSENSUS_VERSION,
                    chain_id: self.chain_id,
                    height: header.height(),
                    round: 0,
                    kind: VoteType::Precommit,
                    block: Some(header.id()),
                    validator: i,
                }
                .sign(&sk(&keys[usize::from(i)]))
            })
            .collect();
        CommitCertificate::from_votes(&votes).unwrap()
    }

    /// The proof of record `key` at the newest height `host`'s client 0
    /// of this chain has verified.
    fn proof_for(&self, host: &Sim, key: &[u8]) -> Proof {
        self.proof_at(key, known(host))
    }

    fn proof_at(&self, key: &[u8], height: u64) -> Proof {
        let (_, p) = self.state.prove_data(height, keys::tree_key(key)).unwrap();
        Proof { height, proof: BoundedBytes::new(p.to_bytes()).unwrap() }
    }

    /// Record `key` at `height`.
    fn read_at(&self, key: &[u8], height: u64) -> Option<Vec<u8>> {
        self.state.data(height, keys::tree_key(key)).unwrap()
    }

    fn client_init(&self) -> IbcOp {
        IbcOp::CreateClient(Box::new(ClientInit::Pos {
            chain_id: self.chain_id,
            genesis: self.genesis(),
            epoch_length: EPOCH,
            header: self.headers[0].clone(),
            set: BoundedBytes::new(set_bytes(&keys_of_epoch0(self))).unwrap(),
        }))
    }
}

fn keys_of_epoch0(s: &Sim) -> Vec<Seed> {
    s.epoch0.clone()
}

/// The newest height `host`'s client 0 has verified.
fn known(host: &Sim) -> u64 {
    let c: ClientState = borsh::from_slice(&host.read(&keys::client(0)).unwrap()).unwrap();
    c.latest()
}

fn id(r: &Result<Option<Vec<u8>>, String>) -> u64 {
    u64::from_le_bytes(r.as_ref().unwrap().as_ref().unwrap()[..8].try_into().unwrap())
}

/// The two chains with clients of each other (client 0 on both) kept up
/// to date by [`Pair::sync`].
struct Pair {
    a: Sim,
    b: Sim,
    relayer: Address,
}

impl Pair {
    fn new() -> Pair {
        let mut a = Sim::new(1, 10);
        let mut b = Sim::new(2, 20);
        let relayer = Address([7; 32]);
        assert_eq!(id(&a.block(relayer, vec![b.client_init()])[0]), 0);
        assert_eq!(id(&b.block(relayer, vec![a.client_init()])[0]), 0);
        let mut p = Pair { a, b, relayer };
        p.sync();
        p
    }

    /// Updates each chain's client of the other to the other's head,
    /// crossing epochs one last block at a time.
    fn sync(&mut self) {
        let Pair { a, b, relayer } = self;
        update(a, b, *relayer);
        update(b, a, *relayer);
    }

    /// A channel handshake from `a`: returns (a's channel, b's channel).
    fn open(&mut self, ordering: Ordering) -> (u64, u64) {
        let r = self.relayer;
        let ca = id(&self.a.block(r, vec![IbcOp::ChanOpenInit { client: 0, ordering }])[0]);
        self.sync();
        let try_op = IbcOp::ChanOpenTry {
            client: 0,
            ordering,
            counterparty_client: 0,
            counterparty_channel: ca,
            counterparty_client_state: BoundedBytes::new(self.a.read_at(&keys::client(0), known(&self.b)).unwrap())
                .unwrap(),
            channel_proof: self.a.proof_for(&self.b, &keys::channel(ca)),
            client_proof: self.a.proof_for(&self.b, &keys::client(0)),
        };
        let cb = id(&self.b.block(r, vec![try_op])[0]);
        self.sync();
        let ack = IbcOp::ChanOpenAck {
            channel: ca,
            counterparty_client: 0,
            counterparty_channel: cb,
            counterparty_client_state: BoundedBytes::new(self.b.read_at(&keys::client(0), known(&self.a)).unwrap())
                .unwrap(),
            channel_proof: self.b.proof_for(&self.a, &keys::channel(cb)),
            client_proof: self.b.proof_for(&self.a, &keys::client(0)),
        };
        assert_eq!(self.a.block(r, vec![ack]), vec![Ok(None)]);
        self.sync();
        let confirm =
            IbcOp::ChanOpenConfirm { channel: cb, channel_proof: self.a.proof_for(&self.b, &keys::channel(ca)) };
        assert_eq!(self.b.block(r, vec![confirm]), vec![Ok(None)]);
        self.sync();
        (ca, cb)
    }
}

/// Brings `host`'s client 0 of `cp` to `cp`'s head.
fn update(host: &mut Sim, cp: &Sim, relayer: Address) {
    let c: ClientState = borsh::from_slice(&host.read(&keys::client(0)).unwrap()).unwrap();
    let ClientKind::Pos(p) = c.kind else { panic!("a PoS client") };
    let mut epoch = p.epoch;
    let head = cp.height();
    let mut ops = Vec::new();
    // The last block of each epoch up to the head's, with the next set.
    while client::epoch_of(head, EPOCH) > epoch {
        let last = (epoch + 1) * EPOCH;
        ops.push(pos_update(cp, last, true));
        epoch += 1;
    }
    if head > p.latest || host.read(&keys::consensus(0, head)).is_none() {
        ops.push(pos_update(cp, head, false));
    }
    if !ops.is_empty() {
        for r in host.block(relayer, ops) {
            r.unwrap();
        }
    }
}

/// The keys that certify `height` of `cp` (its epoch's set).
fn signers_of(cp: &Sim, height: u64) -> Vec<Seed> {
    // The sims change their set only where a test says so; keep a log.
    let e = client::epoch_of(height, EPOCH);
    let record = cp.state.data(cp.version, data_key("staking", &set_key(e))).unwrap();
    let set = cinder_staking::store::decode_set(&record.unwrap()).unwrap();
    let all: Vec<Seed> = (0..=255u8).map(|s| [s; 32]).collect();
    set.members.iter().map(|m| *all.iter().find(|k| sk(k).public_key().0 == m.key).unwrap()).collect()
}

fn pos_update(cp: &Sim, height: u64, with_set: bool) -> IbcOp {
    let header = cp.headers[usize::try_from(height).unwrap()].clone();
    let signers = signers_of(cp, height);
    let all: Vec<u16> = (0..u16::try_from(signers.len()).unwrap()).collect();
    let commit = cp.certify_with(&header, &signers, &all);
    let next_set = with_set.then(|| {
        let e = client::epoch_of(height, EPOCH) + 1;
        let key = data_key("staking", &set_key(e));
        let v = state_version_of(cp, height);
        let (value, proof) = cp.state.prove_data(v, key).unwrap();
        SetProof {
            set: BoundedBytes::new(value.unwrap()).unwrap(),
            proof: BoundedBytes::new(proof.to_bytes()).unwrap(),
        }
    });
    IbcOp::UpdateClient { client: 0, update: Box::new(ClientUpdate::Pos { header, commit, next_set }) }
}

/// The sims commit one state version per block, from 0 at genesis.
fn state_version_of(_cp: &Sim, height: u64) -> u64 {
    height
}

fn transfer(channel: u64, denom: &str, amount: u128, receiver: Address, timeout_height: u64) -> IbcOp {
    IbcOp::Transfer {
        channel,
        denom: BoundedString::new(denom.to_string()).unwrap(),
        amount,
        receiver,
        timeout_height,
        timeout_time_ms: 0,
        memo: BoundedString::default(),
    }
}

/// The packet `seq` that `from` sent on `channel`, and its proof.
fn sent(from: &Sim, to: &Sim, channel: u64, seq: u64) -> (Packet, Proof) {
    let p: Packet = borsh::from_slice(&from.read(&keys::packet(channel, seq)).unwrap()).unwrap();
    (p, from.proof_for(to, &keys::commitment(channel, seq)))
}

fn ack_of(on: &Sim, to: &Sim, channel: u64, seq: u64) -> (Acknowledgement, Proof) {
    let a: Acknowledgement = borsh::from_slice(&on.read(&keys::ack(channel, seq)).unwrap()).unwrap();
    (a, on.proof_for(to, &keys::ack(channel, seq)))
}

fn vouchers(s: &Sim, denom: &str, owner: &Address) -> u128 {
    s.read(&keys::voucher(denom, owner)).map_or(0, |b| u128::from_le_bytes(b.try_into().unwrap()))
}

fn record_u128(s: &Sim, key: &[u8]) -> u128 {
    s.read(key).map_or(0, |b| u128::from_le_bytes(b.try_into().unwrap()))
}

#[test]
fn a_token_goes_there_and_back_and_a_timed_out_one_is_refunded() {
    let mut p = Pair::new();
    let (ca, cb) = p.open(Ordering::Unordered);
    let (alice, bob) = (Address([1; 32]), Address([2; 32]));
    p.a.balances.insert(alice, 1_000);
    let r = p.relayer;

    // A -> B: escrowed on A, vouchers minted on B.
    assert_eq!(id(&p.a.block(alice, vec![transfer(ca, "cin", 300, bob, 1_000)])[0]), 1);
    assert_eq!(p.a.balances[&alice], 700);
    assert_eq!(p.a.balances[&IBC_ADDRESS], 300);
    p.sync();
    let (packet, proof) = sent(&p.a, &p.b, ca, 1);
    let recv = IbcOp::RecvPacket { packet: Box::new(packet.clone()), proof: proof.clone() };
    let got = p.b.block(r, vec![recv.clone()]);
    assert_eq!(got[0].as_ref().unwrap().as_deref(), Some(&encode(&Acknowledgement::Success)[..]));
    let voucher = format!("transfer/channel-{cb}/cin");
    assert_eq!(vouchers(&p.b, &voucher, &bob), 300);
    assert_eq!(record_u128(&p.b, &keys::supply(&voucher)), 300);

    // The same packet again: refused, nothing minted.
    let again = p.b.block(r, vec![recv]);
    assert!(again[0].as_ref().unwrap_err().contains("already received"), "{again:?}");
    assert_eq!(vouchers(&p.b, &voucher, &bob), 300);

    // The acknowledgement back on A deletes the commitment; twice is refused.
    p.sync();
    let (ack, ack_proof) = ack_of(&p.b, &p.a, cb, 1);
    let ack_op = IbcOp::Acknowledge { packet: Box::new(packet.clone()), ack, proof: ack_proof };
    assert_eq!(p.a.block(r, vec![ack_op.clone()]), vec![Ok(None)]);
    assert!(p.a.read(&keys::commitment(ca, 1)).is_none());
    assert!(p.a.block(r, vec![ack_op])[0].as_ref().unwrap_err().contains("not in flight"));

    // B -> A: the vouchers are burned, A releases the escrow.
    assert_eq!(id(&p.b.block(bob, vec![transfer(cb, &voucher, 100, alice, 1_000)])[0]), 1);
    assert_eq!(vouchers(&p.b, &voucher, &bob), 200);
    assert_eq!(record_u128(&p.b, &keys::supply(&voucher)), 200);
    p.sync();
    let (back, proof) = sent(&p.b, &p.a, cb, 1);
    assert!(p.a.block(r, vec![IbcOp::RecvPacket { packet: Box::new(back), proof }])[0].as_ref().unwrap().is_some());
    assert_eq!(p.a.balances[&alice], 800);
    assert_eq!(p.a.balances[&IBC_ADDRESS], 200);
    assert_eq!(record_u128(&p.a, &keys::escrow(ca, "cin")), 200);

    // A packet that times out at B's height: B refuses it, A refunds.
    let deadline = p.b.height() + 2;
    p.a.block(alice, vec![transfer(ca, "cin", 50, bob, deadline)]);
    assert_eq!(p.a.balances[&alice], 750);
    p.sync();
    let (late, proof) = sent(&p.a, &p.b, ca, 2);
    let early_h = known(&p.a);
    assert!(early_h < deadline);
    p.b.empty_block();
    p.b.empty_block();
    let refused = p.b.block(r, vec![IbcOp::RecvPacket { packet: Box::new(late.clone()), proof }]);
    assert!(refused[0].as_ref().unwrap_err().contains("timed out"), "{refused:?}");
    p.sync();
    // A timeout proven at a height before the deadline is refused.
    let early = p.b.proof_at(&keys::receipt(cb, 2), early_h);
    let r1 = p.a.block(r, vec![IbcOp::Timeout { packet: Box::new(late.clone()), proof: early, next_recv: 0 }]);
    assert!(r1[0].as_ref().unwrap_err().contains("has not timed out"), "{r1:?}");
    let timeout =
        IbcOp::Timeout { packet: Box::new(late), proof: p.b.proof_for(&p.a, &keys::receipt(cb, 2)), next_recv: 0 };
    assert_eq!(p.a.block(r, vec![timeout]), vec![Ok(None)]);
    assert_eq!(p.a.balances[&alice], 800);
    // Conservation: A's escrow is B's vouchers outstanding.
    assert_eq!(record_u128(&p.a, &keys::escrow(ca, "cin")), record_u128(&p.b, &keys::supply(&voucher)));
    assert_eq!(p.a.balances[&IBC_ADDRESS], 200);
}

#[test]
fn forged_proofs_unverified_heights_minority_headers_and_misbehaviour_are_refused() {
    let mut p = Pair::new();
    let (ca, _cb) = p.open(Ordering::Unordered);
    let (alice, bob) = (Address([1; 32]), Address([2; 32]));
    p.a.balances.insert(alice, 1_000);
    let r = p.relayer;
    p.a.block(alice, vec![transfer(ca, "cin", 10, bob, 1_000)]);
    p.sync();
    let (packet, proof) = sent(&p.a, &p.b, ca, 1);

    // A forged packet (more tokens) under the real proof.
    let mut forged = packet.clone();
    let mut data: TransferData = decode(forged.data.as_slice()).unwrap();
    data.amount = 10_000;
    forged.data = BoundedBytes::new(encode(&data)).unwrap();
    let e = p.b.block(r, vec![IbcOp::RecvPacket { packet: Box::new(forged), proof: proof.clone() }]);
    assert!(e[0].as_ref().unwrap_err().contains("does not verify"), "{e:?}");
    // Garbage proof bytes.
    let junk = Proof { height: proof.height, proof: BoundedBytes::new(vec![1, 2, 3]).unwrap() };
    let e = p.b.block(r, vec![IbcOp::RecvPacket { packet: Box::new(packet.clone()), proof: junk }]);
    assert!(e[0].as_ref().unwrap_err().contains("does not verify"), "{e:?}");
    // A proof against a height the client never verified.
    p.a.empty_block();
    let unverified = p.a.proof_at(&keys::commitment(ca, 1), p.a.height());
    let e = p.b.block(r, vec![IbcOp::RecvPacket { packet: Box::new(packet.clone()), proof: unverified }]);
    assert!(e[0].as_ref().unwrap_err().contains("no verified state at height"), "{e:?}");

    // A header signed by a minority (2 of 4) is refused with the power.
    let h = p.a.headers.last().unwrap().clone();
    let weak = p.a.certify_with(&h, &signers_of(&p.a, h.height()), &[0, 1]);
    let op = IbcOp::UpdateClient {
        client: 0,
        update: Box::new(ClientUpdate::Pos { header: h.clone(), commit: weak, next_set: None }),
    };
    let e = p.b.block(r, vec![op]);
    assert!(e[0].as_ref().unwrap_err().contains("not more than 2/3"), "{e:?}");
    // Signed by strangers.
    let strangers = keys(99, 4);
    let bad = p.a.certify_with(&h, &strangers, &[0, 1, 2]);
    let op = IbcOp::UpdateClient {
        client: 0,
        update: Box::new(ClientUpdate::Pos { header: h.clone(), commit: bad, next_set: None }),
    };
    assert!(p.b.block(r, vec![op])[0].as_ref().unwrap_err().contains("signatures do not verify"));

    // Misbehaviour: the set signs two blocks at one height. Anyone may
    // submit it; the client freezes and proves nothing more.
    let mut other = h.clone();
    other.fields.extra_nonce = 1;
    let other = Header::new(other.prev(), other.pow.time(), other.pow.bits(), other.fields);
    let keys_h = signers_of(&p.a, h.height());
    let evidence = Misbehaviour::Pos {
        first: h.clone(),
        first_commit: p.a.certify_with(&h, &keys_h, &[0, 1, 2]),
        second: other.clone(),
        second_commit: p.a.certify_with(&other, &keys_h, &[1, 2, 3]),
    };
    // The same header twice is no evidence.
    let same = Misbehaviour::Pos {
        first: h.clone(),
        first_commit: p.a.certify_with(&h, &keys_h, &[0, 1, 2]),
        second: h.clone(),
        second_commit: p.a.certify_with(&h, &keys_h, &[1, 2, 3]),
    };
    let e = p.b.block(bob, vec![IbcOp::Misbehaviour { client: 0, evidence: Box::new(same) }]);
    assert!(e[0].is_err());
    assert_eq!(p.b.block(bob, vec![IbcOp::Misbehaviour { client: 0, evidence: Box::new(evidence) }]), vec![Ok(None)]);
    let e = p.b.block(r, vec![IbcOp::RecvPacket { packet: Box::new(packet), proof }]);
    assert!(e[0].as_ref().unwrap_err().contains("frozen"), "{e:?}");
}

#[test]
fn the_client_follows_a_new_validator_set_across_epochs() {
    let mut p = Pair::new();
    // A's set changes at the end of its first epoch.
    p.a.next_keys = keys(30, 5);
    for _ in 0..(2 * EPOCH + 1) {
        p.a.empty_block();
    }
    p.sync();
    let c: ClientState = borsh::from_slice(&p.b.read(&keys::client(0)).unwrap()).unwrap();
    let ClientKind::Pos(pc) = c.kind else { panic!() };
    assert_eq!(pc.epoch, client::epoch_of(p.a.height(), EPOCH));
    assert_eq!(pc.set.len(), 5);
    assert_eq!(pc.latest, p.a.height());
    // A header of a later epoch without the epoch's last block first.
    for _ in 0..(EPOCH + 1) {
        p.a.empty_block();
    }
    let op = pos_update(&p.a, p.a.height(), false);
    let e = p.b.block(p.relayer, vec![op]);
    assert!(e[0].as_ref().unwrap_err().contains("the client trusts the set of epoch"), "{e:?}");
    // The set of a block that does not end its epoch is refused.
    let mut op = pos_update(&p.a, (pc.epoch + 1) * EPOCH, true);
    if let IbcOp::UpdateClient { update, .. } = &mut op
        && let ClientUpdate::Pos { next_set: Some(s), .. } = update.as_mut()
    {
        // A set record that is not the proven one.
        s.set = BoundedBytes::new(set_bytes(&keys(40, 4))).unwrap();
    }
    let e = p.b.block(p.relayer, vec![op]);
    assert!(e[0].as_ref().unwrap_err().contains("does not verify"), "{e:?}");
    p.sync();
}

#[test]
fn ordered_channels_deliver_in_sequence_and_close_on_timeout() {
    let mut p = Pair::new();
    let (ca, cb) = p.open(Ordering::Ordered);
    let (alice, bob) = (Address([1; 32]), Address([2; 32]));
    p.a.balances.insert(alice, 1_000);
    let r = p.relayer;
    p.a.block(alice, vec![transfer(ca, "cin", 1, bob, 1_000), transfer(ca, "cin", 2, bob, 1_000)]);
    p.sync();
    let (p1, pr1) = sent(&p.a, &p.b, ca, 1);
    let (p2, pr2) = sent(&p.a, &p.b, ca, 2);
    let e = p.b.block(r, vec![IbcOp::RecvPacket { packet: Box::new(p2.clone()), proof: pr2.clone() }]);
    assert!(e[0].as_ref().unwrap_err().contains("receives 1 next"), "{e:?}");
    let ok = p.b.block(
        r,
        vec![
            IbcOp::RecvPacket { packet: Box::new(p1), proof: pr1 },
            IbcOp::RecvPacket { packet: Box::new(p2), proof: pr2 },
        ],
    );
    assert!(ok.iter().all(|x| x.is_ok()), "{ok:?}");
    assert_eq!(vouchers(&p.b, &format!("transfer/channel-{cb}/cin"), &bob), 3);

    // A packet that times out closes the ordered channel and is refunded.
    let deadline = p.b.height() + 1;
    p.a.block(alice, vec![transfer(ca, "cin", 5, bob, deadline)]);
    p.b.empty_block();
    p.sync();
    let (p3, _) = sent(&p.a, &p.b, ca, 3);
    let proof = p.b.proof_for(&p.a, &keys::next_recv(cb));
    // Claiming the counterparty received less than it did is refused.
    let lie = IbcOp::Timeout { packet: Box::new(p3.clone()), proof: proof.clone(), next_recv: 2 };
    assert!(p.a.block(r, vec![lie])[0].is_err());
    assert_eq!(p.a.block(r, vec![IbcOp::Timeout { packet: Box::new(p3), proof, next_recv: 3 }]), vec![Ok(None)]);
    assert_eq!(p.a.balances[&alice], 997);
    let ch: ChannelEnd = borsh::from_slice(&p.a.read(&keys::channel(ca)).unwrap()).unwrap();
    assert_eq!(ch.state, ChanState::Closed);
    let e = p.a.block(alice, vec![transfer(ca, "cin", 1, bob, 10_000)]);
    assert!(e[0].as_ref().unwrap_err().contains("closed"), "{e:?}");
    assert_eq!(p.a.balances[&alice], 997, "the refused transfer's escrow came back");
}

#[test]
fn the_handshake_refuses_a_client_of_another_chain() {
    let mut p = Pair::new();
    let r = p.relayer;
    // A third chain C opens a channel on its client of A and tries B with
    // it: B's try proves C's client record and sees it follows A, not B.
    let mut c = Sim::new(3, 50);
    let c_client_of_a = id(&c.block(r, vec![p.a.client_init()])[0]);
    let ch = id(&c.block(r, vec![IbcOp::ChanOpenInit { client: c_client_of_a, ordering: Ordering::Unordered }])[0]);
    let cid = id(&p.b.block(r, vec![c.client_init()])[0]);
    update_client_to(&mut p.b, cid, &c, r);
    let try_op = |c: &Sim| IbcOp::ChanOpenTry {
        client: cid,
        ordering: Ordering::Unordered,
        counterparty_client: c_client_of_a,
        counterparty_channel: ch,
        counterparty_client_state: BoundedBytes::new(c.read(&keys::client(c_client_of_a)).unwrap()).unwrap(),
        channel_proof: c.proof_at(&keys::channel(ch), c.height()),
        client_proof: c.proof_at(&keys::client(c_client_of_a), c.height()),
    };
    let e = p.b.block(r, vec![try_op(&c)]);
    assert!(e[0].as_ref().unwrap_err().contains("not this one"), "{e:?}");
    // The ordering must match the proven record.
    let mut wrong = try_op(&c);
    if let IbcOp::ChanOpenTry { ordering, .. } = &mut wrong {
        *ordering = Ordering::Ordered;
    }
    assert!(p.b.block(r, vec![wrong])[0].is_err());
    assert_eq!(p.b.read(&keys::meta()).map(|m| borsh::from_slice::<Meta>(&m).unwrap().next_channel), Some(0));
}

#[test]
fn an_error_acknowledgement_refunds_the_sender() {
    let mut p = Pair::new();
    let (ca, cb) = p.open(Ordering::Unordered);
    let (alice, bob) = (Address([1; 32]), Address([2; 32]));
    let r = p.relayer;
    // B's native token to A, and A's vouchers of it on their way home.
    p.b.balances.insert(bob, 10);
    p.b.block(bob, vec![transfer(cb, "cin", 10, alice, 1_000)]);
    p.sync();
    let (packet, proof) = sent(&p.b, &p.a, cb, 1);
    assert!(p.a.block(r, vec![IbcOp::RecvPacket { packet: Box::new(packet.clone()), proof }])[0].is_ok());
    let home = format!("transfer/channel-{ca}/cin");
    assert_eq!(vouchers(&p.a, &home, &alice), 10);
    // A faked error acknowledgement is not what A wrote: refused.
    p.sync();
    let fake = IbcOp::Acknowledge {
        packet: Box::new(packet.clone()),
        ack: Acknowledgement::Error(BoundedString::truncated("no")),
        proof: p.a.proof_for(&p.b, &keys::ack(ca, 1)),
    };
    assert!(p.b.block(r, vec![fake])[0].as_ref().unwrap_err().contains("does not verify"));
    let (ack, proof) = ack_of(&p.a, &p.b, ca, 1);
    assert_eq!(p.b.block(r, vec![IbcOp::Acknowledge { packet: Box::new(packet), ack, proof }]), vec![Ok(None)]);

    // B's escrow is short (the record cut here by hand): the vouchers
    // going home cannot be released, B acknowledges with an error, and A
    // mints the burned vouchers back to Alice.
    p.b.extra.push((keys::escrow(cb, "cin"), Some(4u128.to_le_bytes().to_vec())));
    p.b.empty_block();
    p.a.block(alice, vec![transfer(ca, &home, 10, bob, 1_000)]);
    assert_eq!(vouchers(&p.a, &home, &alice), 0);
    p.sync();
    let (going_home, proof) = sent(&p.a, &p.b, ca, 1);
    let got = p.b.block(r, vec![IbcOp::RecvPacket { packet: Box::new(going_home.clone()), proof }]);
    let ack: Acknowledgement = borsh::from_slice(got[0].as_ref().unwrap().as_ref().unwrap()).unwrap();
    assert!(matches!(&ack, Acknowledgement::Error(e) if e.as_str().contains("escrow")), "{ack:?}");
    assert_eq!(p.b.balances.get(&bob).copied().unwrap_or(0), 0);
    p.sync();
    let (ack, proof) = ack_of(&p.b, &p.a, cb, 1);
    assert_eq!(p.a.block(r, vec![IbcOp::Acknowledge { packet: Box::new(going_home), ack, proof }]), vec![Ok(None)]);
    assert_eq!(vouchers(&p.a, &home, &alice), 10);
    assert_eq!(record_u128(&p.a, &keys::supply(&home)), 10);
}

fn update_client_to(host: &mut Sim, client: u64, cp: &Sim, relayer: Address) {
    let header = cp.headers.last().unwrap().clone();
    let commit = cp.certify_with(&header, &signers_of(cp, header.height()), &[0, 1, 2]);
    let op = IbcOp::UpdateClient { client, update: Box::new(ClientUpdate::Pos { header, commit, next_set: None }) };
    host.block(relayer, vec![op])[0].as_ref().unwrap();
}

#[test]
fn vouchers_move_between_accounts_and_a_transfer_without_funds_is_refused() {
    let mut p = Pair::new();
    let (ca, cb) = p.open(Ordering::Unordered);
    let (alice, bob, carol) = (Address([1; 32]), Address([2; 32]), Address([3; 32]));
    p.a.balances.insert(alice, 100);
    p.a.block(alice, vec![transfer(ca, "cin", 60, bob, 1_000)]);
    p.sync();
    let (packet, proof) = sent(&p.a, &p.b, ca, 1);
    p.b.block(p.relayer, vec![IbcOp::RecvPacket { packet: Box::new(packet), proof }]);
    let v = format!("transfer/channel-{cb}/cin");
    let send = |to, amount| IbcOp::SendVoucher { denom: BoundedString::new(v.clone()).unwrap(), to, amount };
    assert_eq!(p.b.block(bob, vec![send(carol, 20)]), vec![Ok(None)]);
    assert!(p.b.block(bob, vec![send(carol, 41)])[0].as_ref().unwrap_err().contains("less than"));
    assert_eq!((vouchers(&p.b, &v, &bob), vouchers(&p.b, &v, &carol)), (40, 20));
    // Carol cannot send more vouchers over the channel than she holds.
    let e = p.b.block(carol, vec![transfer(cb, &v, 21, alice, 1_000)]);
    assert!(e[0].as_ref().unwrap_err().contains("less than"), "{e:?}");
    assert_eq!(record_u128(&p.b, &keys::supply(&v)), 60);
    // A transfer with no timeout, of nothing, on no channel, of a bad denom.
    let mut t = transfer(ca, "cin", 1, bob, 0);
    assert!(p.a.block(alice, vec![t.clone()])[0].as_ref().unwrap_err().contains("timeout"));
    t = transfer(ca, "cin", 0, bob, 5);
    assert!(p.a.block(alice, vec![t])[0].is_err());
    assert!(p.a.block(alice, vec![transfer(9, "cin", 1, bob, 5)])[0].as_ref().unwrap_err().contains("does not exist"));
    assert!(p.a.block(alice, vec![transfer(ca, "Bad", 1, bob, 5)])[0].is_err());
    assert_eq!(p.a.balances[&alice], 40, "every refused native transfer was refunded");
}

/// A PoW chain of headers at an easy target.
fn pow_headers(parent: &Header, n: usize, salt: u64) -> Vec<Header> {
    mine(parent, n, salt, FLOOR)
}

const FLOOR: u32 = 0x2000_ffff;

fn mine(parent: &Header, n: usize, salt: u64, bits: u32) -> Vec<Header> {
    let mut out: Vec<Header> = Vec::new();
    let mut prev = parent.clone();
    for i in 0..n {
        let fields = HeaderFields {
            height: prev.height() + 1,
            state_root: Hash([u8::try_from(salt).unwrap(); 32]),
            extra_nonce: salt * 1000 + i as u64,
            ..Default::default()
        };
        let mut h = Header::new(prev.id(), 1_700_000_000 + u32::try_from(i).unwrap(), bits, fields);
        let target = cinder_engine::pow::Target::from_compact(bits).unwrap();
        let mut nonce = 0u32;
        loop {
            h.pow.set_nonce(nonce);
            if target.is_met_by(&cinder_engine::pow::Algo::Sha256d.hash(&h.pow).0) {
                break;
            }
            nonce += 1;
        }
        out.push(h.clone());
        prev = h;
    }
    out
}

#[test]
fn the_pow_client_confirms_at_depth_follows_the_heavier_branch_and_freezes_on_a_deep_fork() {
    let genesis = Header::new(Hash::default(), 1_700_000_000, FLOOR, HeaderFields::default());
    let mut host = Sim::new(9, 60);
    let r = Address([7; 32]);
    let init = IbcOp::CreateClient(Box::new(ClientInit::Pow {
        chain_id: 5,
        genesis: genesis.id(),
        algo: cinder_primitives::PowAlgo::Sha256d,
        checkpoint: genesis.clone(),
        max_bits: FLOOR,
        depth: 3,
    }));
    assert_eq!(id(&host.block(r, vec![init])[0]), 0);
    let up = |headers: &[Header]| IbcOp::UpdateClient {
        client: 0,
        update: Box::new(ClientUpdate::Pow { headers: Bounded::new(headers.to_vec()).unwrap() }),
    };
    let main = pow_headers(&genesis, 5, 1);
    assert_eq!(host.block(r, vec![up(&main[..4])]), vec![Ok(None)]);
    // 4 headers at depth 3: the first is confirmed.
    assert!(host.read(&keys::consensus(0, 1)).is_some());
    assert!(host.read(&keys::consensus(0, 2)).is_none());
    // A lighter branch from header 2 is refused; a heavier one wins.
    let fork = pow_headers(&main[1], 3, 2);
    assert!(host.block(r, vec![up(&fork[..2])])[0].as_ref().unwrap_err().contains("not more than"));
    assert_eq!(host.block(r, vec![up(&fork)]), vec![Ok(None)]);
    // Heights 2 is now confirmed on the main chain's header 2.
    let cs: ConsensusState = borsh::from_slice(&host.read(&keys::consensus(0, 2)).unwrap()).unwrap();
    assert_eq!(cs.block, main[1].id());
    // A header easier than the floor, and one that misses its target.
    let easy = mine(fork.last().unwrap(), 1, 3, 0x207f_ffff);
    assert!(host.block(r, vec![up(&easy)])[0].as_ref().unwrap_err().contains("floor"));
    let mut lazy = pow_headers(fork.last().unwrap(), 1, 3);
    let target = cinder_engine::pow::Target::from_compact(FLOOR).unwrap();
    while target.is_met_by(&cinder_engine::pow::Algo::Sha256d.hash(&lazy[0].pow).0) {
        let n = lazy[0].pow.nonce().wrapping_add(1);
        lazy[0].pow.set_nonce(n);
    }
    assert!(host.block(r, vec![up(&lazy)])[0].as_ref().unwrap_err().contains("does not meet its target"));
    // Evidence: a chain from header 1 that buries a different header 2
    // three deep.
    let rival = pow_headers(&main[0], 4, 4);
    let ev = Misbehaviour::Pow { headers: Bounded::new(rival.clone()).unwrap() };
    assert_eq!(host.block(r, vec![IbcOp::Misbehaviour { client: 0, evidence: Box::new(ev) }]), vec![Ok(None)]);
    let c: ClientState = borsh::from_slice(&host.read(&keys::client(0)).unwrap()).unwrap();
    assert!(c.frozen.is_some());
    assert!(
        host.block(r, vec![up(&pow_headers(fork.last().unwrap(), 1, 5))])[0].as_ref().unwrap_err().contains("frozen")
    );
}

mod conservation {
    use proptest::prelude::*;

    use super::*;

    /// A transfer in a batch: from A (native) or from B (native), its
    /// amount, and whether it is delivered or left to time out.
    #[derive(Clone, Debug)]
    struct Send {
        from_a: bool,
        home: bool,
        amount: u128,
        deliver: bool,
    }

    fn batch() -> impl Strategy<Value = Vec<Send>> {
        prop::collection::vec(
            (any::<bool>(), any::<bool>(), 1u128..50, any::<bool>()).prop_map(|(from_a, home, amount, deliver)| Send {
                from_a,
                home,
                amount,
                deliver,
            }),
            1..5,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// Random batches of transfers both ways, each either delivered and
        /// acknowledged in a shuffled order or timed out and refunded:
        /// after each batch, each chain's escrow of its native token is the
        /// other chain's supply of vouchers of it, the escrow account holds
        /// exactly the escrow, and no native token was made or lost.
        #[test]
        fn escrow_equals_vouchers_outstanding(batches in prop::collection::vec(batch(), 1..4), seed in any::<u64>()) {
            let mut p = Pair::new();
            let (ca, cb) = p.open(Ordering::Unordered);
            let (alice, bob) = (Address([1; 32]), Address([2; 32]));
            p.a.balances.insert(alice, 10_000);
            p.b.balances.insert(bob, 10_000);
            let r = p.relayer;
            let va = format!("transfer/channel-{cb}/cin"); // A's token on B
            let vb = format!("transfer/channel-{ca}/cin"); // B's token on A
            let mut rng = seed;
            for batch in batches {
                // Send everything; packets that will be left to time out
                // get a deadline of the next counterparty block.
                let mut flights = Vec::new();
                for s in &batch {
                    let (from, to, ch, who, denom) = if s.from_a {
                        let held = vouchers(&p.a, &vb, &alice);
                        if s.home && held >= s.amount { (&mut p.a, &p.b, ca, alice, vb.clone()) } else { (&mut p.a, &p.b, ca, alice, "cin".to_string()) }
                    } else {
                        let held = vouchers(&p.b, &va, &bob);
                        if s.home && held >= s.amount { (&mut p.b, &p.a, cb, bob, va.clone()) } else { (&mut p.b, &p.a, cb, bob, "cin".to_string()) }
                    };
                    let deadline = if s.deliver { 1_000_000 } else { to.height() + 2 };
                    let receiver = if s.from_a { bob } else { alice };
                    let out = from.block(who, vec![transfer(ch, &denom, s.amount, receiver, deadline)]);
                    flights.push((s.from_a, s.deliver, id(&out[0])));
                }
                p.sync();
                // Deliver in a shuffled order; let the others expire.
                for i in (1..flights.len()).rev() {
                    rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    flights.swap(i, (rng >> 33) as usize % (i + 1));
                }
                for _ in 0..3 {
                    p.a.empty_block();
                    p.b.empty_block();
                }
                p.sync();
                for &(from_a, deliver, seq) in &flights {
                    let (src, dst) = if from_a { (&mut p.a, &mut p.b) } else { (&mut p.b, &mut p.a) };
                    let (ch_src, ch_dst) = if from_a { (ca, cb) } else { (cb, ca) };
                    let (packet, proof) = sent(src, dst, ch_src, seq);
                    if deliver {
                        let got = dst.block(r, vec![IbcOp::RecvPacket { packet: Box::new(packet.clone()), proof }]);
                        prop_assert!(got[0].is_ok(), "{:?}", got);
                        update(src, dst, r);
                        let (ack, proof) = ack_of(dst, src, ch_dst, seq);
                        let done = src.block(r, vec![IbcOp::Acknowledge { packet: Box::new(packet), ack, proof }]);
                        prop_assert_eq!(&done, &vec![Ok(None)]);
                    } else {
                        let proof = dst.proof_for(src, &keys::receipt(ch_dst, seq));
                        let done = src.block(r, vec![IbcOp::Timeout { packet: Box::new(packet), proof, next_recv: 0 }]);
                        prop_assert_eq!(&done, &vec![Ok(None)]);
                    }
                    update(dst, src, r);
                }
                p.sync();
                prop_assert_eq!(record_u128(&p.a, &keys::escrow(ca, "cin")), record_u128(&p.b, &keys::supply(&va)));
                prop_assert_eq!(record_u128(&p.b, &keys::escrow(cb, "cin")), record_u128(&p.a, &keys::supply(&vb)));
                prop_assert_eq!(p.a.balances.get(&IBC_ADDRESS).copied().unwrap_or(0), record_u128(&p.a, &keys::escrow(ca, "cin")));
                prop_assert_eq!(p.b.balances.get(&IBC_ADDRESS).copied().unwrap_or(0), record_u128(&p.b, &keys::escrow(cb, "cin")));
                let native = |s: &Sim| s.balances.values().sum::<u128>();
                prop_assert_eq!(native(&p.a), 10_000);
                prop_assert_eq!(native(&p.b), 10_000);
                prop_assert_eq!(vouchers(&p.b, &va, &bob) + vouchers(&p.b, &va, &alice), record_u128(&p.b, &keys::supply(&va)));
            }
        }
    }
}
