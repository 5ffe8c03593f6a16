#![allow(clippy::cast_possible_truncation, reason = "test indexes are small")]

use std::collections::BTreeMap;

use cinder_primitives::{
    Address, Bounded, BoundedString, GOV_ADDRESS, Param, ProposalAction, ProposalContent, UpgradePlan, VoteOption,
};
use cinder_staking::{Params, Staking};
use proptest::prelude::*;

use super::*;
use crate::params::test_params;

fn a(i: u8) -> Address {
    Address([i; 32])
}

fn content(action: ProposalAction) -> ProposalContent {
    ProposalContent { title: BoundedString::truncated("a title"), description: BoundedString::truncated("why"), action }
}

fn staking_params() -> Params {
    Params {
        min_self_stake: 1,
        max_validators: 10,
        unbonding_epochs: 1,
        max_commission_bps: 5_000,
        double_sign_slash_bps: 500,
        jail_epochs: 1,
        max_missed_bps: 10_000,
    }
}

/// Validators 1..=n with `stakes`, active, plus delegators.
fn staking(stakes: &[u128], delegations: &[(u8, u8, u128)]) -> Staking {
    let mut s = Staking::new(staking_params());
    for (i, st) in stakes.iter().enumerate() {
        s.create_validator(a(i as u8 + 1), [i as u8 + 1; 32], 0, *st).unwrap();
    }
    for (d, v, x) in delegations {
        s.delegate(a(*d), a(*v), *x).unwrap();
    }
    s.active = s.validators.iter().map(|(op, v)| (*op, v.tokens)).collect();
    s
}

/// A proposal in its voting period from block 1 (ends at 11).
fn voting(g: &mut Gov, action: ProposalAction) -> u64 {
    g.submit(1, a(99), &content(action), 100).unwrap()
}

#[test]
fn inheritance_and_override_follow_the_xgov_rule() {
    // Validator 1: 100 own + 50 from delegator 20; validator 2: 100 own.
    let s = staking(&[100, 100], &[(20, 1, 50)]);
    let mut votes = BTreeMap::new();
    votes.insert(a(1), VoteOption::Yes);
    let t = tally(&s, &votes).unwrap();
    // The delegator inherits validator 1's yes; validator 2 did not vote.
    assert_eq!((t.yes, t.no, t.bonded), (150, 0, 250));
    votes.insert(a(20), VoteOption::No);
    let t = tally(&s, &votes).unwrap();
    assert_eq!((t.yes, t.no), (100, 50));
    // A delegator of a validator that does not vote still counts its own.
    votes.remove(&a(1));
    assert_eq!(tally(&s, &votes).unwrap().no, 50);
}

#[test]
fn each_outcome_and_its_deposits() {
    let s = staking(&[100, 100, 100], &[]);
    let p = test_params();
    // Passed: 2 of 3 yes.
    let mut g = Gov::new(p.clone());
    let id = voting(&mut g, ProposalAction::Text);
    g.vote(a(1), id, VoteOption::Yes, true).unwrap();
    g.vote(a(2), id, VoteOption::Yes, true).unwrap();
    g.vote(a(3), id, VoteOption::No, true).unwrap();
    assert_eq!(g.end_block(10, &s).unwrap(), EndBlock::default(), "not before its last block");
    let out = g.end_block(11, &s).unwrap();
    assert_eq!(out.ended, vec![(id, Status::Passed)]);
    assert_eq!((out.payouts.clone(), out.burned), (vec![(a(99), 100)], 0));
    assert!(g.votes.is_empty() && g.meta.queue.is_empty());
    assert!(g.vote(a(1), id, VoteOption::No, true).is_err(), "a vote after the period");

    // No quorum: one of three (33.3 % < 33.4 %).
    let mut g = Gov::new(p.clone());
    let id = voting(&mut g, ProposalAction::Text);
    g.vote(a(1), id, VoteOption::Yes, true).unwrap();
    let out = g.end_block(11, &s).unwrap();
    assert_eq!(out.ended, vec![(id, Status::Rejected)]);
    assert!(g.proposals[&id].note.contains("no quorum"));
    assert_eq!(out.payouts, vec![(a(99), 100)]);

    // Threshold: yes 1, no 1, abstain 1: 50 % is not more than 50 %.
    let mut g = Gov::new(p.clone());
    let id = voting(&mut g, ProposalAction::Text);
    g.vote(a(1), id, VoteOption::Yes, true).unwrap();
    g.vote(a(2), id, VoteOption::No, true).unwrap();
    g.vote(a(3), id, VoteOption::Abstain, true).unwrap();
    assert_eq!(g.end_block(11, &s).unwrap().ended, vec![(id, Status::Rejected)]);
    assert!(g.proposals[&id].note.contains("rejected"));

    // Veto: 1 of 3 > 33.4 %? no; 2 of 3 yes but 1 veto of 3 = 33.3 %;
    // with two vetoes it is vetoed and the deposit burned.
    let mut g = Gov::new(p.clone());
    let id = voting(&mut g, ProposalAction::Text);
    g.vote(a(1), id, VoteOption::Yes, true).unwrap();
    g.vote(a(2), id, VoteOption::NoWithVeto, true).unwrap();
    g.vote(a(3), id, VoteOption::NoWithVeto, true).unwrap();
    let out = g.end_block(11, &s).unwrap();
    assert_eq!(out.ended, vec![(id, Status::Vetoed)]);
    assert_eq!((out.payouts.len(), out.burned), (0, 100));

    // Expired: below the minimum deposit for the whole deposit period.
    let mut g = Gov::new(p.clone());
    let id = g.submit(1, a(99), &content(ProposalAction::Text), 10).unwrap();
    g.deposit(5, a(98), id, 20).unwrap();
    assert!(g.vote(a(1), id, VoteOption::Yes, true).is_err(), "no vote in the deposit period");
    let out = g.end_block(11, &s).unwrap();
    assert_eq!(out.ended, vec![(id, Status::Expired)]);
    assert_eq!(out.payouts, vec![(a(99), 10), (a(98), 20)]);
    assert!(g.deposit(12, a(98), id, 20).is_err());
}

#[test]
fn a_deposit_that_reaches_the_minimum_opens_voting_from_its_block() {
    let mut g = Gov::new(test_params());
    let id = g.submit(3, a(9), &content(ProposalAction::Text), 10).unwrap();
    assert_eq!(g.meta.queue, vec![(13, id)]);
    g.deposit(4, a(8), id, 50).unwrap();
    g.deposit(6, a(9), id, 40).unwrap();
    let p = &g.proposals[&id];
    assert_eq!((p.status, p.voting_start, p.voting_end), (Status::VotingPeriod, Some(6), Some(16)));
    assert_eq!(p.deposits, vec![(a(9), 50), (a(8), 50)]);
    assert_eq!(g.meta.queue, vec![(16, id)]);
    assert_eq!(g.deposit(7, a(8), id, 1), Err(GovError::NotInDepositPeriod(id, "voting_period")));
}

#[test]
fn actions_apply_or_fail_with_a_reason() {
    let s = staking(&[100], &[]);
    let pass = |g: &mut Gov, action: ProposalAction| -> (Status, EndBlock) {
        let id = voting(g, action);
        g.vote(a(1), id, VoteOption::Yes, true).unwrap();
        let out = g.end_block(11, &s).unwrap();
        (g.proposals[&id].status, out)
    };
    let mut g = Gov::new(test_params());
    let changes = Bounded::new(vec![Param::BlockGasLimit(50_000), Param::QuorumBps(5_000)]).unwrap();
    let (st, out) = pass(&mut g, ProposalAction::ParamChange(changes));
    assert_eq!(st, Status::Passed);
    assert!(out.params_changed);
    assert_eq!((g.params.block_gas_limit, g.params.quorum_bps), (50_000, 5_000));

    // Pool spends: paid while the pool holds enough.
    let mut g = Gov::new(test_params());
    g.fund_pool(70).unwrap();
    let (st, out) = pass(&mut g, ProposalAction::PoolSpend { recipient: a(5), amount: 60 });
    assert_eq!(st, Status::Passed);
    assert!(out.payouts.contains(&(a(5), 60)));
    g.meta.next_id = 1;
    g.proposals.clear();
    let (st, out) = pass(&mut g, ProposalAction::PoolSpend { recipient: a(5), amount: 60 });
    assert_eq!(st, Status::Failed);
    assert!(!out.payouts.contains(&(a(5), 60)));
    assert_eq!(g.meta.pool, 10);

    // Upgrades: scheduled, cancelled, applied, never twice.
    let mut g = Gov::new(test_params());
    let plan = UpgradePlan {
        name: BoundedString::truncated("v2"),
        height: 100,
        info: BoundedString::truncated("https://example.org/v2"),
    };
    assert_eq!(pass(&mut g, ProposalAction::Upgrade(plan.clone())).0, Status::Passed);
    assert_eq!(g.meta.plan.as_ref(), Some(&plan));
    assert_eq!(g.upgrade_due(100), Some(&plan));
    assert_eq!(g.upgrade_due(99), None);
    g.proposals.clear();
    assert_eq!(pass(&mut g, ProposalAction::CancelUpgrade { name: BoundedString::truncated("v3") }).0, Status::Failed);
    g.proposals.clear();
    assert_eq!(pass(&mut g, ProposalAction::CancelUpgrade { name: BoundedString::truncated("v2") }).0, Status::Passed);
    assert_eq!(g.meta.plan, None);
    g.meta.plan = Some(plan.clone());
    g.complete_upgrade(100);
    assert_eq!(g.meta.applied, vec![Applied { name: "v2".into(), height: 100 }]);
    let e = g.submit(120, a(1), &content(ProposalAction::Upgrade(UpgradePlan { height: 500, ..plan })), 100);
    assert!(matches!(e, Err(GovError::BadProposal(m)) if m.contains("applied already")));
}

#[test]
fn bad_submissions_deposits_and_votes_are_refused_and_change_nothing() {
    let mut g = Gov::new(test_params());
    let before = g.clone();
    let bad_params = Bounded::new(vec![Param::ThresholdBps(100)]).unwrap();
    let cases = [
        (content(ProposalAction::Text), 9, "below the minimum"),
        (content(ProposalAction::ParamChange(bad_params)), 100, "threshold_bps"),
        (content(ProposalAction::ParamChange(Bounded::new(vec![]).unwrap())), 100, "change something"),
        (
            content(ProposalAction::Upgrade(UpgradePlan {
                name: BoundedString::truncated("v2"),
                height: 21,
                info: BoundedString::truncated(""),
            })),
            100,
            "must be above 21",
        ),
        (
            content(ProposalAction::Upgrade(UpgradePlan {
                name: BoundedString::truncated("Bad Name"),
                height: 500,
                info: BoundedString::truncated(""),
            })),
            100,
            "upgrade name",
        ),
        (content(ProposalAction::PoolSpend { recipient: a(1), amount: 0 }), 100, "pay something"),
        (content(ProposalAction::PoolSpend { recipient: GOV_ADDRESS, amount: 1 }), 100, "governance account"),
        (
            ProposalContent {
                title: BoundedString::truncated("  "),
                description: BoundedString::truncated(""),
                action: ProposalAction::Text,
            },
            100,
            "title",
        ),
    ];
    for (c, deposit, want) in cases {
        let e = g.submit(1, a(1), &c, deposit).unwrap_err().to_string();
        assert!(e.contains(want), "{e} lacks {want}");
    }
    assert_eq!(g.deposit(1, a(1), 0, 5), Err(GovError::NoProposal(0)));
    assert_eq!(g.vote(a(1), 0, VoteOption::Yes, true), Err(GovError::NoProposal(0)));
    assert_eq!(g, before);
    let id = voting(&mut g, ProposalAction::Text);
    let before = g.clone();
    assert_eq!(g.vote(a(1), id, VoteOption::Yes, false), Err(GovError::NotAStaker(a(1))));
    assert_eq!(g.deposit(2, a(1), id, 0), Err(GovError::Zero));
    assert_eq!(g, before);
}

#[test]
fn a_slashed_and_jailed_validator_stops_counting() {
    let mut s = staking(&[100, 100], &[(20, 1, 100)]);
    let mut votes = BTreeMap::new();
    votes.insert(a(1), VoteOption::Yes);
    votes.insert(a(2), VoteOption::No);
    assert_eq!(tally(&s, &votes).unwrap().yes, 200);
    s.slash(a(1), 500).unwrap();
    // Jailed: validator 1's pool leaves the bonded stake, the delegator's
    // inherited vote with it.
    let t = tally(&s, &votes).unwrap();
    assert_eq!((t.yes, t.no, t.bonded), (0, 100, 100));
}

/// The tally as a delegation-by-delegation recomputation: each
/// delegation's stake goes to its delegator's vote, or else its
/// validator's; the pool's rounding dust to the validator's vote.
fn naive(s: &Staking, votes: &BTreeMap<Address, VoteOption>) -> Tally {
    let mut t = Tally::default();
    for v in bonded(s) {
        let pool = &s.validators[&v];
        t.bonded += pool.tokens;
        let mut counted = 0;
        for ((d, val), _) in s.delegations.iter().filter(|((_, val), _)| *val == v) {
            let stake = s.stake_of(d, val);
            counted += stake;
            if let Some(o) = votes.get(d).or(votes.get(&v)) {
                t.add(*o, stake).unwrap();
            }
        }
        if let Some(o) = votes.get(&v) {
            t.add(*o, pool.tokens - counted).unwrap();
        }
    }
    t
}

fn option() -> impl Strategy<Value = Option<VoteOption>> {
    prop_oneof![
        Just(None),
        Just(Some(VoteOption::Yes)),
        Just(Some(VoteOption::No)),
        Just(Some(VoteOption::NoWithVeto)),
        Just(Some(VoteOption::Abstain)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The tally equals the naive recomputation over random stakes,
    /// delegations (several per delegator), slashes, jails and votes.
    #[test]
    fn tally_matches_a_naive_recount(
        stakes in prop::collection::vec(1u128..1_000_000_000_000_000_000_000, 1..6),
        delegations in prop::collection::vec((10u8..20, 1u8..6, 1u128..1_000_000_000_000_000_000), 0..30),
        slashes in prop::collection::vec((1u8..6, 1u16..10_000), 0..3),
        validator_votes in prop::collection::vec(option(), 6),
        delegator_votes in prop::collection::vec(option(), 10),
    ) {
        let n = stakes.len() as u8;
        let dels: Vec<_> = delegations.into_iter().filter(|(_, v, _)| *v <= n).collect();
        let mut s = staking(&stakes, &dels);
        for (v, bps) in slashes {
            if v <= n {
                let _ = s.slash(a(v), bps);
            }
        }
        let mut votes = BTreeMap::new();
        for (i, o) in validator_votes.iter().enumerate() {
            if let Some(o) = o { votes.insert(a(i as u8 + 1), *o); }
        }
        for (i, o) in delegator_votes.iter().enumerate() {
            if let Some(o) = o { votes.insert(a(i as u8 + 10), *o); }
        }
        let fast = tally(&s, &votes).unwrap();
        prop_assert_eq!(&fast, &naive(&s, &votes));
        prop_assert!(fast.voted().unwrap() <= fast.bonded);
    }

    /// Deposits, refunds, burns and pool spends create and lose nothing:
    /// what the governance account received equals what it paid, burned
    /// and still holds.
    #[test]
    fn deposits_are_conserved(
        ops in prop::collection::vec((0u8..4, 0u64..6, 0u128..150, 0u8..5, option()), 1..80),
    ) {
        let s = staking(&[100, 100, 100], &[]);
        let mut g = Gov::new(test_params());
        let (mut received, mut paid, mut burned) = (0u128, 0u128, 0u128);
        for (h, (kind, id, amount, who, opt)) in ops.into_iter().enumerate() {
            let height = h as u64 + 1;
            let who = a(who + 1);
            match kind {
                0 => {
                    let action = if amount % 3 == 0 {
                        ProposalAction::PoolSpend { recipient: a(50), amount: amount + 1 }
                    } else {
                        ProposalAction::Text
                    };
                    if g.submit(height, who, &content(action), amount).is_ok() { received += amount; }
                }
                1 => if g.deposit(height, who, id, amount).is_ok() { received += amount; },
                2 => if let Some(o) = opt { let _ = g.vote(who, id, o, true); },
                _ => { g.fund_pool(amount).unwrap(); received += amount; }
            }
            let out = g.end_block(height, &s).unwrap();
            paid += out.payouts.iter().map(|(_, x)| x).sum::<u128>();
            burned += out.burned;
            prop_assert_eq!(received, paid + burned + g.held().unwrap());
        }
    }
}
