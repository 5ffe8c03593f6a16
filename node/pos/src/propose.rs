//! The consensus fields of a block a validator proposes: time, round,
//! proposer, VRF proof and the seed after it, and the parent's
//! certificate.

use cinder_consensus::{ConsensusInvalid, Pos, Proposal};
use cinder_engine::sig::SecretKey;
use cinder_primitives::{CONSENSUS_VERSION, CommitCertificate, Hash, Header, PosHeaderData, commit_hash};

/// The consensus fields for a block at `height`, `round` on `parent`
/// (id `parent_id`), proposed by validator `proposer` with `key` at local
/// time `now_ms`, carrying `last_commit` (the parent's certificate; `None`
/// on genesis).
#[expect(clippy::too_many_arguments, reason = "the proposal's parts, each needed")]
pub fn proposal_fields(
    pos: &Pos,
    chain_id: u64,
    key: &SecretKey,
    proposer: u16,
    parent: &Header,
    parent_id: &Hash,
    round: u32,
    now_ms: u64,
    last_commit: Option<&CommitCertificate>,
) -> Result<Proposal, ConsensusInvalid> {
    let (parent_seed, parent_ms) = pos.parent_seed_and_time(parent, parent_id)?;
    let height = parent.height().saturating_add(1);
    let input = PosHeaderData::vrf_input(chain_id, height, &parent_seed);
    let (vrf_proof, output) = key.vrf_prove(&input).map_err(|e| ConsensusInvalid::Vrf(e.to_string()))?;
    let time_ms = now_ms.max(parent_ms.saturating_add(1));
    let data = PosHeaderData {
        version: CONSENSUS_VERSION,
        time_ms,
        round,
        proposer,
        vrf_proof,
        seed: PosHeaderData::next_seed(&parent_seed, &output),
        last_commit: commit_hash(last_commit),
    };
    Ok(Proposal { time: u32::try_from(time_ms / 1000).unwrap_or(u32::MAX), bits: 0, consensus_data: data.to_bytes() })
}
