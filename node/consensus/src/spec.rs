//! Chain specs: the TOML file a chain starts from.
//!
//! ```toml
//! name = "devnet"
//! chain_id = 1337
//! consensus = "pow"
//! genesis_time = 1767225600     # Unix seconds
//! block_reward = "50000000000"  # integer or decimal string (u128)
//! block_gas_limit = 100000000   # optional
//! max_block_bytes = 8388608     # optional
//! min_gas_price = 0             # optional: the lowest gas price in a block
//! max_code_bytes = 65536        # optional: the largest contract code
//!
//! [pow]
//! algorithm = "sha256d"         # or "blake3"
//! initial_bits = "0x1f00ffff"   # compact target of the first blocks
//! limit_bits = "0x207fffff"     # optional: the easiest target allowed
//! target_block_time = 2         # seconds, at least 1
//! half_life = 600               # optional, seconds: ASERT's half-life
//! max_future_drift = 60         # optional, seconds
//!
//! # or, for proof of stake:
//! # consensus = "pos"
//! # [pos]
//! # max_future_drift_ms = 10000   # optional
//! # timeout_propose_ms = 1000     # optional; also timeout_prevote_ms,
//! # min_block_interval_ms = 200   # timeout_precommit_ms, timeout_delta_ms
//! # [[pos.validators]]
//! # key = "0x…"                   # ed25519 public key, 32 bytes hex
//! # power = 100                   # self-stake = power x staking.power_unit
//! # [pos.staking]                 # optional, each field too:
//! # epoch_length = 100            # blocks per epoch
//! # power_unit = "1"              # tokens per unit of voting power
//! # min_self_stake = "1"          # tokens
//! # max_validators = 100          # the active set's size
//! # unbonding_epochs = 7          # epochs before unbonded tokens are paid
//! # max_commission_bps = 5000
//! # double_sign_slash_bps = 500   # of the pool and its unbonding tokens
//! # jail_epochs = 2
//! # max_missed_bps = 5000         # of an epoch's certificates, else jailed
//! # [pos.gov]                     # optional, each field too:
//! # min_deposit = "100000000000000000000"        # opens voting (100 CIN)
//! # min_initial_deposit = "25000000000000000000" # to submit (25 CIN)
//! # deposit_period = 86400        # blocks
//! # voting_period = 86400         # blocks
//! # quorum_bps = 3340             # of bonded stake must vote
//! # threshold_bps = 5000          # of non-abstaining votes yes must exceed
//! # veto_bps = 3340               # of votes no_with_veto must exceed to veto
//! # community_tax_bps = 0         # of each block's fees, to the community pool
//!
//! [[alloc]]
//! address = "0x…"               # 32 bytes hex
//! balance = "1000000000000"
//! ```
//!
//! Unknown fields are errors; every value is checked ([`ChainSpec::validate`]).

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use cinder_engine::pow::{Algo, Target};
use cinder_primitives::Address;
use serde::{Deserialize, Deserializer};

/// The most a chain may allocate at genesis: 2^120, so that balances plus
/// every future reward and fee stay far from `u128::MAX` (the transfer VM's
/// deltas are `i128`).
pub const MAX_GENESIS_SUPPLY: u128 = 1 << 120;

/// Which consensus a chain runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsensusKind {
    /// Proof of work.
    Pow,
    /// Proof of stake with BFT finality.
    Pos,
}

/// A chain spec.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    /// Human-readable name.
    pub name: String,
    /// Chain id, signed into every transaction.
    pub chain_id: u64,
    /// The consensus engine.
    pub consensus: ConsensusKind,
    /// Genesis timestamp, Unix seconds.
    pub genesis_time: u32,
    /// Minted to the coinbase of every block after genesis.
    #[serde(deserialize_with = "amount")]
    pub block_reward: u128,
    /// Most gas a block may use.
    #[serde(default = "default_block_gas_limit")]
    pub block_gas_limit: u64,
    /// Largest encoded block.
    #[serde(default = "default_max_block_bytes")]
    pub max_block_bytes: u64,
    /// The lowest gas price a transaction in a block may offer.
    #[serde(default)]
    pub min_gas_price: u64,
    /// The largest contract code a deploy or migration may store.
    #[serde(default = "default_max_code_bytes")]
    pub max_code_bytes: u64,
    /// PoW parameters (required when `consensus = "pow"`).
    pub pow: Option<PowSpec>,
    /// PoS parameters (required when `consensus = "pos"`).
    #[serde(default)]
    pub pos: Option<PosSpec>,
    /// Genesis balances.
    #[serde(default)]
    pub alloc: Vec<Alloc>,
    /// Execution shards, fixed at genesis (1 to
    /// [`cinder_primitives::MAX_SHARDS`]; 1, the default, is a chain
    /// without chunks). docs/design/sharding.md.
    #[serde(default = "one_shard")]
    pub shards: u16,
}

fn one_shard() -> u16 {
    1
}

/// PoW parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowSpec {
    /// The PoW hash.
    #[serde(deserialize_with = "algo")]
    pub algorithm: Algo,
    /// The compact target of genesis and the retarget's anchor.
    #[serde(deserialize_with = "bits")]
    pub initial_bits: u32,
    /// The easiest target the retarget may reach.
    #[serde(default = "default_limit_bits", deserialize_with = "bits")]
    pub limit_bits: u32,
    /// Target seconds between blocks (>= 1: timestamps are whole seconds).
    pub target_block_time: u32,
    /// ASERT half-life in seconds: the difficulty halves (doubles) when
    /// blocks run this far behind (ahead of) schedule.
    #[serde(default)]
    pub half_life: Option<u32>,
    /// How far in the future (seconds) a block's time may be.
    #[serde(default = "default_drift")]
    pub max_future_drift: u32,
}

impl PowSpec {
    /// The half-life in effect: the configured one, or 144 block times.
    pub fn half_life(&self) -> u32 {
        self.half_life.unwrap_or_else(|| self.target_block_time.saturating_mul(144))
    }
}

/// PoS parameters.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PosSpec {
    /// The genesis validators.
    pub validators: Vec<PosValidator>,
    /// How far ahead of the local clock a block's time may be (ms).
    #[serde(default = "default_drift_ms")]
    pub max_future_drift_ms: u64,
    /// How long a validator waits for a proposal in round 0 (ms).
    #[serde(default = "default_propose_ms")]
    pub timeout_propose_ms: u64,
    /// How long it waits for prevotes to agree (ms).
    #[serde(default = "default_vote_ms")]
    pub timeout_prevote_ms: u64,
    /// How long it waits for precommits to agree (ms).
    #[serde(default = "default_vote_ms")]
    pub timeout_precommit_ms: u64,
    /// Added to each timeout per round (ms).
    #[serde(default = "default_vote_ms")]
    pub timeout_delta_ms: u64,
    /// The least time between a block and its child (ms): an idle chain
    /// does not finalize empty blocks faster than this.
    #[serde(default = "default_block_interval_ms")]
    pub min_block_interval_ms: u64,
    /// Staking: epochs, the active set, unbonding, slashing.
    #[serde(default)]
    pub staking: StakingSpec,
    /// Governance: deposits, periods, quorum and thresholds.
    #[serde(default)]
    pub gov: GovSpec,
}

/// The governance rules of a PoS chain at genesis (`[pos.gov]`); proposals
/// may change them later (docs/design/governance.md).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GovSpec {
    /// The deposit that opens a proposal's voting period (tokens).
    #[serde(deserialize_with = "amount")]
    pub min_deposit: u128,
    /// The least deposit a proposal is submitted with (tokens).
    #[serde(deserialize_with = "amount")]
    pub min_initial_deposit: u128,
    /// Blocks a proposal may wait for its deposit.
    pub deposit_period: u64,
    /// Blocks of voting.
    pub voting_period: u64,
    /// The share of bonded stake that must vote (basis points).
    pub quorum_bps: u16,
    /// The share of non-abstaining votes `yes` must exceed (basis points).
    pub threshold_bps: u16,
    /// The share of votes `no_with_veto` must exceed to veto (basis
    /// points).
    pub veto_bps: u16,
    /// The share of each block's fees paid into the community pool (basis
    /// points).
    pub community_tax_bps: u16,
}

/// One CIN: 10^18 of the smallest unit.
const COIN: u128 = 1_000_000_000_000_000_000;

impl Default for GovSpec {
    fn default() -> Self {
        GovSpec {
            min_deposit: 100 * COIN,
            min_initial_deposit: 25 * COIN,
            deposit_period: 86_400,
            voting_period: 86_400,
            quorum_bps: 3_340,
            threshold_bps: 5_000,
            veto_bps: 3_340,
            community_tax_bps: 0,
        }
    }
}

/// The staking rules of a PoS chain (`[pos.staking]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StakingSpec {
    /// Blocks per epoch: the validator set changes only after a block whose
    /// height is a multiple of it.
    pub epoch_length: u64,
    /// Tokens per unit of voting power.
    #[serde(deserialize_with = "amount")]
    pub power_unit: u128,
    /// The least self-stake an operator keeps (tokens).
    #[serde(deserialize_with = "amount")]
    pub min_self_stake: u128,
    /// The size of the active set (the top N by stake), at most 1,024.
    pub max_validators: usize,
    /// Epochs an undelegation waits before it is paid; evidence older than
    /// this is refused.
    pub unbonding_epochs: u64,
    /// The highest commission (basis points).
    pub max_commission_bps: u16,
    /// What a double-signer loses (basis points of its pool and unbonding
    /// tokens).
    pub double_sign_slash_bps: u16,
    /// Epochs a jailed validator sits out.
    pub jail_epochs: u64,
    /// Missing from more than this share of an epoch's commit certificates
    /// (basis points) jails a validator.
    pub max_missed_bps: u16,
}

impl Default for StakingSpec {
    fn default() -> Self {
        StakingSpec {
            epoch_length: 100,
            power_unit: 1,
            min_self_stake: 1,
            max_validators: 100,
            unbonding_epochs: 7,
            max_commission_bps: 5_000,
            double_sign_slash_bps: 500,
            jail_epochs: 2,
            max_missed_bps: 5_000,
        }
    }
}

impl StakingSpec {
    /// The ledger's parameters.
    pub fn params(&self) -> cinder_staking::Params {
        cinder_staking::Params {
            min_self_stake: self.min_self_stake,
            max_validators: self.max_validators,
            unbonding_epochs: self.unbonding_epochs,
            max_commission_bps: self.max_commission_bps,
            double_sign_slash_bps: self.double_sign_slash_bps,
            jail_epochs: self.jail_epochs,
            max_missed_bps: self.max_missed_bps,
        }
    }

    /// The epoch of block `height` (genesis and the first `epoch_length`
    /// blocks are epoch 0).
    pub fn epoch_of(&self, height: u64) -> u64 {
        height.saturating_sub(1) / self.epoch_length.max(1)
    }

    /// Whether block `height` ends its epoch.
    pub fn ends_epoch(&self, height: u64) -> bool {
        height > 0 && height.is_multiple_of(self.epoch_length.max(1))
    }

    /// The genesis self-stake of a validator of `power`.
    pub fn genesis_stake(&self, power: u64) -> u128 {
        u128::from(power).saturating_mul(self.power_unit)
    }
}

/// A genesis validator.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PosValidator {
    /// Its consensus key (ed25519, hex); blocks it proposes pay its address.
    #[serde(deserialize_with = "public_key")]
    pub key: cinder_engine::sig::PublicKey,
    /// Its voting power at genesis; its self-stake is `power x
    /// staking.power_unit` tokens, bonded from nowhere (part of the genesis
    /// supply).
    pub power: u64,
}

fn default_drift_ms() -> u64 {
    10_000
}
fn default_propose_ms() -> u64 {
    1_000
}
fn default_vote_ms() -> u64 {
    500
}
fn default_block_interval_ms() -> u64 {
    200
}

/// A genesis balance.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alloc {
    /// The account.
    #[serde(deserialize_with = "address")]
    pub address: Address,
    /// Its balance.
    #[serde(deserialize_with = "amount")]
    pub balance: u128,
}

/// The block gas limit when a spec gives none: 100M gas (4,761 transfers).
pub const DEFAULT_BLOCK_GAS_LIMIT: u64 = 100_000_000;
/// The block size limit when a spec gives none: 8 MiB.
pub const DEFAULT_MAX_BLOCK_BYTES: u64 = 8 << 20;
/// The easiest PoW target when a spec gives none (Bitcoin regtest's).
pub const DEFAULT_LIMIT_BITS: u32 = 0x207f_ffff;

fn default_block_gas_limit() -> u64 {
    DEFAULT_BLOCK_GAS_LIMIT
}
fn default_max_block_bytes() -> u64 {
    DEFAULT_MAX_BLOCK_BYTES
}
fn default_max_code_bytes() -> u64 {
    cinder_primitives::MAX_CODE_BYTES as u64
}
fn default_limit_bits() -> u32 {
    DEFAULT_LIMIT_BITS
}
fn default_drift() -> u32 {
    60
}

/// Why a chain spec is refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("reading the chain spec {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML or not the spec's shape.
    #[error("the chain spec does not parse: {0}")]
    Parse(String),
    /// A value out of range or inconsistent.
    #[error("the chain spec is invalid: {0}")]
    Invalid(String),
}

impl ChainSpec {
    /// Parses and validates a spec.
    pub fn from_toml(text: &str) -> Result<ChainSpec, SpecError> {
        let spec: ChainSpec = toml::from_str(text).map_err(|e| SpecError::Parse(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Reads, parses and validates a spec file.
    pub fn from_file(path: &Path) -> Result<ChainSpec, SpecError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SpecError::Read { path: path.display().to_string(), source })?;
        ChainSpec::from_toml(&text)
    }

    /// Checks every value: PoW parameters present and in range, targets
    /// decodable with the initial one no easier than the limit, a positive
    /// gas limit, no address allocated twice, the genesis supply at most
    /// [`MAX_GENESIS_SUPPLY`].
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |m: String| Err(SpecError::Invalid(m));
        if self.name.is_empty() {
            return bad("name is empty".into());
        }
        if self.shards == 0 || self.shards > cinder_primitives::MAX_SHARDS {
            return bad(format!("shards = {}: a chain has 1 to {} shards", self.shards, cinder_primitives::MAX_SHARDS));
        }
        match self.consensus {
            ConsensusKind::Pow => {
                let Some(pow) = &self.pow else { return bad("consensus = \"pow\" needs a [pow] table".into()) };
                if pow.target_block_time == 0 {
                    return bad("pow.target_block_time must be at least 1 second".into());
                }
                if pow.half_life() == 0 {
                    return bad("pow.half_life must be at least 1 second".into());
                }
                let initial = Target::from_compact(pow.initial_bits)
                    .map_err(|e| SpecError::Invalid(format!("pow.initial_bits: {e}")))?;
                let limit = Target::from_compact(pow.limit_bits)
                    .map_err(|e| SpecError::Invalid(format!("pow.limit_bits: {e}")))?;
                if crate::u256::U256::from_target(&initial).cmp_value(&crate::u256::U256::from_target(&limit)).is_gt() {
                    return bad(format!(
                        "pow.initial_bits {:#010x} is easier than pow.limit_bits {:#010x}",
                        pow.initial_bits, pow.limit_bits
                    ));
                }
            }
            ConsensusKind::Pos => {
                let Some(pos) = &self.pos else { return bad("consensus = \"pos\" needs a [pos] table".into()) };
                if pos.validators.is_empty() {
                    return bad("pos.validators is empty".into());
                }
                let mut keys = HashSet::new();
                for (i, v) in pos.validators.iter().enumerate() {
                    if v.power == 0 {
                        return bad(format!("pos.validators[{i}].power must be positive"));
                    }
                    if !keys.insert(v.key) {
                        return bad(format!("pos.validators[{i}]: the key is listed twice"));
                    }
                    cinder_engine::sig::VerifyingKey::from_bytes(&v.key.0)
                        .map_err(|e| SpecError::Invalid(format!("pos.validators[{i}].key: {e}")))?;
                }
                if pos.validators.len() > 1024 {
                    return bad("pos.validators: more than 1024".into());
                }
                let total = pos.validators.iter().fold(0u128, |a, v| a + u128::from(v.power));
                if total > u128::from(u64::MAX) {
                    return bad("pos.validators: the total power exceeds 2^64 - 1".into());
                }
                if pos.timeout_propose_ms == 0 || pos.timeout_prevote_ms == 0 || pos.timeout_precommit_ms == 0 {
                    return bad("pos timeouts must be positive".into());
                }
                let st = &pos.staking;
                if st.epoch_length == 0 || st.power_unit == 0 || st.min_self_stake == 0 {
                    return bad("pos.staking: epoch_length, power_unit and min_self_stake must be positive".into());
                }
                if st.max_validators == 0 || st.max_validators > 1024 {
                    return bad("pos.staking.max_validators must be 1 to 1024".into());
                }
                if pos.validators.len() > st.max_validators {
                    return bad(format!(
                        "pos.validators: {} genesis validators, max_validators is {}",
                        pos.validators.len(),
                        st.max_validators
                    ));
                }
                if [st.max_commission_bps, st.double_sign_slash_bps, st.max_missed_bps].iter().any(|b| *b > 10_000) {
                    return bad("pos.staking: basis points above 10000".into());
                }
                for (i, v) in pos.validators.iter().enumerate() {
                    let stake = u128::from(v.power).checked_mul(st.power_unit);
                    if stake.is_none_or(|s| s < st.min_self_stake || s > MAX_GENESIS_SUPPLY) {
                        return bad(format!(
                            "pos.validators[{i}]: power x power_unit is below min_self_stake or too large"
                        ));
                    }
                    if cinder_staking::store::power_of(stake.unwrap_or(0), st.power_unit) != v.power {
                        return bad(format!("pos.validators[{i}].power is above {}", cinder_staking::store::MAX_POWER));
                    }
                }
            }
        }
        if self.pow.is_some() && self.consensus != ConsensusKind::Pow {
            return bad("a [pow] table in a proof-of-stake spec".into());
        }
        if self.pos.is_some() && self.consensus != ConsensusKind::Pos {
            return bad("a [pos] table in a proof-of-work spec".into());
        }
        self.params().check().map_err(SpecError::Invalid)?;
        if self.max_block_bytes < 1024 {
            return bad("max_block_bytes must be at least 1024".into());
        }
        let mut seen = HashSet::with_capacity(self.alloc.len());
        let mut supply = self
            .pos
            .as_ref()
            .map_or(0, |p| p.validators.iter().fold(0u128, |a, v| a.saturating_add(p.staking.genesis_stake(v.power))));
        for a in &self.alloc {
            if !seen.insert(a.address) {
                return bad(format!("address {} is allocated twice", a.address));
            }
            supply = supply.saturating_add(a.balance);
        }
        if supply > MAX_GENESIS_SUPPLY {
            return bad(format!("the genesis supply {supply} is above 2^120"));
        }
        Ok(())
    }

    /// BLAKE3 of every field in a fixed order: two specs with the same
    /// digest describe the same chain. The node stores it with genesis and
    /// refuses to open a data directory with another spec's.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new_derive_key("cinder chain spec v1");
        let s = |h: &mut blake3::Hasher, b: &[u8]| {
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        };
        s(&mut h, self.name.as_bytes());
        h.update(&self.chain_id.to_le_bytes());
        h.update(&[match self.consensus {
            ConsensusKind::Pow => 0,
            ConsensusKind::Pos => 1,
        }]);
        h.update(&self.genesis_time.to_le_bytes());
        h.update(&self.block_reward.to_le_bytes());
        h.update(&self.block_gas_limit.to_le_bytes());
        h.update(&self.max_block_bytes.to_le_bytes());
        h.update(&self.min_gas_price.to_le_bytes());
        h.update(&self.max_code_bytes.to_le_bytes());
        match &self.pow {
            None => h.update(&[0]),
            Some(p) => {
                h.update(&[1]);
                s(&mut h, p.algorithm.name().as_bytes());
                h.update(&p.initial_bits.to_le_bytes());
                h.update(&p.limit_bits.to_le_bytes());
                h.update(&p.target_block_time.to_le_bytes());
                h.update(&p.half_life().to_le_bytes());
                h.update(&p.max_future_drift.to_le_bytes())
            }
        };
        if let Some(p) = &self.pos {
            h.update(&[2]);
            h.update(&(p.validators.len() as u64).to_le_bytes());
            for v in &p.validators {
                h.update(&v.key.0);
                h.update(&v.power.to_le_bytes());
            }
            for x in [
                p.max_future_drift_ms,
                p.timeout_propose_ms,
                p.timeout_prevote_ms,
                p.timeout_precommit_ms,
                p.timeout_delta_ms,
                p.min_block_interval_ms,
            ] {
                h.update(&x.to_le_bytes());
            }
            let st = &p.staking;
            for x in [st.epoch_length, st.max_validators as u64, st.unbonding_epochs, st.jail_epochs] {
                h.update(&x.to_le_bytes());
            }
            for x in [st.power_unit, st.min_self_stake] {
                h.update(&x.to_le_bytes());
            }
            for x in [st.max_commission_bps, st.double_sign_slash_bps, st.max_missed_bps] {
                h.update(&x.to_le_bytes());
            }
            let g = &p.gov;
            for x in [g.min_deposit, g.min_initial_deposit] {
                h.update(&x.to_le_bytes());
            }
            for x in [g.deposit_period, g.voting_period] {
                h.update(&x.to_le_bytes());
            }
            for x in [g.quorum_bps, g.threshold_bps, g.veto_bps, g.community_tax_bps] {
                h.update(&x.to_le_bytes());
            }
        }
        h.update(&(self.alloc.len() as u64).to_le_bytes());
        for a in &self.alloc {
            h.update(&a.address.0);
            h.update(&a.balance.to_le_bytes());
        }
        // Chains of one shard keep the digest they had before sharding.
        if self.shards != 1 {
            h.update(&[3]);
            h.update(&self.shards.to_le_bytes());
        }
        *h.finalize().as_bytes()
    }

    /// The genesis chain parameters: what a PoS chain's governance starts
    /// from, and a PoW chain's for good. A PoW spec has no `[pos]` table:
    /// its staking and governance values are the defaults, never used.
    pub fn params(&self) -> cinder_gov::ChainParams {
        let st = self.pos.as_ref().map(|p| p.staking.clone()).unwrap_or_default();
        let g = self.pos.as_ref().map(|p| p.gov.clone()).unwrap_or_default();
        cinder_gov::ChainParams {
            block_gas_limit: self.block_gas_limit,
            min_gas_price: self.min_gas_price,
            max_code_bytes: self.max_code_bytes,
            power_unit: st.power_unit,
            min_self_stake: st.min_self_stake,
            max_validators: st.max_validators as u64,
            unbonding_epochs: st.unbonding_epochs,
            max_commission_bps: st.max_commission_bps,
            double_sign_slash_bps: st.double_sign_slash_bps,
            jail_epochs: st.jail_epochs,
            max_missed_bps: st.max_missed_bps,
            min_deposit: g.min_deposit,
            min_initial_deposit: g.min_initial_deposit,
            deposit_period: g.deposit_period,
            voting_period: g.voting_period,
            quorum_bps: g.quorum_bps,
            threshold_bps: g.threshold_bps,
            veto_bps: g.veto_bps,
            community_tax_bps: g.community_tax_bps,
        }
    }

    /// The PoW parameters (validated specs with `consensus = "pow"` have them).
    pub fn pow(&self) -> Option<&PowSpec> {
        self.pow.as_ref()
    }
}

impl fmt::Display for ChainSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (chain id {})", self.name, self.chain_id)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IntOrString {
    Int(i64),
    Str(String),
}

fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
    use serde::de::Error;
    match IntOrString::deserialize(d)? {
        IntOrString::Int(i) => u128::try_from(i).map_err(|_| D::Error::custom(format!("negative amount {i}"))),
        IntOrString::Str(s) => {
            let s = s.replace('_', "");
            s.parse::<u128>().map_err(|e| D::Error::custom(format!("amount {s:?}: {e}")))
        }
    }
}

fn bits<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    use serde::de::Error;
    match IntOrString::deserialize(d)? {
        IntOrString::Int(i) => u32::try_from(i).map_err(|_| D::Error::custom(format!("bits {i} out of range"))),
        IntOrString::Str(s) => {
            let h = s.strip_prefix("0x").unwrap_or(&s);
            u32::from_str_radix(h, 16).map_err(|e| D::Error::custom(format!("bits {s:?}: {e}")))
        }
    }
}

fn algo<'de, D: Deserializer<'de>>(d: D) -> Result<Algo, D::Error> {
    use serde::de::Error;
    let s = String::deserialize(d)?;
    s.parse().map_err(|e| D::Error::custom(format!("{e}")))
}

fn public_key<'de, D: Deserializer<'de>>(d: D) -> Result<cinder_engine::sig::PublicKey, D::Error> {
    use serde::de::Error;
    let s = String::deserialize(d)?;
    let b = hex::decode(s.strip_prefix("0x").unwrap_or(&s)).map_err(|e| D::Error::custom(format!("key {s:?}: {e}")))?;
    cinder_engine::sig::PublicKey::from_slice(&b).map_err(|e| D::Error::custom(format!("key {s:?}: {e}")))
}

fn address<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
    use serde::de::Error;
    let s = String::deserialize(d)?;
    Address::from_hex(&s).map_err(|e| D::Error::custom(format!("address {s:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
        name = "t"
        chain_id = 7
        consensus = "pow"
        genesis_time = 1000
        block_reward = 50
        [pow]
        algorithm = "blake3"
        initial_bits = "0x1f00ffff"
        target_block_time = 2
        [[alloc]]
        address = "0x0101010101010101010101010101010101010101010101010101010101010101"
        balance = "1_000"
    "#;

    #[test]
    fn parses_with_defaults() {
        let s = ChainSpec::from_toml(SPEC).unwrap();
        let pow = s.pow().unwrap();
        assert_eq!(pow.algorithm, Algo::Blake3);
        assert_eq!(pow.initial_bits, 0x1f00_ffff);
        assert_eq!(pow.limit_bits, DEFAULT_LIMIT_BITS);
        assert_eq!(pow.half_life(), 288);
        assert_eq!(s.block_gas_limit, DEFAULT_BLOCK_GAS_LIMIT);
        assert_eq!(s.alloc[0].balance, 1000);
        assert_eq!(s.shards, 1);
        // One shard, written or not, is the chain it was before sharding.
        let one = ChainSpec::from_toml(&SPEC.replace("chain_id = 7", "chain_id = 7\nshards = 1")).unwrap();
        assert_eq!(one.digest(), s.digest());
    }

    #[test]
    fn refuses_bad_specs_with_reasons() {
        let cases = [
            (SPEC.replace("target_block_time = 2", "target_block_time = 0"), "at least 1 second"),
            (SPEC.replace("\"0x1f00ffff\"", "\"0x2100ffff\""), "initial_bits"),
            (SPEC.replace("\"0x1f00ffff\"", "\"0x207fffff\"\nlimit_bits = \"0x1f00ffff\""), "easier than"),
            (SPEC.replace("consensus = \"pow\"", "consensus = \"pos\""), "needs a [pos] table"),
            (SPEC.replace("consensus = \"pow\"", "consensus = \"pbft\""), "does not parse"),
            (SPEC.replace("block_reward = 50", "block_reward = -5"), "negative"),
            (SPEC.replace("chain_id = 7", "chain_id = 7\nsurprise = 1"), "unknown field"),
            (SPEC.replace("balance = \"1_000\"", "balance = \"2000000000000000000000000000000000000\""), "2^120"),
            (format!("{SPEC}\n[[alloc]]\naddress = \"0x{}\"\nbalance = 1", "01".repeat(32)), "twice"),
            (SPEC.replace("0x0101", "0x01"), "address"),
            ("not toml".to_string(), "does not parse"),
            (SPEC.replace("chain_id = 7", "chain_id = 7\nshards = 0"), "1 to 64 shards"),
            (SPEC.replace("chain_id = 7", "chain_id = 7\nshards = 65"), "1 to 64 shards"),
        ];
        let base = ChainSpec::from_toml(SPEC).unwrap();
        assert_eq!(base.digest(), ChainSpec::from_toml(SPEC).unwrap().digest());
        for edited in [
            SPEC.replace("chain_id = 7", "chain_id = 8"),
            SPEC.replace("1_000", "1_001"),
            SPEC.replace("block_reward = 50", "block_reward = 51"),
            SPEC.replace("chain_id = 7", "chain_id = 7\nshards = 4"),
        ] {
            assert_ne!(ChainSpec::from_toml(&edited).unwrap().digest(), base.digest(), "{edited}");
        }
        for (text, want) in cases {
            let e = ChainSpec::from_toml(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
    }
}
