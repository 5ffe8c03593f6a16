//! Proof of work: the hash under the target, ASERT retargeting, median time
//! past, chain work.
//!
//! **Retarget: ASERT** (absolutely scheduled exponentially rising targets,
//! the `aserti3-2d` rule Bitcoin Cash adopted in 2020), every block. The
//! target of the block after `parent` is
//!
//! ```text
//! target = anchor_target * 2^((parent_time - anchor_parent_time - T * (parent_height + 1)) / half_life)
//! ```
//!
//! with the anchor at genesis (`anchor_parent_time = genesis_time - T`),
//! computed in 16.16 fixed point with the cubic approximation of `2^x` on
//! `[0, 1)` that aserti3-2d specifies, floor division, clamped to
//! `[1, limit]`, then encoded as compact bits (the header must carry exactly
//! those bits). Why ASERT over LWMA: it depends on one anchor and the
//! parent only (no window to walk), it is immune to the timestamp games
//! windowed averages allow, and its error does not accumulate: blocks track
//! the schedule `genesis_time + T * height` within a half-life's worth of
//! hashrate change.

use std::cmp::Ordering;

use cinder_engine::pow::{Algo, PowJob, Target};
use cinder_primitives::{Address, Header};

use crate::u256::U256;
use crate::{Ancestry, ChainSpec, Consensus, ConsensusInvalid, PowSpec, Proposal, SealJob, SpecError, Tip};

/// The PoW header version a block carries outside the rollable bits.
pub const BASE_VERSION: u32 = 1;
/// Version bits a miner may roll for more nonce space (BIP 320's mask,
/// bits 13-28): the version is not part of the commitment, so rolling them
/// changes the PoW hash and the block id but nothing else.
pub const VERSION_ROLL_MASK: u32 = 0x1fff_e000;

/// Blocks whose median time a new block must exceed (Bitcoin's 11).
pub const MTP_WINDOW: usize = 11;

/// The PoW rules of one chain.
#[derive(Clone, Debug)]
pub struct Pow {
    spec: PowSpec,
    genesis_time: u32,
    reward: u128,
    anchor: U256,
    limit: U256,
}

impl Pow {
    /// The rules of `spec` (which must be a PoW spec).
    pub fn new(spec: &ChainSpec) -> Result<Pow, SpecError> {
        let pow = *spec.pow().ok_or_else(|| SpecError::Invalid("no [pow] table".into()))?;
        let decode = |bits: u32, what: &str| {
            Target::from_compact(bits)
                .map(|t| U256::from_target(&t))
                .map_err(|e| SpecError::Invalid(format!("{what}: {e}")))
        };
        Ok(Pow {
            anchor: decode(pow.initial_bits, "pow.initial_bits")?,
            limit: decode(pow.limit_bits, "pow.limit_bits")?,
            spec: pow,
            genesis_time: spec.genesis_time,
            reward: spec.block_reward,
        })
    }

    /// The PoW hash function.
    pub fn algo(&self) -> Algo {
        self.spec.algorithm
    }

    /// The bits the block after a parent at `parent_height` with time
    /// `parent_time` must carry (ASERT, see the module docs).
    pub fn next_bits(&self, parent_height: u64, parent_time: u32) -> u32 {
        self.next_target(parent_height, parent_time).to_target().to_compact()
    }

    fn next_target(&self, parent_height: u64, parent_time: u32) -> U256 {
        let t = i128::from(self.spec.target_block_time);
        let anchor_parent_time = i128::from(self.genesis_time) - t;
        let time_delta = i128::from(parent_time) - anchor_parent_time;
        let height_delta = i128::from(parent_height);
        let half_life = i128::from(self.spec.half_life().max(1));
        let exponent = ((time_delta - t * (height_delta + 1)) * 65536).div_euclid(half_life);
        let shifts = exponent >> 16;
        // 0 <= frac < 2^16.
        let frac = u128::try_from(exponent & 0xffff).unwrap_or(0);
        let poly =
            (195_766_423_245_049 * frac + 971_821_376 * frac * frac + 5127 * frac * frac * frac + (1 << 47)) >> 48;
        let factor = 65536 + u64::try_from(poly).unwrap_or(0);
        let scaled = match i64::try_from(shifts) {
            Ok(s) if s > 512 => None,
            Ok(s) if s < -512 => Some(U256::ZERO),
            Ok(s) => self.anchor.scale(factor, s),
            Err(_) if shifts > 0 => None,
            Err(_) => Some(U256::ZERO),
        };
        match scaled {
            None => self.limit,
            Some(t) if t.cmp_value(&self.limit).is_gt() => self.limit,
            Some(t) if t.is_zero() => U256::from_u128(1),
            Some(t) => t,
        }
    }

    fn median_time_past(recent: &[u32]) -> Option<u32> {
        let mut v: Vec<u32> = recent.iter().rev().take(MTP_WINDOW).copied().collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    }
}

/// The work of compact `bits`: 2^256 / (target + 1), saturated to `u128`
/// (a target below 2^128 is far beyond any hashrate).
pub fn work_of_bits(bits: u32) -> Option<u128> {
    let t = Target::from_compact(bits).ok()?;
    Some(U256::from_target(&t).work().to_u128().unwrap_or(u128::MAX))
}

impl Consensus for Pow {
    fn name(&self) -> &'static str {
        "pow"
    }

    fn ancestry_window(&self) -> usize {
        MTP_WINDOW
    }

    fn check_header(&self, header: &Header, now: u64) -> Result<(), ConsensusInvalid> {
        let p = &header.pow;
        if p.version() & !VERSION_ROLL_MASK != BASE_VERSION {
            return Err(ConsensusInvalid::Version(p.version()));
        }
        if !header.fields.consensus_data.as_slice().is_empty() {
            return Err(ConsensusInvalid::ConsensusData(header.fields.consensus_data.as_slice().len()));
        }
        if !header.commitment_matches() {
            return Err(ConsensusInvalid::Commitment);
        }
        let bits = p.bits();
        let target =
            Target::from_compact(bits).map_err(|e| ConsensusInvalid::BadBits { bits, reason: e.to_string() })?;
        if U256::from_target(&target).cmp_value(&self.limit) == Ordering::Greater {
            return Err(ConsensusInvalid::BadBits { bits, reason: "easier than the chain's limit".into() });
        }
        let hash = self.spec.algorithm.hash(p);
        if !target.is_met_by(&hash.0) {
            return Err(ConsensusInvalid::PowHash { hash: hash.to_display_hex(), bits });
        }
        if u64::from(p.time()) > now.saturating_add(u64::from(self.spec.max_future_drift)) {
            return Err(ConsensusInvalid::TimeTooNew { time: p.time(), now, drift: self.spec.max_future_drift });
        }
        Ok(())
    }

    fn check_with_parent(&self, header: &Header, a: &Ancestry<'_>) -> Result<(), ConsensusInvalid> {
        crate::check_link(header, a)?;
        let time = header.pow.time();
        if let Some(mtp) = Pow::median_time_past(a.recent_times)
            && time <= mtp
        {
            return Err(ConsensusInvalid::TimeTooOld { time, mtp });
        }
        let expected = self.next_bits(a.parent.height(), a.parent.pow.time());
        if header.pow.bits() != expected {
            return Err(ConsensusInvalid::WrongBits { got: header.pow.bits(), expected });
        }
        Ok(())
    }

    fn block_weight(&self, header: &Header) -> Result<u128, ConsensusInvalid> {
        let bits = header.pow.bits();
        work_of_bits(bits).ok_or_else(|| ConsensusInvalid::BadBits { bits, reason: "does not decode".into() })
    }

    fn prefers(&self, candidate: &Tip, current: &Tip) -> bool {
        candidate.weight > current.weight
    }

    fn finalized_height(&self, _head: &Tip) -> Option<u64> {
        None
    }

    fn propose(&self, a: &Ancestry<'_>, now: u64) -> Proposal {
        let mtp = Pow::median_time_past(a.recent_times).unwrap_or(0);
        let now = u32::try_from(now).unwrap_or(u32::MAX);
        Proposal {
            time: now.max(mtp.saturating_add(1)),
            bits: self.next_bits(a.parent.height(), a.parent.pow.time()),
            consensus_data: Vec::new(),
        }
    }

    fn seal_job(&self, header: &Header) -> Result<SealJob, ConsensusInvalid> {
        let bits = header.pow.bits();
        let target =
            Target::from_compact(bits).map_err(|e| ConsensusInvalid::BadBits { bits, reason: e.to_string() })?;
        Ok(SealJob::Pow(PowJob::new(self.spec.algorithm, header.pow, target)))
    }

    fn block_credits(&self, header: &Header) -> Vec<(Address, u128)> {
        if header.height() == 0 || self.reward == 0 {
            return Vec::new();
        }
        vec![(header.fields.coinbase, self.reward)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(bits: u32, t: u32, half_life: u32) -> ChainSpec {
        ChainSpec::from_toml(&format!(
            "name = \"t\"\nchain_id = 1\nconsensus = \"pow\"\ngenesis_time = 1000000\nblock_reward = 5\n\
             [pow]\nalgorithm = \"sha256d\"\ninitial_bits = {bits}\ntarget_block_time = {t}\nhalf_life = {half_life}\n"
        ))
        .unwrap()
    }

    #[test]
    fn on_schedule_keeps_the_anchor() {
        let p = Pow::new(&spec(0x1f00_ffff, 10, 3600)).unwrap();
        for h in [0u64, 1, 100, 10_000] {
            let time = 1_000_000 + 10 * u32::try_from(h).unwrap();
            assert_eq!(p.next_bits(h, time), 0x1f00_ffff, "height {h}");
        }
    }

    #[test]
    fn one_half_life_late_doubles_the_target() {
        let p = Pow::new(&spec(0x1d00_ffff, 10, 3600)).unwrap();
        // 3600 s behind schedule at height 99: target x2.
        let t = p.next_target(99, 1_000_000 + 990 + 3600);
        let anchor = U256::from_target(&Target::from_compact(0x1d00_ffff).unwrap());
        assert_eq!(t, anchor.shl(1));
        // One half-life ahead: target / 2.
        let t = p.next_target(99, 1_000_000 + 990 - 3600);
        assert_eq!(t, anchor.shr(1));
    }

    #[test]
    fn clamps_to_limit_and_to_one() {
        let p = Pow::new(&spec(0x207f_ffff, 1, 10)).unwrap();
        assert_eq!(p.next_bits(0, u32::MAX), 0x207f_ffff, "far behind: the limit");
        assert_eq!(p.next_target(1_000_000_000, 0), U256::from_u128(1), "far ahead: target 1");
    }

    #[test]
    fn mtp_is_the_median_of_the_last_eleven() {
        let times: Vec<u32> = (0..21).map(|i| if i % 2 == 0 { 100 + i } else { 50 }).collect();
        // Last 11: 10 to 20 -> 6 even ones (110..=120) and 5 times 50.
        assert_eq!(Pow::median_time_past(&times), Some(110));
        assert_eq!(Pow::median_time_past(&[7]), Some(7));
        assert_eq!(Pow::median_time_past(&[]), None);
    }

    #[test]
    fn work_of_bits_matches_bitcoin() {
        assert_eq!(work_of_bits(0x1d00_ffff), Some(0x1_0001_0001));
        assert_eq!(work_of_bits(0x207f_ffff), Some(2));
        assert_eq!(work_of_bits(0x0080_0000), None, "zero target");
    }
}
