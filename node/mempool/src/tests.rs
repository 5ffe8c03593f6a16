use std::cell::RefCell;
use std::collections::HashMap;

use cinder_engine::sig::SecretKey;
use cinder_primitives::{Transaction, TxKind};

use super::*;

const CHAIN: u64 = 7;

fn key(i: u8) -> SecretKey {
    SecretKey::from_seed(&[i; 32])
}

fn addr(i: u8) -> Address {
    Address::from_public_key(&key(i).public_key())
}

fn tx(from: u8, nonce: u64, price: u64) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN,
        sender: key(from).public_key(),
        nonce,
        gas_limit: 21_000,
        gas_price: price,
        kind: TxKind::Transfer { to: Address([9; 32]), amount: 1 },
    }
    .sign(&key(from))
}

/// Accounts 1..=20 with a large balance and nonce 0.
struct State(RefCell<HashMap<Address, Account>>);

impl State {
    fn new() -> State {
        State(RefCell::new((1..=20).map(|i| (addr(i), Account { balance: 1 << 40, nonce: 0 })).collect()))
    }
    fn set_nonce(&self, i: u8, nonce: u64) {
        self.0.borrow_mut().entry(addr(i)).or_default().nonce = nonce;
    }
}

impl AccountView for State {
    fn account(&self, a: &Address) -> Result<Option<Account>> {
        Ok(self.0.borrow().get(a).copied())
    }
}

fn add1(p: &mut Mempool, t: SignedTransaction, s: &State) -> Result<Hash, Rejected> {
    p.add(vec![t], s).remove(0)
}

#[test]
fn admission_rejects_with_reasons() {
    let s = State::new();
    s.set_nonce(1, 5);
    let mut p = Mempool::new(CHAIN, MempoolConfig { max_per_sender: 4, ..MempoolConfig::default() });
    let mut bad_sig = tx(1, 5, 1);
    bad_sig.signature.0[3] ^= 1;
    let mut other_chain = tx(1, 5, 1).tx;
    other_chain.chain_id = 8;
    let broke = Transaction { gas_limit: u64::MAX, ..tx(2, 0, 1).tx }.sign(&key(2));
    let r = p.add(vec![bad_sig, other_chain.sign(&key(1)), tx(1, 4, 1), tx(1, 9, 1), broke, tx(1, 5, 1)], &s);
    assert_eq!(r[0], Err(Rejected::Invalid(TxInvalid::BadSignature)));
    assert!(matches!(r[1], Err(Rejected::Invalid(TxInvalid::ChainId { got: 8, expected: CHAIN }))));
    assert_eq!(r[2], Err(Rejected::NonceTooLow { got: 4, next: 5 }));
    assert_eq!(r[3], Err(Rejected::NonceTooHigh { got: 9, next: 5, max: 4 }));
    assert!(matches!(r[4], Err(Rejected::CannotPay { .. })));
    assert!(r[5].is_ok());
    assert_eq!(add1(&mut p, tx(1, 5, 1), &s), Err(Rejected::Known));
    assert_eq!(p.len(), 1);
}

#[test]
fn cached_keys_verify_like_raw_ones_and_bad_keys_are_bad_signatures() {
    let s = State::new();
    let mut p = Mempool::new(CHAIN, MempoolConfig::default());
    // The second batch finds key 1 cached: a forged signature under it is
    // still refused, the honest one admitted.
    assert!(add1(&mut p, tx(1, 0, 1), &s).is_ok());
    let mut forged = tx(1, 1, 1);
    forged.signature.0[40] ^= 1;
    let r = p.add(vec![forged, tx(1, 1, 1)], &s);
    assert_eq!(r[0], Err(Rejected::Invalid(TxInvalid::BadSignature)));
    assert!(r[1].is_ok());
    // A sender key that is no curve point.
    let off_curve = (2u8..=255)
        .map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            b
        })
        .find(|b| cinder_engine::sig::VerifyingKey::from_bytes(b).is_err())
        .expect("some small y has no curve point");
    let mut t = tx(3, 0, 1);
    t.tx.sender = cinder_engine::sig::PublicKey(off_curve);
    assert_eq!(add1(&mut p, t, &s), Err(Rejected::Invalid(TxInvalid::BadSignature)));
    assert_eq!(p.len(), 2);
}

#[test]
fn a_replacement_needs_the_fee_bump() {
    let s = State::new();
    let mut p = Mempool::new(CHAIN, MempoolConfig::default());
    let old = add1(&mut p, tx(1, 0, 100), &s).unwrap();
    assert_eq!(add1(&mut p, tx(1, 0, 105), &s), Err(Rejected::Underpriced { got: 105, min: 110 }));
    let new = add1(&mut p, tx(1, 0, 110), &s).unwrap();
    assert!(p.contains(&new) && !p.contains(&old));
    assert_eq!(p.len(), 1);
}

#[test]
fn limits_per_sender_and_eviction_of_the_cheapest_tail() {
    let s = State::new();
    let mut p = Mempool::new(CHAIN, MempoolConfig { max_txs: 4, max_per_sender: 3, replace_bump_percent: 10 });
    for n in 0..3 {
        add1(&mut p, tx(1, n, 10 - n), &s).unwrap();
    }
    assert_eq!(add1(&mut p, tx(1, 3, 50), &s), Err(Rejected::NonceTooHigh { got: 3, next: 0, max: 3 }));
    s.set_nonce(1, 1);
    assert_eq!(add1(&mut p, tx(1, 3, 50), &s), Err(Rejected::SenderFull(3)));
    s.set_nonce(1, 0);
    add1(&mut p, tx(2, 0, 5), &s).unwrap();
    // Full (4). Sender 1's tail pays 8, sender 2's 5: the cheapest tail is 5.
    assert_eq!(add1(&mut p, tx(3, 0, 5), &s), Err(Rejected::PoolFull(5)));
    let id = add1(&mut p, tx(3, 0, 6), &s).unwrap();
    assert!(p.contains(&id));
    assert!(!p.contains(&tx(2, 0, 5).id()), "the cheapest tail went");
    assert_eq!(p.len(), 4);
    // Now the cheapest tail is sender 3's (6), not sender 1's nonce 0 (10) nor its tail (8).
    add1(&mut p, tx(4, 0, 7), &s).unwrap();
    assert!(!p.contains(&tx(3, 0, 6).id()));
    assert!(p.contains(&tx(1, 0, 10).id()), "no gap made in sender 1's queue");
}

#[test]
fn selection_is_nonce_ordered_price_prioritised_and_gapless() {
    let s = State::new();
    let mut p = Mempool::new(CHAIN, MempoolConfig::default());
    // Sender 1: 0 (price 1), 1 (price 100). Sender 2: 0 (price 50). Sender 3: 1 only (a gap).
    for t in [tx(1, 0, 1), tx(1, 1, 100), tx(2, 0, 50), tx(3, 1, 1_000)] {
        add1(&mut p, t, &s).unwrap();
    }
    let chosen = p.select(&s, u64::MAX, 100).unwrap();
    let order: Vec<(Address, u64)> = chosen.iter().map(|t| (t.tx.sender_address(), t.tx.nonce)).collect();
    assert_eq!(order, vec![(addr(2), 0), (addr(1), 0), (addr(1), 1)]);
    assert_eq!(p.select(&s, 2 * 21_000, 100).unwrap().len(), 2, "the gas budget");
    assert_eq!(p.select(&s, u64::MAX, 1).unwrap().len(), 1, "the count limit");
}

#[test]
fn a_new_head_drops_included_and_stale_and_returns_reverted() {
    let s = State::new();
    let mut p = Mempool::new(CHAIN, MempoolConfig::default());
    for t in [tx(1, 0, 1), tx(1, 1, 1), tx(2, 0, 1)] {
        add1(&mut p, t, &s).unwrap();
    }
    // A block includes sender 1's nonce 0 and sender 5's nonce 0 (never pooled).
    s.set_nonce(1, 1);
    s.set_nonce(5, 1);
    assert_eq!(p.on_new_head(&[tx(1, 0, 1), tx(5, 0, 1)], Vec::new(), &s).unwrap(), 0);
    assert_eq!(p.len(), 2);
    // Sender 2's nonce moved on some other way: its transaction is stale.
    s.set_nonce(2, 1);
    p.on_new_head(&[], Vec::new(), &s).unwrap();
    assert!(!p.contains(&tx(2, 0, 1).id()));
    // A reorg reverts the block: nonces back to 0, its transactions return.
    s.set_nonce(1, 0);
    s.set_nonce(5, 0);
    let back = p.on_new_head(&[], vec![tx(1, 0, 1), tx(5, 0, 1)], &s).unwrap();
    assert_eq!(back, 2);
    assert!(p.contains(&tx(1, 0, 1).id()) && p.contains(&tx(5, 0, 1).id()));
    let chosen = p.select(&s, u64::MAX, 10).unwrap();
    assert_eq!(chosen.len(), 3);
}

#[test]
fn an_extension_drops_included_and_its_senders_stale_entries_only() {
    let s = State::new();
    let mut p = Mempool::new(CHAIN, MempoolConfig::default());
    // Sender 1 nonces 0-2, sender 2 nonce 0 (its nonce-0 slot taken by a
    // transaction the block includes but the pool never saw), sender 3.
    for t in [tx(1, 0, 1), tx(1, 1, 1), tx(1, 2, 1), tx(2, 0, 1), tx(3, 0, 1)] {
        add1(&mut p, t, &s).unwrap();
    }
    let other = tx(2, 0, 9);
    assert_ne!(other.id(), tx(2, 0, 1).id());
    s.set_nonce(1, 2);
    s.set_nonce(2, 1);
    p.on_extended(&[tx(1, 0, 1), tx(1, 1, 1), other], &s).unwrap();
    assert!(!p.contains(&tx(1, 0, 1).id()) && !p.contains(&tx(1, 1, 1).id()));
    assert!(p.contains(&tx(1, 2, 1).id()), "a later nonce stays");
    assert!(!p.contains(&tx(2, 0, 1).id()), "the slot the block filled is stale");
    assert!(p.contains(&tx(3, 0, 1).id()), "an untouched sender stays");
    assert_eq!(p.len(), 2);
    let chosen = p.select(&s, u64::MAX, 10).unwrap();
    assert_eq!(chosen.len(), 2);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// Whatever arrives, the pool stays within its limits, no sender's
    /// queue holds a nonce below its state nonce, and a selection is each
    /// sender's nonces in order from its state nonce without gaps.
    #[test]
    fn limits_and_selection_hold_under_random_arrivals(
        arrivals in proptest::collection::vec((1u8..6, 0u64..6, 1u64..20), 1..60),
        heads in proptest::collection::vec((1u8..6, 0u64..4), 0..4),
    ) {
        let s = State::new();
        let cfg = MempoolConfig { max_txs: 8, max_per_sender: 4, replace_bump_percent: 10 };
        let mut p = Mempool::new(CHAIN, cfg);
        let txs: Vec<SignedTransaction> = arrivals.iter().map(|(f, n, price)| tx(*f, *n, *price)).collect();
        for chunk in txs.chunks(7) {
            p.add(chunk.to_vec(), &s);
            proptest::prop_assert!(p.len() <= cfg.max_txs);
        }
        for (f, n) in heads {
            s.set_nonce(f, n);
            p.on_new_head(&[], Vec::new(), &s).unwrap();
        }
        for (sender, queue) in &p.senders {
            proptest::prop_assert!(queue.len() <= cfg.max_per_sender);
            let next = s.account(sender).unwrap().map_or(0, |a| a.nonce);
            proptest::prop_assert!(queue.keys().all(|n| *n >= next));
        }
        proptest::prop_assert_eq!(p.ids.len(), p.by_price.len());
        let chosen = p.select(&s, u64::MAX, usize::MAX).unwrap();
        let mut expect: HashMap<Address, u64> = HashMap::new();
        for t in &chosen {
            let a = t.tx.sender_address();
            let next = expect.entry(a).or_insert_with(|| s.account(&a).unwrap().map_or(0, |x| x.nonce));
            proptest::prop_assert_eq!(t.tx.nonce, *next);
            *next += 1;
        }
    }
}
