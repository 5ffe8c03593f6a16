//! A height's validators, their voting power, the quorum thresholds and
//! the stake-weighted choice of each round's proposer.

use crate::types::{Height, Round, ValidatorIndex};

/// The most validators a set may hold.
pub const MAX_VALIDATORS: usize = 1024;

/// Why a validator set cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    /// No validators.
    #[error("a validator set needs at least one validator")]
    Empty,
    /// Too many.
    #[error("{0} validators: at most {MAX_VALIDATORS}")]
    TooMany(usize),
    /// A validator without power.
    #[error("validator {0} has no voting power")]
    ZeroPower(usize),
    /// The total does not fit the threshold arithmetic.
    #[error("the total voting power overflows")]
    Overflow,
    /// A quorum fraction that is not in (0, 1).
    #[error("quorum {0}/{1}: must be a fraction in (0, 1)")]
    BadQuorum(u64, u64),
}

/// The voting power of each validator of a height, by index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValidatorSet {
    powers: Vec<u64>,
    total: u64,
    /// What a quorum is: more than 2/3 of the total.
    quorum: Quorum,
}

/// A quorum threshold as a fraction of the total power.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quorum {
    /// More than `num/den` (Tendermint: more than 2/3).
    MoreThan(u64, u64),
    /// At least `num/den`: only to show what breaks (the model check's
    /// mutant with a quorum of half the stake).
    AtLeast(u64, u64),
}

impl ValidatorSet {
    /// A set with these voting powers (index i is validator i).
    pub fn new(powers: Vec<u64>) -> Result<ValidatorSet, SetError> {
        if powers.is_empty() {
            return Err(SetError::Empty);
        }
        if powers.len() > MAX_VALIDATORS {
            return Err(SetError::TooMany(powers.len()));
        }
        if let Some(i) = powers.iter().position(|p| *p == 0) {
            return Err(SetError::ZeroPower(i));
        }
        // The thresholds compare power * 3 (u128), so any u64 total works;
        // the total itself must fit.
        let total = powers.iter().try_fold(0u64, |a, p| a.checked_add(*p)).ok_or(SetError::Overflow)?;
        Ok(ValidatorSet { powers, total, quorum: Quorum::MoreThan(2, 3) })
    }

    /// The same set with another quorum. Tendermint's safety needs more
    /// than 2/3 (the default) with less than 1/3 faulty; anything lower
    /// exists to show that the model check finds the fork it allows.
    pub fn with_quorum(mut self, quorum: Quorum) -> Result<ValidatorSet, SetError> {
        let (Quorum::MoreThan(num, den) | Quorum::AtLeast(num, den)) = quorum;
        if den == 0 || num == 0 || num >= den {
            return Err(SetError::BadQuorum(num, den));
        }
        self.quorum = quorum;
        Ok(self)
    }

    /// How many validators.
    pub fn len(&self) -> usize {
        self.powers.len()
    }

    /// Never: a set has at least one validator.
    pub fn is_empty(&self) -> bool {
        self.powers.is_empty()
    }

    /// The power of `v` (0 if it is not in the set).
    pub fn power(&self, v: ValidatorIndex) -> u64 {
        self.powers.get(v.get()).copied().unwrap_or(0)
    }

    /// Whether `v` is in the set.
    pub fn contains(&self, v: ValidatorIndex) -> bool {
        v.get() < self.powers.len()
    }

    /// All the power.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// More than 2/3 of the power (the paper's 2f + 1).
    pub fn is_quorum(&self, power: u64) -> bool {
        // u64 x u64 fits u128: the products never saturate.
        let (n, d, strict) = match self.quorum {
            Quorum::MoreThan(n, d) => (n, d, true),
            Quorum::AtLeast(n, d) => (n, d, false),
        };
        let lhs = u128::from(power).saturating_mul(u128::from(d));
        let rhs = u128::from(self.total).saturating_mul(u128::from(n));
        if strict { lhs > rhs } else { lhs >= rhs }
    }

    /// More than 1/3 of the power (the paper's f + 1): at least one honest
    /// validator is among them.
    pub fn is_one_third(&self, power: u64) -> bool {
        u128::from(power).saturating_mul(3) > u128::from(self.total)
    }

    /// The proposer of `round` at `height`: a choice weighted by power,
    /// drawn from BLAKE3 of the height's seed, the height and the round.
    ///
    /// The seed comes from the chain (the hash of the previous commit's
    /// signatures, see docs/design/pos.md): known one height ahead, so
    /// proposers cannot be predicted further out, and a proposer can
    /// steer the next seed only by leaving signatures out of its commit,
    /// which costs it its share of the rewards. The draw maps a 64-bit
    /// word onto the total power by multiply-shift, so a validator's
    /// probability is off from power/total by less than total/2^64.
    pub fn proposer(&self, seed: &[u8; 32], height: Height, round: Round) -> ValidatorIndex {
        let mut h = blake3::Hasher::new_derive_key("cinder proposer v1");
        h.update(seed);
        h.update(&height.to_le_bytes());
        h.update(&round.to_le_bytes());
        let mut word = [0u8; 8];
        h.finalize_xof().fill(&mut word);
        let x = u64::from_le_bytes(word);
        // Scale onto [0, total): (x * total) >> 64.
        let target = u64::try_from(u128::from(x).saturating_mul(u128::from(self.total)) >> 64).unwrap_or(u64::MAX);
        let mut acc = 0u64;
        for (i, p) in self.powers.iter().enumerate() {
            acc = acc.saturating_add(*p);
            if target < acc {
                return ValidatorIndex(u16::try_from(i).unwrap_or(u16::MAX));
            }
        }
        // Unreachable: target < total, the last acc.
        ValidatorIndex(u16::try_from(self.powers.len().saturating_sub(1)).unwrap_or(u16::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let s = ValidatorSet::new(vec![1, 1, 1, 1]).unwrap();
        assert!(!s.is_quorum(2));
        assert!(s.is_quorum(3));
        assert!(!s.is_one_third(1));
        assert!(s.is_one_third(2));
        let half = s.clone().with_quorum(Quorum::AtLeast(1, 2)).unwrap();
        assert!(!half.is_quorum(1));
        assert!(half.is_quorum(2));
        let s = ValidatorSet::new(vec![u64::MAX / 2, u64::MAX / 2]).unwrap();
        assert!(s.is_quorum(u64::MAX - 1));
        assert!(!s.is_quorum(u64::MAX / 2));
    }

    #[test]
    fn bad_sets() {
        assert_eq!(ValidatorSet::new(vec![]), Err(SetError::Empty));
        assert_eq!(ValidatorSet::new(vec![1, 0]), Err(SetError::ZeroPower(1)));
        assert_eq!(ValidatorSet::new(vec![u64::MAX, 1]), Err(SetError::Overflow));
        assert!(ValidatorSet::new(vec![1]).unwrap().with_quorum(Quorum::MoreThan(3, 2)).is_err());
    }

    #[test]
    fn proposer_follows_power() {
        let s = ValidatorSet::new(vec![1, 3, 6]).unwrap();
        let seed = [7u8; 32];
        let mut counts = [0u32; 3];
        for h in 0..20_000 {
            counts[s.proposer(&seed, h, 0).get()] += 1;
        }
        // Expected 2,000 / 6,000 / 12,000; 5 sigma is under 400.
        assert!((counts[0] as i64 - 2_000).abs() < 400, "{counts:?}");
        assert!((counts[1] as i64 - 6_000).abs() < 400, "{counts:?}");
        assert!((counts[2] as i64 - 12_000).abs() < 400, "{counts:?}");
        // Deterministic, and the round changes the draw.
        assert_eq!(s.proposer(&seed, 5, 1), s.proposer(&seed, 5, 1));
        assert!((0..16).map(|r| s.proposer(&seed, 5, r)).collect::<std::collections::BTreeSet<_>>().len() > 1);
    }
}
