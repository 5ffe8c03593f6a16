//! Encoding, identity and stateless-validity tests of the chain types.

use cinder_engine::sig::SecretKey;
use cinder_primitives::*;
use proptest::prelude::*;

fn key(i: u8) -> SecretKey {
    SecretKey::from_seed(&[i; 32])
}

fn transfer(i: u8, nonce: u64, amount: u128) -> Transaction {
    Transaction {
        chain_id: 7,
        sender: key(i).public_key(),
        nonce,
        gas_limit: 30_000,
        gas_price: 3,
        kind: TxKind::Transfer { to: Address::from_public_key(&key(i.wrapping_add(1)).public_key()), amount },
    }
}

fn header(height: u64, txs: &[SignedTransaction]) -> Header {
    let block = Block {
        header: Header::new(Hash::default(), 0, 0, HeaderFields::default()),
        transactions: Bounded::new(txs.to_vec()).unwrap(),
        last_commit: None,
        chunks: Default::default(),
    };
    let fields = HeaderFields {
        height,
        state_root: Hash::of(b"state"),
        transactions_root: block.transactions_root(),
        receipts_root: Hash::of(b"receipts"),
        coinbase: Address([9; 32]),
        extra_nonce: 42,
        consensus_data: BoundedBytes::new(vec![1, 2, 3]).unwrap(),
    };
    Header::new(Hash::of(b"parent"), 1_700_000_000, 0x1d00_ffff, fields)
}

#[test]
fn a_transfer_is_laid_out_field_by_field() {
    let tx = transfer(1, 5, 1_000);
    let mut want = vec![TX_VERSION];
    want.extend(7u64.to_le_bytes());
    want.extend(tx.sender.0);
    want.extend(5u64.to_le_bytes());
    want.extend(30_000u64.to_le_bytes());
    want.extend(3u64.to_le_bytes());
    want.push(0); // TxKind::Transfer
    let (to, _) = tx.payment();
    want.extend(to.0);
    want.extend(1_000u128.to_le_bytes());
    assert_eq!(encode(&tx), want);
    assert_eq!(tx.id(), Hash(*blake3::hash(&want).as_bytes()));
    let signed = tx.clone().sign(&key(1));
    let mut full = want.clone();
    full.extend(signed.signature.0);
    assert_eq!(encode(&signed), full);
    assert_eq!(decode::<SignedTransaction>(&full).unwrap(), signed);
}

#[test]
fn a_staking_operation_is_kind_1_then_its_own_tag() {
    let v = Address([7; 32]);
    let kind = TxKind::Stake(cinder_primitives::StakeOp::Delegate { validator: v, amount: 500 });
    let mut want = vec![1u8, 1u8];
    want.extend(v.0);
    want.extend(500u128.to_le_bytes());
    assert_eq!(encode(&kind), want);
    assert_eq!(borsh::from_slice::<TxKind>(&want).unwrap(), kind);
    // It pays what it bonds to the staking account.
    let with = |kind: TxKind| Transaction { kind, ..transfer(1, 0, 0) };
    assert_eq!(with(kind.clone()).payment(), (cinder_primitives::STAKING_ADDRESS, 500));
    let withdraw = TxKind::Stake(cinder_primitives::StakeOp::WithdrawRewards { validator: v });
    assert_eq!(with(withdraw).payment(), (cinder_primitives::STAKING_ADDRESS, 0));
    // An unknown operation tag does not decode.
    assert!(borsh::from_slice::<TxKind>(&[1, 9]).is_err());
}

#[test]
fn contract_transactions_are_kinds_2_to_4_laid_out_field_by_field() {
    let code = vec![0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
    let admin = Address([4; 32]);
    let deploy = TxKind::Deploy(Deploy {
        code: BoundedBytes::new(code.clone()).unwrap(),
        init_args: BoundedBytes::new(vec![9, 9]).unwrap(),
        value: 77,
        admin: Some(admin),
    });
    let mut want = vec![2u8];
    want.extend(8u32.to_le_bytes());
    want.extend(&code);
    want.extend(2u32.to_le_bytes());
    want.extend([9, 9]);
    want.extend(77u128.to_le_bytes());
    want.push(1);
    want.extend(admin.0);
    assert_eq!(encode(&deploy), want);
    assert_eq!(borsh::from_slice::<TxKind>(&want).unwrap(), deploy);
    let c = Address([5; 32]);
    let call = TxKind::Call(Call {
        contract: c,
        method: BoundedString::truncated("transfer"),
        args: BoundedBytes::new(vec![1]).unwrap(),
        value: 0,
    });
    let mut want = vec![3u8];
    want.extend(c.0);
    want.extend(8u32.to_le_bytes());
    want.extend(b"transfer");
    want.extend(1u32.to_le_bytes());
    want.push(1);
    want.extend(0u128.to_le_bytes());
    assert_eq!(encode(&call), want);
    let clear = TxKind::Admin(AdminOp::SetAdmin { contract: c, admin: None });
    let mut want = vec![4u8, 1];
    want.extend(c.0);
    want.push(0);
    assert_eq!(encode(&clear), want);
    // Limits are checked while decoding: a 65-byte method name, code over
    // 64 KiB.
    let mut long = vec![3u8];
    long.extend(c.0);
    long.extend(65u32.to_le_bytes());
    long.extend([b'a'; 65]);
    assert!(borsh::from_slice::<TxKind>(&long).is_err());
    let mut big = vec![2u8];
    big.extend((64 * 1024 + 1u32).to_le_bytes());
    assert!(borsh::from_slice::<TxKind>(&big).is_err());
    // What they pay: the value, to the contract (a deploy's at the address
    // derived from the sender and the nonce).
    let t = Transaction { kind: deploy, ..transfer(1, 3, 0) };
    let sender = t.sender_address();
    assert_eq!(t.payment(), (contract_address(&sender, 3), 77));
    assert_ne!(contract_address(&sender, 3), contract_address(&sender, 4));
    assert_ne!(contract_address(&sender, 3), sender);
    let mut d = blake3::Hasher::new_derive_key("cinder contract address v1");
    d.update(&sender.0);
    d.update(&3u64.to_le_bytes());
    assert_eq!(contract_address(&sender, 3).0, *d.finalize().as_bytes());
    assert_eq!(Transaction { kind: call, ..transfer(1, 3, 0) }.payment(), (c, 0));
}

#[test]
fn a_header_is_the_pow_bytes_then_the_committed_fields() {
    let h = header(3, &[]);
    let bytes = encode(&h);
    assert_eq!(bytes[0], HEADER_VERSION);
    assert_eq!(&bytes[1..81], &h.pow.0);
    assert_eq!(&bytes[81..], &encode(&h.fields)[..]);
    assert!(h.commitment_matches());
    assert_eq!(h.prev(), Hash::of(b"parent"));
    assert_eq!(h.id(), Hash::of(&bytes));
    // Changing any committed field breaks the commitment.
    let mut bad = h.clone();
    bad.fields.extra_nonce += 1;
    assert!(!bad.commitment_matches());
    assert_ne!(bad.id(), h.id());
}

#[test]
fn the_pinned_encodings_have_not_changed() {
    // Provenance: generated by this crate when the format was fixed
    // (2026-11-23) and checked field by field by the two tests above; any
    // change here is a consensus change.
    let v: serde_json::Value = serde_json::from_str(include_str!("../fixtures/encodings.json")).unwrap();
    let tx = transfer(1, 5, 1_000).sign(&key(1));
    assert_eq!(hex::encode(encode(&tx)), v["signed_transfer"].as_str().unwrap());
    assert_eq!(tx.id().to_hex(), v["signed_transfer_id"].as_str().unwrap());
    let h = header(3, std::slice::from_ref(&tx));
    assert_eq!(hex::encode(encode(&h)), v["header"].as_str().unwrap());
    assert_eq!(h.id().to_hex(), v["header_id"].as_str().unwrap());
    let r = Receipt::plain(tx.id(), ReceiptStatus::Failed(BoundedString::truncated("out of gas")), 21_000);
    assert_eq!(hex::encode(encode(&r)), v["failed_receipt"].as_str().unwrap());
    let event = Event {
        contract: Address([3; 32]),
        topics: Bounded::new(vec![Hash::of(b"Transfer")]).unwrap(),
        data: BoundedBytes::new(vec![1, 2]).unwrap(),
    };
    let r = Receipt {
        tx_id: tx.id(),
        status: ReceiptStatus::Success,
        gas_used: 60_123,
        output: BoundedBytes::new(vec![7; 3]).unwrap(),
        events: Bounded::new(vec![event]).unwrap(),
        created: Some(Address([8; 32])),
    };
    assert_eq!(hex::encode(encode(&r)), v["contract_receipt"].as_str().unwrap());
}

#[test]
fn decoding_rejects_what_is_not_canonical() {
    let tx = transfer(2, 0, 1).sign(&key(2));
    let bytes = encode(&tx);
    // Trailing bytes.
    let mut long = bytes.clone();
    long.push(0);
    assert!(decode::<SignedTransaction>(&long).is_err());
    // Truncated.
    assert!(decode::<SignedTransaction>(&bytes[..bytes.len() - 1]).is_err());
    // Unknown version and unknown kind.
    let mut v2 = bytes.clone();
    v2[0] = 2;
    let e = decode::<SignedTransaction>(&v2).unwrap_err().to_string();
    assert!(e.contains("version 2"), "{e}");
    let mut kind = bytes.clone();
    kind[1 + 8 + 32 + 24] = 9;
    assert!(decode::<SignedTransaction>(&kind).is_err());
    // A non-UTF-8 receipt reason and a bad status tag.
    let r = Receipt::plain(Hash::default(), ReceiptStatus::Failed(BoundedString::truncated("ab")), 1);
    let mut rb = encode(&r);
    rb[32 + 1 + 4] = 0xff;
    assert!(decode::<Receipt>(&rb).is_err());
    let mut rt = encode(&r);
    rt[32] = 5;
    assert!(decode::<Receipt>(&rt).is_err());
    // Tags 2-4 are the contract statuses.
    let mut rt = encode(&r);
    rt[32] = 2;
    assert_eq!(decode::<Receipt>(&rt).unwrap().status, ReceiptStatus::Reverted(BoundedString::truncated("ab")));
    // Longer than the type allows, before parsing.
    let huge = vec![0u8; MAX_TX_BYTES + 1];
    assert!(matches!(decode::<SignedTransaction>(&huge), Err(DecodeError::TooLong { .. })));
}

#[test]
fn a_lying_length_prefix_is_refused_without_allocating() {
    let h = header(1, &[]);
    let mut bytes = encode(&h);
    bytes.extend(u32::MAX.to_le_bytes()); // "4 billion transactions"
    let e = decode::<Block>(&bytes).unwrap_err().to_string();
    assert!(e.contains("at most 65536"), "{e}");
    let mut bytes = encode(&h);
    bytes.extend(65_000u32.to_le_bytes()); // allowed count, but no data
    assert!(decode::<Block>(&bytes).is_err());
    // Consensus data over 1 KiB.
    let mut f = encode(&h.fields);
    let at = 8 + 4 * 32 + 8;
    f[at..at + 4].copy_from_slice(&2000u32.to_le_bytes());
    assert!(decode_fields(&f).is_err());
}

fn decode_fields(b: &[u8]) -> Result<HeaderFields, String> {
    borsh::from_slice::<HeaderFields>(b).map_err(|e| e.to_string())
}

#[test]
fn stateless_checks_and_batch_signatures() {
    let good: Vec<SignedTransaction> = (0..40).map(|i| transfer(i, 0, 10).sign(&key(i))).collect();
    assert!(good.iter().all(|t| t.check_stateless(7).is_ok()));
    assert_eq!(good[0].check_stateless(8), Err(TxInvalid::ChainId { got: 7, expected: 8 }));
    assert_eq!(verify_signatures(&good), Ok(()));
    let mut bad = good.clone();
    // A tampered amount: the signature no longer matches.
    bad[3].tx.kind = TxKind::Transfer { to: Address::default(), amount: 11 };
    // Signed by the wrong key.
    bad[17] = transfer(17, 0, 10).sign(&key(99));
    assert_eq!(bad[3].check_stateless(7), Err(TxInvalid::BadSignature));
    assert_eq!(verify_signatures(&bad), Err(vec![3, 17]));
    // The id covers the unsigned transaction only.
    assert_eq!(good[5].id(), good[5].tx.id());
    assert_ne!(good[5].leaf(), good[5].id());
}

#[test]
fn addresses_and_hex() {
    let a = Address::from_public_key(&key(1).public_key());
    assert_eq!(Address::from_hex(&a.to_hex()), Ok(a));
    assert!(Address::from_hex("0x1234").is_err());
    assert!(Hash::from_hex("zz").is_err());
    assert_ne!(a, Address::from_public_key(&key(2).public_key()));
}

fn arb_tx() -> impl Strategy<Value = SignedTransaction> {
    (
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<u128>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(chain_id, sender, nonce, gas_limit, gas_price, to, amount, s1, s2)| {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&s1);
            sig[32..].copy_from_slice(&s2);
            SignedTransaction {
                tx: Transaction {
                    chain_id,
                    sender: cinder_engine::sig::PublicKey(sender),
                    nonce,
                    gas_limit,
                    gas_price,
                    kind: TxKind::Transfer { to: Address(to), amount },
                },
                signature: cinder_engine::sig::Signature(sig),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn round_trips(txs in prop::collection::vec(arb_tx(), 0..8), height in any::<u64>(), data in prop::collection::vec(any::<u8>(), 0..1024), reason in ".{0,80}") {
        for t in &txs {
            prop_assert_eq!(&decode::<SignedTransaction>(&encode(t)).unwrap(), t);
        }
        let mut h = header(height, &[]);
        h.fields.consensus_data = BoundedBytes::new(data).unwrap();
        let block = Block { header: h, transactions: Bounded::new(txs).unwrap(), last_commit: None, chunks: Default::default() };
        prop_assert_eq!(&decode::<Block>(&encode(&block)).unwrap(), &block);
        let r = Receipt::plain(Hash::of(reason.as_bytes()), ReceiptStatus::Failed(BoundedString::truncated(&reason)), height);
        prop_assert_eq!(decode::<Receipt>(&encode(&r)).unwrap(), r);
        let acct = Account { balance: u128::from(height) << 64, nonce: height };
        prop_assert_eq!(decode::<Account>(&encode(&acct)).unwrap(), acct);
    }

    /// Random and mutated bytes: decoding never panics, and whatever decodes
    /// encodes back to exactly the same bytes (one encoding per value).
    #[test]
    fn random_bytes_decode_canonically_or_not_at_all(raw in prop::collection::vec(any::<u8>(), 0..400), t in arb_tx(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        if let Ok(v) = decode::<SignedTransaction>(&raw) { prop_assert_eq!(encode(&v), raw.clone()); }
        if let Ok(v) = decode::<Block>(&raw) { prop_assert_eq!(encode(&v), raw.clone()); }
        if let Ok(v) = decode::<Receipt>(&raw) { prop_assert_eq!(encode(&v), raw.clone()); }
        let mut m = encode(&t);
        for (at, x) in flips {
            let n = m.len();
            m[at % n] ^= x;
        }
        if let Ok(v) = decode::<SignedTransaction>(&m) { prop_assert_eq!(encode(&v), m); }
    }
}
