//! A validator's signer: its key (`--validator-key FILE`, 0600) and the
//! double-sign guard.
//!
//! Before a proposal or vote leaves the node, the signer writes what it
//! signs — height, round, step, block and the signature — to its state
//! file and fsyncs it (and the directory, for the rename). After a crash,
//! wherever it happened, the signer still knows the last thing it signed
//! and refuses anything that conflicts:
//!
//! - a step at or below the last one (height, round, then proposal <
//!   prevote < precommit) is refused, unless it is exactly the same
//!   message again, which gets the same signature back (a vote re-sent
//!   after a restart is not a double vote);
//! - anything later is signed, persisted, then returned.
//!
//! So a validator killed between persisting a vote and sending it sends
//! that same vote after the restart or nothing, never a different one.
//! A state file that cannot be read is an error, never a fresh start.

use std::io::Write;
use std::path::{Path, PathBuf};

use cinder_engine::sig;
use cinder_primitives::{Hash, ProposalData, SignedProposal, SignedVote, VoteData, VoteType};
use serde::{Deserialize, Serialize};

/// Why the signer refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The message conflicts with one signed before at the same step.
    #[error("refusing to sign: height {height} round {round} step {step} was already signed for another block")]
    Conflict {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// Step (1 proposal, 2 prevote, 3 precommit).
        step: u8,
    },
    /// The message is for an earlier step than one already signed.
    #[error(
        "refusing to sign height {height} round {round} step {step}: already signed height {last_height} round {last_round} step {last_step}"
    )]
    Regression {
        /// Asked.
        height: u64,
        /// Asked.
        round: u32,
        /// Asked.
        step: u8,
        /// Last signed.
        last_height: u64,
        /// Last signed.
        last_round: u32,
        /// Last signed.
        last_step: u8,
    },
    /// The state file could not be written or read.
    #[error("the signer state {path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The state file is not what the signer writes.
    #[error("the signer state {path} is damaged: {why}")]
    Damaged {
        /// Which file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// The last message signed, as persisted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct LastSigned {
    height: u64,
    round: u32,
    step: u8,
    block: Option<String>,
    /// BLAKE3 of the signed bytes: the same message again gets the same
    /// signature back.
    message: String,
    signature: String,
    /// The newest precommit for a block: the value this validator is
    /// locked on in that height (Tendermint's lock must survive a crash).
    #[serde(default)]
    lock: Option<Lock>,
}

/// A precommitted block, as persisted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Lock {
    height: u64,
    round: u32,
    block: String,
}

/// Signs this validator's proposals and votes, never two that conflict.
pub struct Signer {
    key: sig::SecretKey,
    state: PathBuf,
    last: Option<LastSigned>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("public_key", &self.key.public_key()).field("state", &self.state).finish()
    }
}

/// Loads the validator key at `path` (32 raw bytes, an ed25519 seed),
/// creating it (0600) if it does not exist. Refused if others can read it.
pub fn load_or_create_validator_key(path: &Path) -> anyhow::Result<sig::SecretKey> {
    use anyhow::{Context, bail};
    match std::fs::read(path) {
        Ok(bytes) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    bail!(
                        "the validator key {} is readable by others (mode {:o}); chmod 600 it",
                        path.display(),
                        mode & 0o777
                    );
                }
            }
            let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                anyhow::anyhow!("the validator key {} has {} bytes, not 32", path.display(), bytes.len())
            })?;
            Ok(sig::SecretKey::from_seed(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = sig::SecretKey::generate().context("no OS randomness for a validator key")?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(path).with_context(|| format!("creating the validator key {}", path.display()))?;
            f.write_all(key.to_seed().as_ref())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("writing the validator key {}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading the validator key {}", path.display())),
    }
}

const STEP_PROPOSAL: u8 = 1;
const STEP_PREVOTE: u8 = 2;
const STEP_PRECOMMIT: u8 = 3;

impl Signer {
    /// A signer with `key` whose guard state lives at `state` (read if it
    /// exists).
    pub fn open(key: sig::SecretKey, state: PathBuf) -> Result<Signer, SignError> {
        let last = match std::fs::read(&state) {
            Ok(bytes) => Some(
                serde_json::from_slice::<LastSigned>(&bytes)
                    .map_err(|e| SignError::Damaged { path: state.clone(), why: e.to_string() })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(SignError::Io { path: state, source }),
        };
        Ok(Signer { key, state, last })
    }

    /// The validator's public key.
    pub fn public_key(&self) -> sig::PublicKey {
        self.key.public_key()
    }

    /// The round to start `height` at after a restart: the one after the
    /// last round this validator signed anything in at `height` (0 if it
    /// signed nothing there).
    pub fn resume_round(&self, height: u64) -> u32 {
        self.last.as_ref().filter(|l| l.height == height).map_or(0, |l| l.round.saturating_add(1))
    }

    /// The block this validator precommitted last at `height` and the
    /// round, if it did: after a restart it is still locked on it.
    pub fn lock_at(&self, height: u64) -> Option<(Hash, u32)> {
        let l = self.last.as_ref()?.lock.as_ref().filter(|l| l.height == height)?;
        let bytes: [u8; 32] = hex::decode(&l.block).ok()?.try_into().ok()?;
        Some((Hash(bytes), l.round))
    }

    /// Signs `vote` unless it conflicts with what was signed before.
    pub fn sign_vote(&mut self, vote: VoteData) -> Result<SignedVote, SignError> {
        let step = match vote.kind {
            VoteType::Prevote => STEP_PREVOTE,
            VoteType::Precommit => STEP_PRECOMMIT,
        };
        let message = vote.signing_message();
        let signature = self.sign(vote.height, vote.round, step, vote.block, &message)?;
        Ok(SignedVote { data: vote, signature })
    }

    /// Signs `proposal` unless it conflicts with what was signed before.
    pub fn sign_proposal(&mut self, proposal: ProposalData) -> Result<SignedProposal, SignError> {
        let message = proposal.signing_message();
        let signature = self.sign(proposal.height, proposal.round, STEP_PROPOSAL, Some(proposal.block), &message)?;
        Ok(SignedProposal { data: proposal, signature })
    }

    fn sign(
        &mut self,
        height: u64,
        round: u32,
        step: u8,
        block: Option<Hash>,
        message: &[u8],
    ) -> Result<sig::Signature, SignError> {
        let digest = hex::encode(blake3::hash(message).as_bytes());
        if let Some(last) = &self.last {
            let asked = (height, round, step);
            let had = (last.height, last.round, last.step);
            if asked == had {
                if last.message == digest {
                    return self.stored_signature(last);
                }
                return Err(SignError::Conflict { height, round, step });
            }
            if asked < had {
                return Err(SignError::Regression {
                    height,
                    round,
                    step,
                    last_height: last.height,
                    last_round: last.round,
                    last_step: last.step,
                });
            }
        }
        let signature = self.key.sign(message);
        let lock = match block {
            Some(b) if step == STEP_PRECOMMIT => Some(Lock { height, round, block: hex::encode(b.0) }),
            _ => self.last.as_ref().and_then(|l| l.lock.clone()).filter(|l| l.height == height),
        };
        let next = LastSigned {
            height,
            round,
            step,
            block: block.map(|b| hex::encode(b.0)),
            message: digest,
            signature: hex::encode(signature.0),
            lock,
        };
        self.persist(&next)?;
        self.last = Some(next);
        Ok(signature)
    }

    fn stored_signature(&self, last: &LastSigned) -> Result<sig::Signature, SignError> {
        let damaged = |why: &str| SignError::Damaged { path: self.state.clone(), why: why.to_string() };
        let bytes = hex::decode(&last.signature).map_err(|e| damaged(&e.to_string()))?;
        let arr: [u8; 64] = bytes.as_slice().try_into().map_err(|_| damaged("a signature is 64 bytes"))?;
        Ok(sig::Signature(arr))
    }

    /// Writes `next` to a temporary file, fsyncs it, renames it over the
    /// state and fsyncs the directory: after a crash the state is the old
    /// one or the new one, never a torn mix.
    fn persist(&self, next: &LastSigned) -> Result<(), SignError> {
        let io = |source| SignError::Io { path: self.state.clone(), source };
        let json = serde_json::to_vec(next).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = self.state.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&json).and_then(|()| f.sync_all()).map_err(io)?;
        std::fs::rename(&tmp, &self.state).map_err(io)?;
        if let Some(dir) = self.state.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cinder_primitives::CONSENSUS_VERSION;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cinder-signer-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn vote(height: u64, round: u32, kind: VoteType, block: Option<u8>) -> VoteData {
        VoteData {
            version: CONSENSUS_VERSION,
            chain_id: 1,
            height,
            round,
            kind,
            block: block.map(|b| Hash([b; 32])),
            validator: 0,
        }
    }

    #[test]
    fn the_lock_of_the_last_precommit_survives_a_restart() {
        let d = dir("lock");
        let state = d.join("signer.json");
        let key = || sig::SecretKey::from_seed(&[6; 32]);
        let mut s = Signer::open(key(), state.clone()).unwrap();
        s.sign_vote(vote(5, 0, VoteType::Prevote, Some(1))).unwrap();
        assert_eq!(s.lock_at(5), None, "a prevote does not lock");
        s.sign_vote(vote(5, 0, VoteType::Precommit, Some(1))).unwrap();
        drop(s);
        let mut s = Signer::open(key(), state.clone()).unwrap();
        assert_eq!(s.lock_at(5), Some((Hash([1; 32]), 0)));
        assert_eq!(s.lock_at(6), None);
        assert_eq!((s.resume_round(5), s.resume_round(6)), (1, 0), "a restart resumes after the round it signed in");
        // Nil votes keep it; a later precommit for a block replaces it.
        s.sign_vote(vote(5, 1, VoteType::Prevote, None)).unwrap();
        s.sign_vote(vote(5, 1, VoteType::Precommit, None)).unwrap();
        assert_eq!(Signer::open(key(), state.clone()).unwrap().lock_at(5), Some((Hash([1; 32]), 0)));
        s.sign_vote(vote(5, 2, VoteType::Precommit, Some(2))).unwrap();
        assert_eq!(Signer::open(key(), state.clone()).unwrap().lock_at(5), Some((Hash([2; 32]), 2)));
        // The next height starts unlocked.
        s.sign_vote(vote(6, 0, VoteType::Prevote, Some(3))).unwrap();
        assert_eq!(Signer::open(key(), state).unwrap().lock_at(5), None);
    }

    #[test]
    fn no_conflicting_signature_across_a_restart() {
        let d = dir("restart");
        let state = d.join("signer.json");
        let key = || sig::SecretKey::from_seed(&[5; 32]);
        let mut s = Signer::open(key(), state.clone()).unwrap();
        let a = s.sign_vote(vote(3, 0, VoteType::Prevote, Some(1))).unwrap();
        assert!(matches!(s.sign_vote(vote(3, 0, VoteType::Prevote, Some(2))), Err(SignError::Conflict { .. })));
        // "Crash" after persisting, before sending: a new signer from the
        // same files.
        drop(s);
        let mut s = Signer::open(key(), state.clone()).unwrap();
        assert!(matches!(s.sign_vote(vote(3, 0, VoteType::Prevote, None)), Err(SignError::Conflict { .. })));
        // The same vote again: the same signature, so resending is safe.
        assert_eq!(s.sign_vote(vote(3, 0, VoteType::Prevote, Some(1))).unwrap(), a);
        // Later steps go on; earlier ones are refused.
        s.sign_vote(vote(3, 0, VoteType::Precommit, Some(1))).unwrap();
        assert!(matches!(s.sign_vote(vote(3, 0, VoteType::Prevote, Some(1))), Err(SignError::Regression { .. })));
        let p = ProposalData {
            version: CONSENSUS_VERSION,
            chain_id: 1,
            height: 3,
            round: 1,
            block: Hash([4; 32]),
            pol_round: Some(0),
            proposer: 0,
        };
        s.sign_proposal(p.clone()).unwrap();
        assert!(matches!(s.sign_proposal(ProposalData { block: Hash([5; 32]), ..p }), Err(SignError::Conflict { .. })));
        s.sign_vote(vote(4, 0, VoteType::Prevote, None)).unwrap();
        assert!(matches!(s.sign_vote(vote(3, 9, VoteType::Precommit, None)), Err(SignError::Regression { .. })));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_damaged_state_is_an_error_not_a_fresh_start() {
        let d = dir("damaged");
        let state = d.join("signer.json");
        std::fs::write(&state, b"{not json").unwrap();
        let err = Signer::open(sig::SecretKey::from_seed(&[1; 32]), state).unwrap_err();
        assert!(matches!(err, SignError::Damaged { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn validator_keys() {
        let d = dir("keys");
        let path = d.join("validator.key");
        let k = load_or_create_validator_key(&path).unwrap();
        assert_eq!(load_or_create_validator_key(&path).unwrap().public_key(), k.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(load_or_create_validator_key(&path).unwrap_err().to_string().contains("readable by others"));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, [1u8; 5]).unwrap();
        assert!(load_or_create_validator_key(&path).unwrap_err().to_string().contains("not 32"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
