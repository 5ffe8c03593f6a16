//! The use-case contracts (contracts/examples: token, swap, dao, identity,
//! asset, supply) on the host harness: what each README section promises,
//! the refusals, and the AMM's invariants as a property test.
//!
//! Arguments and results use the SDK's encoding, which is borsh's: the
//! tests encode with `borsh` on the host.

use borsh::{BorshDeserialize, BorshSerialize};
use cinder_primitives::{Address, Hash};
use cinder_vm::harness::{TestChain, TxResult};
use proptest::prelude::*;

use crate::{chain, deploy, status};

fn enc<T: BorshSerialize>(v: &T) -> Vec<u8> {
    borsh::to_vec(v).expect("encodes")
}

fn dec<T: BorshDeserialize>(b: &[u8]) -> T {
    borsh::from_slice(b).unwrap_or_else(|e| panic!("the output {} does not decode: {e}", hex::encode(b)))
}

/// Calls and expects success.
fn ok<A: BorshSerialize>(c: &mut TestChain, from: Address, to: Address, method: &str, args: &A) -> TxResult {
    let r = c.call(from, to, method, &enc(args), 0).expect("a valid transaction");
    assert_eq!(status(&r), "success", "{method}");
    r
}

/// Calls and returns the status text (expected to be a failure).
fn fails<A: BorshSerialize>(c: &mut TestChain, from: Address, to: Address, method: &str, args: &A) -> String {
    let r = c.call(from, to, method, &enc(args), 0).expect("a valid transaction");
    assert_ne!(status(&r), "success", "{method} should fail");
    status(&r)
}

fn q<A: BorshSerialize, T: BorshDeserialize>(c: &TestChain, to: Address, method: &str, args: &A) -> T {
    dec(&c.query(to, method, &enc(args)).unwrap_or_else(|e| panic!("{method}: {e}")))
}

/// A token of `owner` with `supply` and an optional cap.
pub(crate) fn token(c: &mut TestChain, owner: Address, symbol: &str, supply: u128, cap: Option<u128>) -> Address {
    let args = enc(&("Use-case token".to_string(), symbol.to_string(), 6u8, supply, cap));
    deploy(c, owner, cinder_contracts::TOKEN, &args)
}

fn balance(c: &TestChain, token: Address, who: Address) -> u128 {
    q(c, token, "balance_of", &who)
}

#[test]
fn the_token_mints_under_its_cap_burns_and_hands_over_the_mint_authority() {
    let (mut c, alice) = chain();
    let bob = c.account(1_000_000_000_000);
    let t = token(&mut c, alice, "CAP", 1_000, Some(1_500));
    assert_eq!(q::<_, Option<u128>>(&c, t, "cap", &()), Some(1_500));
    assert_eq!(q::<_, Option<Address>>(&c, t, "minter", &()), Some(alice));
    let r = ok(&mut c, alice, t, "mint", &(bob, 400u128));
    assert_eq!(r.events[0].topics.as_slice(), &[Hash::of(b"Transfer"), Hash([0; 32]), Hash(bob.0)]);
    assert_eq!(q::<_, u128>(&c, t, "total_supply", &()), 1_400);
    assert_eq!(fails(&mut c, alice, t, "mint", &(bob, 101u128)), "reverted: minting this would pass the cap");
    assert_eq!(fails(&mut c, bob, t, "mint", &(bob, 1u128)), "reverted: only the minter may do this");
    // Burning lowers the supply, and makes room under the cap.
    ok(&mut c, bob, t, "burn", &(150u128,));
    assert_eq!((balance(&c, t, bob), q::<_, u128>(&c, t, "total_supply", &())), (250, 1_250));
    assert_eq!(fails(&mut c, bob, t, "burn", &(251u128,)), "reverted: insufficient balance");
    ok(&mut c, alice, t, "mint", &(alice, 250u128));
    // The authority moves to bob, then ends.
    ok(&mut c, alice, t, "set_minter", &Some(bob));
    assert_eq!(fails(&mut c, alice, t, "mint", &(alice, 1u128)), "reverted: only the minter may do this");
    ok(&mut c, bob, t, "set_minter", &None::<Address>);
    assert_eq!(q::<_, Option<Address>>(&c, t, "minter", &()), None);
    assert_eq!(fails(&mut c, bob, t, "mint", &(bob, 1u128)), "reverted: only the minter may do this");
    // Allowances move by increments without an approve race.
    assert_eq!(dec::<u128>(&ok(&mut c, alice, t, "increase_allowance", &(bob, 70u128)).output), 70);
    assert_eq!(dec::<u128>(&ok(&mut c, alice, t, "increase_allowance", &(bob, 30u128)).output), 100);
    assert_eq!(dec::<u128>(&ok(&mut c, alice, t, "decrease_allowance", &(bob, 500u128)).output), 0);
    // A cap below the initial supply is refused at deploy.
    let r =
        c.deploy(alice, cinder_contracts::TOKEN, &enc(&("T".to_string(), "T".to_string(), 0u8, 10u128, Some(9u128))));
    assert_eq!(status(&r.unwrap()), "reverted: the initial supply is above the cap");
}

/// Two tokens, a pool between them (admin `admin`), `lp` holding both.
fn market(c: &mut TestChain, lp: Address, fee_bps: u32, admin: Option<Address>) -> (Address, Address, Address) {
    let a = token(c, lp, "AAA", 1_000_000_000_000, None);
    let b = token(c, lp, "BBB", 1_000_000_000_000, None);
    let pool = deploy(c, lp, cinder_contracts::SWAP, &enc(&(a, b, fee_bps, admin)));
    (a, b, pool)
}

fn reserves(c: &TestChain, pool: Address) -> (u128, u128, u128) {
    let (_, _, ra, rb, s, _): (Address, Address, u128, u128, u128, u32) = q(c, pool, "pool", &());
    (ra, rb, s)
}

#[test]
fn the_pool_swaps_at_x_times_y_with_its_fee_and_guards_slippage() {
    let (mut c, lp) = chain();
    let trader = c.account(1_000_000_000_000);
    let (a, b, pool) = market(&mut c, lp, 30, Some(lp));
    ok(&mut c, lp, a, "approve", &(pool, u128::MAX));
    ok(&mut c, lp, b, "approve", &(pool, u128::MAX));
    let (ta, tb, shares): (u128, u128, u128) =
        dec(&ok(&mut c, lp, pool, "add_liquidity", &(1_000_000u128, 4_000_000u128, 0u128)).output);
    assert_eq!((ta, tb, shares), (1_000_000, 4_000_000, 2_000_000 - 1_000));
    assert_eq!(reserves(&c, pool), (1_000_000, 4_000_000, 2_000_000));

    ok(&mut c, lp, a, "transfer", &(trader, 100_000u128));
    ok(&mut c, trader, a, "approve", &(pool, 100_000u128));
    // out = floor(10,000 x 9,970 x 4,000,000 / (1,000,000 x 10,000 + 10,000 x 9,970))
    let expect = 10_000u128 * 9_970 * 4_000_000 / (1_000_000 * 10_000 + 10_000 * 9_970);
    assert_eq!(q::<_, u128>(&c, pool, "quote", &(a, 10_000u128)), expect);
    assert_eq!(
        fails(&mut c, trader, pool, "swap", &(a, 10_000u128, expect + 1)),
        "reverted: slippage: less out than the minimum asked"
    );
    let r = ok(&mut c, trader, pool, "swap", &(a, 10_000u128, expect));
    assert_eq!(dec::<u128>(&r.output), expect);
    assert_eq!(r.events.last().unwrap().topics[0], Hash::of(b"Swap"));
    println!("swap gas: {}", r.gas_used);
    assert_eq!(balance(&c, b, trader), expect);
    let (ra, rb, _) = reserves(&c, pool);
    assert_eq!((ra, rb), (1_010_000, 4_000_000 - expect));
    assert!(ra * rb >= 1_000_000 * 4_000_000);
    // The pool's books match its token balances.
    assert_eq!((balance(&c, a, pool), balance(&c, b, pool)), (ra, rb));

    // Refusals: a token the pool does not hold, nothing, no allowance.
    let stranger = token(&mut c, lp, "ZZZ", 10, None);
    assert_eq!(
        fails(&mut c, trader, pool, "swap", &(stranger, 1u128, 0u128)),
        "reverted: the pool does not hold this token"
    );
    assert_eq!(fails(&mut c, trader, pool, "swap", &(a, 0u128, 0u128)), "reverted: nothing to swap");
    let s = fails(&mut c, trader, pool, "swap", &(a, 90_001u128, 0u128));
    assert!(s.contains("the allowance is too small"), "{s}");
    // The fee: the admin only, at most 10 %.
    assert_eq!(fails(&mut c, trader, pool, "set_fee", &(0u32,)), "reverted: only the pool's admin may set the fee");
    assert_eq!(fails(&mut c, lp, pool, "set_fee", &(1_001u32,)), "reverted: the fee is at most 1,000 basis points");
    ok(&mut c, lp, pool, "set_fee", &(0u32,));

    // A second provider gets shares at the ratio, rounded down, and pays
    // the ratio's amounts, rounded up.
    ok(&mut c, lp, a, "transfer", &(trader, 1_000_000u128));
    ok(&mut c, lp, b, "transfer", &(trader, 1_000_000u128));
    ok(&mut c, trader, a, "approve", &(pool, u128::MAX));
    ok(&mut c, trader, b, "approve", &(pool, u128::MAX));
    let (ra, rb, s) = reserves(&c, pool);
    let (da, db, ds): (u128, u128, u128) =
        dec(&ok(&mut c, trader, pool, "add_liquidity", &(1_000u128, 1_000_000u128, 0u128)).output);
    assert_eq!(da, 1_000);
    assert_eq!(db, (1_000 * rb).div_ceil(ra));
    assert_eq!(ds, (1_000 * s / ra).min(db * s / rb));
    // And takes out no more than it put in.
    let (oa, ob): (u128, u128) = dec(&ok(&mut c, trader, pool, "remove_liquidity", &(ds, 0u128, 0u128)).output);
    assert!(oa <= da && ob <= db, "{oa} {ob} for {da} {db}");
    assert_eq!(
        fails(&mut c, trader, pool, "remove_liquidity", &(1u128, 0u128, 0u128)),
        "reverted: not that many shares"
    );
}

#[derive(Clone, Debug)]
enum Move {
    Swap { a_in: bool, amount: u128 },
    Add { a: u128, b: u128 },
    Remove { part_bps: u128 },
}

fn moves() -> impl Strategy<Value = Vec<Move>> {
    let m = prop_oneof![
        (any::<bool>(), 1u128..5_000_000).prop_map(|(a_in, amount)| Move::Swap { a_in, amount }),
        (1u128..5_000_000, 1u128..5_000_000).prop_map(|(a, b)| Move::Add { a, b }),
        (1u128..=10_000).prop_map(|part_bps| Move::Remove { part_bps }),
    ];
    proptest::collection::vec(m, 1..10)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// k per share squared never decreases, and a trader acting alone ends
    /// (after taking its liquidity out) never better off in one token
    /// without being worse off in the other.
    #[test]
    fn the_pool_never_loses_k_and_nobody_extracts_more_than_they_put_in(
        fee in 0u32..=100, seq in moves(), ra0 in 1_000_000u128..50_000_000, rb0 in 1_000_000u128..50_000_000,
    ) {
        let (mut c, lp) = chain();
        let actor = c.account(1_000_000_000_000);
        let (a, b, pool) = market(&mut c, lp, fee, None);
        ok(&mut c, lp, a, "approve", &(pool, u128::MAX));
        ok(&mut c, lp, b, "approve", &(pool, u128::MAX));
        ok(&mut c, lp, pool, "add_liquidity", &(ra0, rb0, 0u128));
        ok(&mut c, lp, a, "transfer", &(actor, 50_000_000u128));
        ok(&mut c, lp, b, "transfer", &(actor, 50_000_000u128));
        ok(&mut c, actor, a, "approve", &(pool, u128::MAX));
        ok(&mut c, actor, b, "approve", &(pool, u128::MAX));
        let start = (balance(&c, a, actor), balance(&c, b, actor));
        let mut prev = reserves(&c, pool);
        for m in seq {
            let args = match &m {
                Move::Swap { a_in, amount } => ("swap", enc(&(if *a_in { a } else { b }, *amount, 0u128))),
                Move::Add { a, b } => ("add_liquidity", enc(&(*a, *b, 0u128))),
                Move::Remove { part_bps } => {
                    let held: u128 = q(&c, pool, "shares_of", &actor);
                    ("remove_liquidity", enc(&(held * part_bps / 10_000, 0u128, 0u128)))
                }
            };
            // A move may fail (too small, no shares): it then changes nothing.
            c.call(actor, pool, args.0, &args.1, 0).unwrap();
            let now = reserves(&c, pool);
            // (ra * rb) / s^2 does not decrease: ra' rb' s^2 >= ra rb s'^2.
            let lhs = now.0 * now.1;
            let rhs = prev.0 * prev.1;
            prop_assert!(
                u256(lhs, prev.2 * prev.2) >= u256(rhs, now.2 * now.2),
                "k per share fell after {m:?}: {prev:?} -> {now:?}"
            );
            prop_assert_eq!((balance(&c, a, pool), balance(&c, b, pool)), (now.0, now.1), "books and balances differ");
            prev = now;
        }
        let held: u128 = q(&c, pool, "shares_of", &actor);
        if held > 0 {
            ok(&mut c, actor, pool, "remove_liquidity", &(held, 0u128, 0u128));
        }
        let end = (balance(&c, a, actor), balance(&c, b, actor));
        let richer = end.0 >= start.0 && end.1 >= start.1 && (end.0 > start.0 || end.1 > start.1);
        prop_assert!(!richer, "the actor extracted value: {start:?} -> {end:?}");
    }
}

/// `x * y` as a 256-bit number (high, low), for exact comparisons.
fn u256(x: u128, y: u128) -> (u128, u128) {
    let m = u128::from(u64::MAX);
    let (x1, x0, y1, y0) = (x >> 64, x & m, y >> 64, y & m);
    let mid = ((x0 * y0) >> 64) + ((x0 * y1) & m) + ((x1 * y0) & m);
    ((x1 * y1) + ((x0 * y1) >> 64) + ((x1 * y0) >> 64) + (mid >> 64), ((x0 * y0) & m) | (mid << 64))
}

type Action = (Address, String, Vec<u8>, u128);
type ProposalView = (Address, String, u64, u64, u128, u128, u128, u8);

#[test]
fn the_dao_spends_its_treasury_and_sets_a_pool_fee_after_its_timelock_with_snapshot_votes() {
    let (mut c, alice) = chain();
    let bob = c.account(1_000_000_000_000);
    let carol = c.account(1_000_000_000_000);
    let dave = c.account(1_000_000_000_000);
    let gov = token(&mut c, alice, "GOV", 1_000, None);
    // quorum 40 %, threshold 50 %, 12 blocks of voting, 3 of timelock
    // (the harness makes one block per transaction).
    let dao = deploy(&mut c, alice, cinder_contracts::DAO, &enc(&(gov, 4_000u32, 5_000u32, 12u64, 3u64)));
    let (a, _b, pool) = market(&mut c, alice, 30, Some(dao));
    for (who, n) in [(bob, 300u128), (carol, 100)] {
        ok(&mut c, alice, gov, "transfer", &(who, n));
    }
    for (who, n) in [(alice, 600u128), (bob, 300), (carol, 100)] {
        ok(&mut c, who, gov, "approve", &(dao, n));
        ok(&mut c, who, dao, "deposit", &(n,));
    }
    // The treasury: pool tokens and native coins.
    ok(&mut c, alice, a, "transfer", &(dao, 5_000u128));
    let r = c.call(alice, dao, "fund", &[], 2_000).unwrap();
    assert_eq!(status(&r), "success");

    let actions: Vec<Action> = vec![
        (a, "transfer".into(), enc(&(dave, 1_500u128)), 0),
        (pool, "set_fee".into(), enc(&(50u32,)), 0),
        (dao, "pay".into(), enc(&(dave, 700u128)), 0),
    ];
    assert_eq!(
        fails(&mut c, dave, dao, "propose", &("x".to_string(), actions.clone())),
        "reverted: only members with voting power may propose"
    );
    let id: u64 = dec(&ok(&mut c, alice, dao, "propose", &("Pay dave, fee to 0.5 %".to_string(), actions)).output);
    // After the snapshot bob withdraws and hands his tokens to carol, who
    // deposits them: they do not vote twice.
    ok(&mut c, bob, dao, "withdraw", &(300u128,));
    ok(&mut c, bob, gov, "transfer", &(carol, 300u128));
    ok(&mut c, carol, gov, "approve", &(dao, 300u128));
    ok(&mut c, carol, dao, "deposit", &(300u128,));
    let power: u128 = dec(&ok(&mut c, carol, dao, "vote", &(id, 1u8)).output);
    assert_eq!(power, 100, "carol votes with her deposit at the snapshot");
    let power: u128 = dec(&ok(&mut c, bob, dao, "vote", &(id, 0u8)).output);
    assert_eq!(power, 300, "bob's vote counts what he held at the snapshot");
    ok(&mut c, alice, dao, "vote", &(id, 1u8));
    assert_eq!(fails(&mut c, alice, dao, "vote", &(id, 3u8)), "reverted: support is 0 (no), 1 (yes) or 2 (abstain)");
    let v: ProposalView = q(&c, dao, "proposal", &id);
    assert_eq!((v.4, v.5, v.6, v.7), (700, 300, 0, 0));
    assert_eq!(fails(&mut c, bob, dao, "execute", &id), "reverted: the proposal has not passed, or already ran");
    while c.block().height <= v.3 {
        c.next_block();
    }
    assert_eq!(fails(&mut c, bob, dao, "vote", &(id, 1u8)), "reverted: voting has ended");
    assert_eq!(q::<_, ProposalView>(&c, dao, "proposal", &id).7, 1);
    assert_eq!(fails(&mut c, bob, dao, "execute", &id), "reverted: the timelock has not passed");
    while c.block().height <= v.3 + 3 {
        c.next_block();
    }
    let before = c.balance(&dave);
    let r = ok(&mut c, bob, dao, "execute", &id);
    assert_eq!(r.events.last().unwrap().topics[0], Hash::of(b"Executed"));
    assert_eq!(balance(&c, a, dave), 1_500);
    assert_eq!(c.balance(&dave), before + 700);
    assert_eq!(q::<_, (Address, Address, u128, u128, u128, u32)>(&c, pool, "pool", &()).5, 50);
    assert_eq!(fails(&mut c, bob, dao, "execute", &id), "reverted: the proposal has not passed, or already ran");
    // Nobody else sets the fee or pays from the treasury.
    assert_eq!(fails(&mut c, alice, pool, "set_fee", &(0u32,)), "reverted: only the pool's admin may set the fee");
    assert_eq!(fails(&mut c, alice, dao, "pay", &(alice, 1u128)), "reverted: only a passed proposal may pay");

    // A proposal whose second call fails runs none of them.
    let actions: Vec<Action> =
        vec![(a, "transfer".into(), enc(&(dave, 100u128)), 0), (dao, "pay".into(), enc(&(dave, 1_000_000u128)), 0)];
    let id: u64 = dec(&ok(&mut c, alice, dao, "propose", &("Too much".to_string(), actions)).output);
    ok(&mut c, alice, dao, "vote", &(id, 1u8));
    let end = q::<_, ProposalView>(&c, dao, "proposal", &id).3;
    while c.block().height <= end + 3 {
        c.next_block();
    }
    let s = fails(&mut c, bob, dao, "execute", &id);
    assert!(s.contains("call 1 (pay) failed"), "{s}");
    assert_eq!(balance(&c, a, dave), 1_500);

    // Without the quorum a proposal is rejected: carol takes 300 back and
    // votes alone with 100 of 700.
    ok(&mut c, carol, dao, "withdraw", &(300u128,));
    let id: u64 = dec(&ok(&mut c, carol, dao, "propose", &("Quiet".to_string(), Vec::<Action>::new())).output);
    ok(&mut c, carol, dao, "vote", &(id, 1u8));
    let total: u128 = q(&c, dao, "total_at", &(c.block().height - 1));
    assert_eq!(total, 700);
    let end = q::<_, ProposalView>(&c, dao, "proposal", &id).3;
    while c.block().height <= end + 3 {
        c.next_block();
    }
    assert_eq!(q::<_, ProposalView>(&c, dao, "proposal", &id).7, 2, "100 of 700 is under the 40 % quorum");
    assert_eq!(fails(&mut c, carol, dao, "execute", &id), "reverted: the proposal has not passed, or already ran");
}

/// Setup, a commitment to `attribute` and a proof of `<= bound`.
struct Zk {
    keys: cinder_zk::Keys,
    salt: ark_bn254::Fr,
}

fn zk() -> Zk {
    Zk { keys: cinder_zk::setup([0x51; 32]).expect("setup"), salt: cinder_zk::salt_from_seed([0x52; 32]) }
}

#[test]
fn a_holder_proves_a_committed_age_without_showing_it_and_revocation_ends_it() {
    let (mut c, admin) = chain();
    let issuer = c.account(1_000_000_000_000);
    let holder = c.account(1_000_000_000_000);
    let z = zk();
    let vk = cinder_zk::to_bytes(&z.keys.vk);
    let id_contract = deploy(&mut c, admin, cinder_contracts::IDENTITY, &enc(&(vk,)));
    let commitment = cinder_zk::field_bytes(&cinder_zk::commit(1990, z.salt));
    assert_eq!(
        fails(&mut c, issuer, id_contract, "issue", &(holder, "birth-year".to_string(), commitment)),
        "reverted: only a registered issuer may issue"
    );
    assert_eq!(
        fails(&mut c, issuer, id_contract, "add_issuer", &(issuer, "Registry office".to_string())),
        "reverted: only the registry's admin may do this"
    );
    ok(&mut c, admin, id_contract, "add_issuer", &(issuer, "Registry office".to_string()));
    let id: u64 =
        dec(&ok(&mut c, issuer, id_contract, "issue", &(holder, "birth-year".to_string(), commitment)).output);

    let proof = cinder_zk::to_bytes(&cinder_zk::prove(&z.keys.pk, 1990, z.salt, 2008, [1; 32]).expect("proves"));
    // The proof is for bound 2008: claiming 2007 with it fails.
    assert_eq!(
        fails(&mut c, holder, id_contract, "prove_at_most", &(id, 2007u32, proof.clone())),
        "reverted: the proof does not verify"
    );
    let mut tampered = proof.clone();
    tampered[40] ^= 4;
    let s = fails(&mut c, holder, id_contract, "prove_at_most", &(id, 2008u32, tampered));
    assert!(s == "reverted: the proof does not verify" || s == "reverted: the proof is malformed", "{s}");
    assert!(!q::<_, bool>(&c, id_contract, "proven", &(holder, "birth-year".to_string(), 2008u32)));
    let r = ok(&mut c, holder, id_contract, "prove_at_most", &(id, 2008u32, proof.clone()));
    println!("credential verification gas: {}", r.gas_used);
    assert!(r.gas_used > cinder_vm::limits::gas::GROTH16_VERIFY);
    assert_eq!(r.events[0].topics.as_slice(), &[Hash::of(b"Proven"), Hash(holder.0)]);
    assert!(q::<_, bool>(&c, id_contract, "proven", &(holder, "birth-year".to_string(), 2008u32)));
    assert!(q::<_, bool>(&c, id_contract, "proven", &(holder, "birth-year".to_string(), 2010u32)));
    assert!(!q::<_, bool>(&c, id_contract, "proven", &(holder, "birth-year".to_string(), 2000u32)));
    // The chain never saw 1990: not in storage, not in the transaction.
    for (_, v) in c.storage_entries(&id_contract) {
        assert!(!v.windows(4).any(|w| w == 1990u32.to_le_bytes()), "the attribute leaked into storage");
    }
    // Another credential's proof does not carry over (different commitment).
    let other = cinder_zk::field_bytes(&cinder_zk::commit(1990, cinder_zk::salt_from_seed([9; 32])));
    let id2: u64 = dec(&ok(&mut c, issuer, id_contract, "issue", &(holder, "birth-year".to_string(), other)).output);
    assert_eq!(
        fails(&mut c, holder, id_contract, "prove_at_most", &(id2, 2008u32, proof.clone())),
        "reverted: the proof does not verify"
    );

    // Revocation: by the issuer only; the record and new proofs end.
    assert_eq!(
        fails(&mut c, holder, id_contract, "revoke", &id),
        "reverted: only the credential's issuer may revoke it"
    );
    ok(&mut c, issuer, id_contract, "revoke", &id);
    assert!(!q::<_, bool>(&c, id_contract, "proven", &(holder, "birth-year".to_string(), 2008u32)));
    assert_eq!(
        fails(&mut c, holder, id_contract, "prove_at_most", &(id, 2008u32, proof)),
        "reverted: the credential is revoked"
    );
    // A removed issuer's credentials stop counting.
    let proof2 = cinder_zk::to_bytes(
        &cinder_zk::prove(&z.keys.pk, 1990, cinder_zk::salt_from_seed([9; 32]), 2008, [2; 32]).unwrap(),
    );
    ok(&mut c, holder, id_contract, "prove_at_most", &(id2, 2008u32, proof2.clone()));
    ok(&mut c, admin, id_contract, "remove_issuer", &issuer);
    assert!(!q::<_, bool>(&c, id_contract, "proven", &(holder, "birth-year".to_string(), 2008u32)));
    assert_eq!(
        fails(&mut c, holder, id_contract, "prove_at_most", &(id2, 2008u32, proof2)),
        "reverted: the credential's issuer is no longer registered"
    );
}

type AssetView = (Address, [u8; 32], Option<Address>, Option<(Address, u128)>);

#[test]
fn assets_move_only_to_allowed_holders_and_split_into_shares_that_redeem_whole() {
    let (mut c, issuer) = chain();
    let ann = c.account(1_000_000_000_000);
    let ben = c.account(1_000_000_000_000);
    let assets = deploy(&mut c, issuer, cinder_contracts::ASSET, &enc(&("Harbour buildings".to_string(),)));
    let deed = *blake3::hash(b"deed of 12 Harbour Street").as_bytes();
    assert_eq!(fails(&mut c, issuer, assets, "mint", &(ann, deed)), "reverted: the recipient is not on the allowlist");
    ok(&mut c, issuer, assets, "set_allowed", &(ann, true));
    assert_eq!(fails(&mut c, ann, assets, "set_allowed", &(ben, true)), "reverted: only the issuer may do this");
    let id: u64 = dec(&ok(&mut c, issuer, assets, "mint", &(ann, deed)).output);
    assert_eq!(q::<_, AssetView>(&c, assets, "asset", &id), (ann, deed, None, None));
    assert_eq!(fails(&mut c, ann, assets, "transfer", &(id, ben)), "reverted: the recipient is not on the allowlist");
    assert_eq!(
        fails(&mut c, ben, assets, "transfer", &(id, ann)),
        "reverted: only the owner or its approved spender may move it"
    );

    // Fractions: a zero-supply token whose minter is the asset contract.
    let shares = token(&mut c, ann, "H12", 0, Some(1_000_000));
    assert_eq!(
        fails(&mut c, ann, assets, "fractionalize", &(id, shares, 1_000_000u128)),
        "reverted: the share token's minter must be this contract"
    );
    ok(&mut c, ann, shares, "set_minter", &Some(assets));
    ok(&mut c, ann, assets, "fractionalize", &(id, shares, 1_000_000u128));
    assert_eq!(q::<_, AssetView>(&c, assets, "asset", &id), (assets, deed, None, Some((shares, 1_000_000))));
    assert_eq!(balance(&c, shares, ann), 1_000_000);
    assert_eq!(
        fails(&mut c, ann, assets, "transfer", &(id, ann)),
        "reverted: only the owner or its approved spender may move it"
    );
    // Shares trade freely; ben holds part and cannot redeem.
    ok(&mut c, ann, shares, "transfer", &(ben, 400_000u128));
    ok(&mut c, issuer, assets, "set_allowed", &(ben, true));
    ok(&mut c, ben, shares, "approve", &(assets, u128::MAX));
    let s = fails(&mut c, ben, assets, "redeem", &id);
    assert!(s.contains("insufficient balance"), "{s}");
    // Ben buys the rest and redeems the asset whole; the shares are gone.
    ok(&mut c, ann, shares, "transfer", &(ben, 600_000u128));
    ok(&mut c, ben, assets, "redeem", &id);
    assert_eq!(q::<_, AssetView>(&c, assets, "asset", &id), (ben, deed, None, None));
    assert_eq!(q::<_, u128>(&c, shares, "total_supply", &()), 0);
    // An approved spender moves it once; a disallowed holder receives nothing.
    ok(&mut c, ben, assets, "approve", &(id, Some(ann)));
    ok(&mut c, ann, assets, "transfer", &(id, ann));
    assert_eq!(q::<_, AssetView>(&c, assets, "asset", &id).2, None);
    ok(&mut c, issuer, assets, "set_allowed", &(ben, false));
    assert_eq!(fails(&mut c, ann, assets, "transfer", &(id, ben)), "reverted: the recipient is not on the allowlist");
}

type Step = (u8, Address, Address, u64, [u8; 32]);

#[test]
fn custody_moves_in_signed_steps_and_anchored_records_prove_inclusion() {
    let (mut c, admin) = chain();
    let farm = c.account(1_000_000_000_000);
    let shipper = c.account(1_000_000_000_000);
    let inspector = c.account(1_000_000_000_000);
    let sc = deploy(&mut c, admin, cinder_contracts::SUPPLY, &enc(&()));
    let item = *blake3::hash(b"pallet 0042").as_bytes();
    let h = |s: &str| *blake3::hash(s.as_bytes()).as_bytes();
    assert_eq!(
        fails(&mut c, farm, sc, "create", &(item, h("coffee"))),
        "reverted: only a participant may create items"
    );
    ok(&mut c, admin, sc, "set_role", &(farm, 1u8));
    ok(&mut c, admin, sc, "set_role", &(shipper, 1u8));
    ok(&mut c, admin, sc, "set_role", &(inspector, 2u8));
    ok(&mut c, farm, sc, "create", &(item, h("coffee")));
    assert_eq!(fails(&mut c, farm, sc, "create", &(item, h("coffee"))), "reverted: the item exists");
    assert_eq!(
        fails(&mut c, shipper, sc, "hand_over", &(item, farm, h("x"))),
        "reverted: only the holder may hand the item over"
    );
    assert_eq!(
        fails(&mut c, farm, sc, "hand_over", &(item, inspector, h("x"))),
        "reverted: the recipient is not a participant"
    );
    let r = ok(&mut c, farm, sc, "hand_over", &(item, shipper, h("bill of lading 7")));
    println!("custody handover gas: {}", r.gas_used);
    assert_eq!(
        fails(&mut c, inspector, sc, "receive", &(item, h("x"))),
        "reverted: the item was not handed to the caller"
    );
    ok(&mut c, shipper, sc, "receive", &(item, h("received")));
    assert_eq!(fails(&mut c, shipper, sc, "inspect", &(item, true, h("x"))), "reverted: only an inspector may inspect");
    ok(&mut c, inspector, sc, "inspect", &(item, true, h("report 1")));
    let (holder, pending, _, steps): (Address, Option<Address>, [u8; 32], u32) = q(&c, sc, "item", &item);
    assert_eq!((holder, pending, steps), (shipper, None, 4));
    let history: Vec<Step> = q(&c, sc, "history", &(item, 0u32, 100u32));
    let kinds: Vec<(u8, Address, Address)> = history.iter().map(|s| (s.0, s.1, s.2)).collect();
    assert_eq!(kinds, vec![(0, farm, farm), (1, farm, shipper), (2, shipper, farm), (3, inspector, shipper)]);
    assert_eq!(history[1].4, h("bill of lading 7"));
    assert!(history.windows(2).all(|w| w[0].3 < w[1].3), "steps in block order");
    assert_eq!(q::<_, Vec<Step>>(&c, sc, "history", &(item, 2u32, 1u32)).len(), 1);

    // A batch of 10 records anchored by its root; each proves inclusion.
    let records: Vec<Vec<u8>> = (0..10).map(|i| format!("temperature reading {i}: 4.{i} C").into_bytes()).collect();
    let tree = cinder_engine::merkle::Tree::new(records.iter().map(|r| cinder_engine::merkle::leaf_hash(r)).collect());
    let batch: u64 = dec(&ok(&mut c, shipper, sc, "anchor", &(tree.root(), 10u64)).output);
    for (i, rec) in records.iter().enumerate() {
        let p = tree.proof(i as u64).unwrap();
        assert!(
            q::<_, bool>(&c, sc, "verify_record", &(batch, rec.clone(), i as u64, p.siblings.clone())),
            "record {i}"
        );
        assert!(!q::<_, bool>(&c, sc, "verify_record", &(batch, b"forged".to_vec(), i as u64, p.siblings)));
    }
    let p = tree.proof(3).unwrap();
    assert!(!q::<_, bool>(&c, sc, "verify_record", &(batch, records[3].clone(), 4u64, p.siblings)));
    assert_eq!(
        fails(&mut c, inspector, sc, "anchor", &(tree.root(), 10u64)),
        "reverted: only a participant may anchor records"
    );
}
