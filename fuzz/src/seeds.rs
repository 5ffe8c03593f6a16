//! Seed inputs: real values of each kind, encoded.

use cinder_engine::sig::SecretKey;
use cinder_primitives::{
    Acknowledgement, Address, Block, Bounded, BoundedBytes, BoundedString, CONSENSUS_VERSION, ClientInit, ClientUpdate,
    CommitCertificate, DoubleVote, Hash, Header, HeaderFields, IbcOp, Misbehaviour, Ordering, Packet, PosHeaderData,
    PowAlgo, Proof, ProposalData, SignedTransaction, SignedVote, Transaction, TxKind, VoteData, VoteType, encode,
};

fn key(i: u8) -> SecretKey {
    SecretKey::from_seed(&[i; 32])
}

fn tx(kind: TxKind, nonce: u64) -> SignedTransaction {
    Transaction { chain_id: 1337, sender: key(1).public_key(), nonce, gas_limit: 100_000, gas_price: 1, kind }
        .sign(&key(1))
}

fn vote(i: u16, block: Option<Hash>, kind: VoteType) -> SignedVote {
    VoteData { version: CONSENSUS_VERSION, chain_id: 7, height: 3, round: 0, kind, block, validator: i }
        .sign(&key(u8::try_from(i).unwrap_or(0)))
}

fn pos_header() -> Header {
    let pos = PosHeaderData {
        version: CONSENSUS_VERSION,
        time_ms: 1_700_000_000_000,
        round: 1,
        proposer: 2,
        vrf_proof: [3; cinder_engine::sig::VRF_PROOF_LEN],
        seed: Hash([4; 32]),
        last_commit: Hash([5; 32]),
    };
    let fields = HeaderFields {
        height: 3,
        state_root: Hash([6; 32]),
        consensus_data: BoundedBytes::new(pos.to_bytes()).unwrap_or_default(),
        ..HeaderFields::default()
    };
    Header::new(Hash([1; 32]), 1_700_000_000, 0x207f_ffff, fields)
}

fn pow_header() -> Header {
    Header::new(Hash([2; 32]), 1_700_000_000, 0x1f00_ffff, HeaderFields { height: 9, ..HeaderFields::default() })
}

fn certificate() -> Option<CommitCertificate> {
    let b = Some(pos_header().id());
    let votes: Vec<SignedVote> = (0..3).map(|i| vote(i, b, VoteType::Precommit)).collect();
    CommitCertificate::from_votes(&votes).ok()
}

fn proof() -> Proof {
    Proof { height: 3, proof: BoundedBytes::new(state_proofs().remove(0)).unwrap_or_default() }
}

fn packet() -> Packet {
    let data = cinder_primitives::TransferData {
        denom: BoundedString::truncated("transfer/channel-0/cin"),
        amount: 5,
        sender: Address([1; 32]),
        receiver: Address([2; 32]),
        memo: BoundedString::default(),
    };
    Packet {
        sequence: 1,
        source_channel: 0,
        dest_channel: 1,
        data: BoundedBytes::new(encode(&data)).unwrap_or_default(),
        timeout_height: 100,
        timeout_time_ms: 0,
    }
}

fn ibc_ops() -> Vec<IbcOp> {
    let set = BoundedBytes::new(vec![1, 0, 0, 0]).unwrap_or_default();
    let mut ops = vec![
        IbcOp::CreateClient(Box::new(ClientInit::Pos {
            chain_id: 7,
            genesis: Hash([1; 32]),
            epoch_length: 100,
            header: pos_header(),
            set,
        })),
        IbcOp::CreateClient(Box::new(ClientInit::Pow {
            chain_id: 8,
            genesis: Hash([2; 32]),
            algo: PowAlgo::Sha256d,
            checkpoint: pow_header(),
            max_bits: 0x207f_ffff,
            depth: 6,
        })),
        IbcOp::UpdateClient {
            client: 0,
            update: Box::new(ClientUpdate::Pow { headers: Bounded::new(vec![pow_header()]).unwrap_or_default() }),
        },
        IbcOp::ChanOpenInit { client: 0, ordering: Ordering::Unordered },
        IbcOp::ChanOpenTry {
            client: 0,
            ordering: Ordering::Ordered,
            counterparty_client: 1,
            counterparty_channel: 2,
            counterparty_client_state: BoundedBytes::new(vec![0; 16]).unwrap_or_default(),
            channel_proof: proof(),
            client_proof: proof(),
        },
        IbcOp::ChanOpenConfirm { channel: 0, channel_proof: proof() },
        IbcOp::Transfer {
            channel: 0,
            denom: BoundedString::truncated("cin"),
            amount: 10,
            receiver: Address([3; 32]),
            timeout_height: 0,
            timeout_time_ms: 1_000,
            memo: BoundedString::truncated("hi"),
        },
        IbcOp::RecvPacket { packet: Box::new(packet()), proof: proof() },
        IbcOp::Acknowledge {
            packet: Box::new(packet()),
            ack: Acknowledgement::Error(BoundedString::truncated("no")),
            proof: proof(),
        },
        IbcOp::Timeout { packet: Box::new(packet()), proof: proof(), next_recv: 1 },
        IbcOp::SendVoucher {
            denom: BoundedString::truncated("transfer/channel-1/cin"),
            to: Address([4; 32]),
            amount: 1,
        },
    ];
    if let Some(c) = certificate() {
        ops.push(IbcOp::UpdateClient {
            client: 0,
            update: Box::new(ClientUpdate::Pos { header: pos_header(), commit: c.clone(), next_set: None }),
        });
        ops.push(IbcOp::Misbehaviour {
            client: 0,
            evidence: Box::new(Misbehaviour::Pos {
                first: pos_header(),
                first_commit: c.clone(),
                second: pow_header(),
                second_commit: c,
            }),
        });
    }
    ops
}

/// An inclusion and an exclusion proof from a small state tree.
fn state_proofs() -> Vec<Vec<u8>> {
    use cinder_state::{MemStore, State, StateStore, data_key};
    let state = State::new(MemStore::default());
    let data: Vec<_> = (0..50u8).map(|i| (data_key("ibc", &[b'k', i]), Some(vec![i; 32]))).collect();
    let Ok((_, batch)) = state.apply_all(None, &[], &data) else { return vec![Vec::new()] };
    if state.store().commit(&batch).is_err() {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for k in [&[b'k', 3][..], b"absent"] {
        if let Ok((_, p)) = state.prove_data(batch.version, data_key("ibc", k)) {
            out.push(p.to_bytes());
        }
    }
    if out.is_empty() {
        out.push(Vec::new());
    }
    out
}

const DEVNET_SPEC: &str = include_str!("../../node/chain/specs/devnet.toml");

/// A minimal module and one with an exported function.
const WASM_EMPTY: &[u8] = b"\0asm\x01\0\0\0";
const WASM_FN: &[u8] = &[
    0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4, 105, 110, 105, 116, 0, 0, 10, 4, 1, 2, 0,
    11,
];

/// The seeds of `target`.
pub(crate) fn of(target: &str) -> Vec<Vec<u8>> {
    match target {
        "transaction" => vec![
            encode(&tx(TxKind::Transfer { to: Address([9; 32]), amount: 5 }, 0)),
            encode(&tx(TxKind::Ibc(ibc_ops().swap_remove(6)), 1)),
            encode(&tx(
                TxKind::Deploy(cinder_primitives::Deploy {
                    code: BoundedBytes::new(WASM_FN.to_vec()).unwrap_or_default(),
                    init_args: BoundedBytes::default(),
                    value: 0,
                    admin: None,
                }),
                2,
            )),
        ],
        "block" => {
            let txs = vec![tx(TxKind::Transfer { to: Address([9; 32]), amount: 5 }, 0)];
            let b = Block {
                header: pos_header(),
                transactions: Bounded::new(txs).unwrap_or_default(),
                last_commit: certificate(),
                chunks: Default::default(),
            };
            let bare = Block {
                header: pow_header(),
                transactions: Bounded::default(),
                last_commit: None,
                chunks: Default::default(),
            };
            vec![encode(&b), encode(&bare)]
        }
        "header" => vec![encode(&pos_header()), encode(&pow_header())],
        "consensus" => {
            let b = Some(Hash([9; 32]));
            let mut out = Vec::new();
            let mut push = |k: u8, bytes: Vec<u8>| {
                let mut v = vec![k];
                v.extend(bytes);
                out.push(v);
            };
            push(0, encode(&vote(1, b, VoteType::Prevote)));
            let p = ProposalData {
                version: CONSENSUS_VERSION,
                chain_id: 7,
                height: 3,
                round: 0,
                block: Hash([9; 32]),
                pol_round: Some(0),
                proposer: 1,
            };
            push(1, encode(&p.sign(&key(1))));
            push(
                2,
                encode(&DoubleVote {
                    first: vote(1, b, VoteType::Precommit),
                    second: vote(1, None, VoteType::Precommit),
                }),
            );
            if let Some(c) = certificate() {
                push(3, encode(&c));
            }
            push(4, encode(&cinder_pos::message::ConsensusMessage::Vote(vote(2, b, VoteType::Precommit))));
            out
        }
        "ibc" => ibc_ops().iter().map(encode).collect(),
        "state_proof" => state_proofs(),
        "chain_spec" => {
            let pos = DEVNET_SPEC.replace("consensus = \"pow\"", "consensus = \"pos\"").replace("[pow]", "[unused]");
            vec![DEVNET_SPEC.as_bytes().to_vec(), pos.into_bytes()]
        }
        "sync" => sync_seeds(),
        "wasm" => vec![WASM_EMPTY.to_vec(), WASM_FN.to_vec()],
        _ => Vec::new(),
    }
}

#[cfg(feature = "net")]
fn sync_seeds() -> Vec<Vec<u8>> {
    use cinder_net::protocol::{Request, Response, Status, TxBatch};
    let status = Status { genesis: Hash([1; 32]), head: Hash([2; 32]), height: 5, weight: 77 };
    let with = |k: u8, bytes: Vec<u8>| {
        let mut v = vec![k];
        v.extend(bytes);
        v
    };
    vec![
        with(0, encode(&Request::Status(status))),
        with(0, encode(&Request::Headers { locator: Bounded::new(vec![Hash([3; 32])]).unwrap_or_default(), max: 10 })),
        with(0, encode(&Request::Bodies(Bounded::new(vec![Hash([4; 32])]).unwrap_or_default()))),
        with(1, encode(&Response::Headers(Bounded::new(vec![pos_header(), pow_header()]).unwrap_or_default()))),
        with(
            2,
            encode(&TxBatch(
                Bounded::new(vec![tx(TxKind::Transfer { to: Address([9; 32]), amount: 1 }, 3)]).unwrap_or_default(),
            )),
        ),
    ]
}

#[cfg(not(feature = "net"))]
fn sync_seeds() -> Vec<Vec<u8>> {
    Vec::new()
}
