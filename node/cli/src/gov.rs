//! `cinder wallet gov`: submit a proposal, add to its deposit, vote, and
//! show proposals and the chain parameters (docs/design/governance.md).

use std::path::Path;

use anyhow::{Context, Result};
use cinder_primitives::{
    Bounded, BoundedString, GovOp, MAX_DESCRIPTION_BYTES, MAX_PARAM_CHANGES, MAX_TITLE_BYTES, MAX_UPGRADE_INFO_BYTES,
    MAX_UPGRADE_NAME_BYTES, Param, ProposalAction, ProposalContent, TxKind, UpgradePlan, VoteOption,
};
use cinder_rpc::{Client, methods as m};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::Usage;
use crate::wallet::{ContractTx, TxOpts, WalletArgs, addr, parse_amount, rt, sign_and_send};

/// `cinder wallet gov`.
#[derive(Debug, Args)]
pub(crate) struct GovArgs {
    #[command(subcommand)]
    cmd: GovCmd,
}

#[derive(Debug, Subcommand)]
enum GovCmd {
    /// Submit a proposal with a deposit: text (the default), parameter
    /// changes (`--param name=value`, repeatable), a software upgrade
    /// (`--upgrade NAME --upgrade-height H`), its cancellation
    /// (`--cancel-upgrade NAME`), or a community-pool spend
    /// (`--pool-spend ADDRESS --pool-amount X`).
    Propose {
        #[command(flatten)]
        tx: ContractTx,
        /// A one-line title (at most 140 bytes).
        #[arg(long)]
        title: String,
        /// What and why (at most 8 KiB).
        #[arg(long, default_value = "")]
        description: String,
        /// The initial deposit (smallest unit, or with a `CIN` suffix).
        #[arg(long)]
        deposit: String,
        /// A parameter change, `name=value` (see `cinder wallet gov show`).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// A software upgrade's name (`[a-z0-9._-]`).
        #[arg(long, requires = "upgrade_height")]
        upgrade: Option<String>,
        /// The upgrade's height.
        #[arg(long, requires = "upgrade")]
        upgrade_height: Option<u64>,
        /// Where operators get the upgrade's binary.
        #[arg(long, default_value = "", requires = "upgrade")]
        upgrade_info: String,
        /// Cancel the scheduled upgrade of this name.
        #[arg(long)]
        cancel_upgrade: Option<String>,
        /// Pay from the community pool to this address.
        #[arg(long, requires = "pool_amount")]
        pool_spend: Option<String>,
        /// How much the pool pays.
        #[arg(long, requires = "pool_spend")]
        pool_amount: Option<String>,
    },
    /// Add to a proposal's deposit.
    Deposit {
        #[command(flatten)]
        tx: ContractTx,
        /// The proposal's id.
        #[arg(long)]
        proposal: u64,
        /// How much (smallest unit, or with a `CIN` suffix).
        #[arg(long)]
        amount: String,
    },
    /// Vote on a proposal: yes, no, no_with_veto (veto) or abstain. A
    /// later vote replaces an earlier one.
    Vote {
        #[command(flatten)]
        tx: ContractTx,
        /// The proposal's id.
        #[arg(long)]
        proposal: u64,
        /// The vote.
        #[arg(long)]
        option: String,
    },
    /// A proposal with its tally and votes, or (without `--proposal`) the
    /// chain parameters and every proposal.
    Show {
        /// The proposal's id.
        #[arg(long)]
        proposal: Option<u64>,
    },
}

fn usage(m: String) -> anyhow::Error {
    anyhow::Error::new(Usage(m))
}

fn bounded<const N: usize>(what: &str, s: &str) -> Result<BoundedString<N>> {
    if s.len() > N {
        return Err(usage(format!("{what} is {} bytes, at most {N}", s.len())));
    }
    Ok(BoundedString::truncated(s))
}

/// The action `cmd` proposes.
#[allow(clippy::too_many_arguments, reason = "the command's exclusive options")]
fn action(
    params: &[String],
    upgrade: &Option<String>,
    upgrade_height: Option<u64>,
    upgrade_info: &str,
    cancel_upgrade: &Option<String>,
    pool_spend: &Option<String>,
    pool_amount: &Option<String>,
) -> Result<ProposalAction> {
    let chosen = [!params.is_empty(), upgrade.is_some(), cancel_upgrade.is_some(), pool_spend.is_some()];
    if chosen.iter().filter(|c| **c).count() > 1 {
        return Err(usage("give one of --param, --upgrade, --cancel-upgrade, --pool-spend".into()));
    }
    if !params.is_empty() {
        let mut changes = Vec::with_capacity(params.len());
        for p in params {
            let (name, value) =
                p.split_once('=').ok_or_else(|| usage(format!("--param {p:?}: write it as name=value")))?;
            changes.push(Param::parse(name.trim(), value).map_err(|e| usage(format!("--param {p:?}: {e}")))?);
        }
        let n = changes.len();
        return Bounded::new(changes)
            .map(ProposalAction::ParamChange)
            .map_err(|_| usage(format!("{n} parameter changes, at most {MAX_PARAM_CHANGES}")));
    }
    if let (Some(name), Some(height)) = (upgrade, upgrade_height) {
        if !UpgradePlan::valid_name(name) || name.len() > MAX_UPGRADE_NAME_BYTES {
            return Err(usage(format!("--upgrade {name:?}: 1 to 64 of a-z 0-9 . _ -")));
        }
        return Ok(ProposalAction::Upgrade(UpgradePlan {
            name: BoundedString::truncated(name),
            height,
            info: bounded::<MAX_UPGRADE_INFO_BYTES>("--upgrade-info", upgrade_info)?,
        }));
    }
    if let Some(name) = cancel_upgrade {
        if !UpgradePlan::valid_name(name) || name.len() > MAX_UPGRADE_NAME_BYTES {
            return Err(usage(format!("--cancel-upgrade {name:?}: 1 to 64 of a-z 0-9 . _ -")));
        }
        return Ok(ProposalAction::CancelUpgrade { name: BoundedString::truncated(name) });
    }
    if let (Some(to), Some(amount)) = (pool_spend, pool_amount) {
        let recipient = addr(to).map_err(|e| usage(format!("--pool-spend: {e:#}")))?;
        let amount = parse_amount(amount).map_err(|e| usage(format!("--pool-amount: {e:#}")))?;
        return Ok(ProposalAction::PoolSpend { recipient, amount });
    }
    Ok(ProposalAction::Text)
}

/// `cinder wallet gov ...`.
pub(crate) fn run(a: &WalletArgs, dir: &Path, g: &GovArgs) -> Result<()> {
    let (tx, op) = match &g.cmd {
        GovCmd::Propose {
            tx,
            title,
            description,
            deposit,
            params,
            upgrade,
            upgrade_height,
            upgrade_info,
            cancel_upgrade,
            pool_spend,
            pool_amount,
        } => {
            let action =
                action(params, upgrade, *upgrade_height, upgrade_info, cancel_upgrade, pool_spend, pool_amount)?;
            if title.trim().is_empty() {
                return Err(usage("--title is empty".into()));
            }
            let proposal = Box::new(ProposalContent {
                title: bounded::<MAX_TITLE_BYTES>("--title", title)?,
                description: bounded::<MAX_DESCRIPTION_BYTES>("--description", description)?,
                action,
            });
            let deposit = parse_amount(deposit).map_err(|e| usage(format!("--deposit: {e:#}")))?;
            (tx, GovOp::Submit { proposal, deposit })
        }
        GovCmd::Deposit { tx, proposal, amount } => {
            let amount = parse_amount(amount).map_err(|e| usage(format!("--amount: {e:#}")))?;
            (tx, GovOp::Deposit { proposal: *proposal, amount })
        }
        GovCmd::Vote { tx, proposal, option } => {
            let option = VoteOption::parse(option.trim())
                .ok_or_else(|| usage(format!("--option {option:?}: one of yes, no, no_with_veto (veto), abstain")))?;
            (tx, GovOp::Vote { proposal: *proposal, option })
        }
        GovCmd::Show { proposal } => return show(a, *proposal),
    };
    let kind = TxKind::Gov(op);
    let from = addr(&tx.from).map_err(|e| usage(format!("--from: {e:#}")))?;
    let gas_limit = tx.gas_limit.unwrap_or_else(|| cinder_vm::plain_gas(&kind));
    let opts = TxOpts { fee: tx.fee, gas_limit, nonce: tx.nonce, wait: tx.wait };
    sign_and_send(a, dir, from, kind, &opts)
}

fn show(a: &WalletArgs, proposal: Option<u64>) -> Result<()> {
    let c = Client::new(&a.rpc)?;
    let out = rt()?
        .block_on(async {
            match proposal {
                Some(id) => {
                    let p: Option<serde_json::Value> = c.call(m::GET_PROPOSAL, vec![json!(id)]).await?;
                    let Some(p) = p else { return Err(usage(format!("no proposal {id}"))) };
                    let tally: serde_json::Value = c.call(m::GET_TALLY, vec![json!(id)]).await?;
                    let votes: serde_json::Value = c.call(m::GET_VOTES, vec![json!(id)]).await?;
                    Ok(json!({"proposal": p, "tally": tally, "votes": votes}))
                }
                None => {
                    let params: serde_json::Value = c.call(m::GET_PARAMS, vec![]).await?;
                    let proposals: serde_json::Value = c.call(m::GET_PROPOSALS, vec![]).await?;
                    Ok(json!({"params": params, "proposals": proposals}))
                }
            }
        })
        .context("asking the node")?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
