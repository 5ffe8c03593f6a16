//! `cinder wallet ibc`: send tokens over a channel to another chain, move
//! vouchers, and show clients, channels, packets and voucher balances
//! (docs/design/interop.md).

use std::path::Path;

use anyhow::Result;
use cinder_primitives::{BoundedString, IbcOp, NATIVE_DENOM, TxKind};
use cinder_rpc::Client;
use clap::{Args, Subcommand};

use crate::Usage;
use crate::wallet::{ContractTx, TxOpts, WalletArgs, addr, parse_amount, rt, sign_and_send};

/// `cinder wallet ibc`.
#[derive(Debug, Args)]
pub(crate) struct IbcArgs {
    #[command(subcommand)]
    cmd: IbcCmd,
}

#[derive(Debug, Subcommand)]
enum IbcCmd {
    /// Send tokens over an open channel (ICS-20): the native token is
    /// escrowed here, a voucher that came in over the channel is burned.
    Transfer {
        #[command(flatten)]
        tx: ContractTx,
        /// This chain's end of the channel.
        #[arg(long)]
        channel: u64,
        /// The recipient on the other chain.
        #[arg(long)]
        to: String,
        /// How much (smallest unit, or with a `CIN` suffix for the native
        /// token).
        #[arg(long)]
        amount: String,
        /// What: `cin` (the native token) or a voucher's denomination.
        #[arg(long, default_value = NATIVE_DENOM)]
        denom: String,
        /// The other chain's height from which the packet can no longer
        /// arrive (0: none).
        #[arg(long, default_value_t = 0)]
        timeout_height: u64,
        /// Seconds from now after which it can no longer arrive (0: none;
        /// the default when no timeout height is given is 600).
        #[arg(long)]
        timeout_secs: Option<u64>,
        /// Free text carried with it.
        #[arg(long, default_value = "")]
        memo: String,
    },
    /// Move vouchers to another account of this chain.
    SendVoucher {
        #[command(flatten)]
        tx: ContractTx,
        /// The voucher's denomination.
        #[arg(long)]
        denom: String,
        /// The recipient.
        #[arg(long)]
        to: String,
        /// How much.
        #[arg(long)]
        amount: String,
    },
    /// Show a client, a channel (with its packets in flight), or a voucher
    /// balance, as JSON.
    Show {
        /// A client's id.
        #[arg(long)]
        client: Option<u64>,
        /// A channel's id.
        #[arg(long)]
        channel: Option<u64>,
        /// A voucher's denomination (with `--owner`).
        #[arg(long, requires = "owner")]
        voucher: Option<String>,
        /// The voucher's owner.
        #[arg(long, requires = "voucher")]
        owner: Option<String>,
    },
}

fn usage(m: String) -> anyhow::Error {
    anyhow::Error::new(Usage(m))
}

fn bounded<const N: usize>(what: &str, s: &str) -> Result<BoundedString<N>> {
    BoundedString::new(s.to_string()).map_err(|_| usage(format!("{what} is longer than {N} bytes")))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Runs `cinder wallet ibc`.
pub(crate) fn run(a: &WalletArgs, dir: &Path, i: &IbcArgs) -> Result<()> {
    let (tx, op) = match &i.cmd {
        IbcCmd::Transfer { tx, channel, to, amount, denom, timeout_height, timeout_secs, memo } => {
            cinder_chain::ibc::transfer::validate(denom).map_err(|e| usage(format!("--denom: {e}")))?;
            let amount = parse_amount(amount).map_err(|e| usage(format!("--amount: {e:#}")))?;
            let secs = match (timeout_secs, timeout_height) {
                (Some(s), _) => *s,
                (None, 0) => 600,
                (None, _) => 0,
            };
            let timeout_time_ms = if secs == 0 { 0 } else { unix_ms().saturating_add(secs.saturating_mul(1000)) };
            if *timeout_height == 0 && timeout_time_ms == 0 {
                return Err(usage("a transfer needs --timeout-height or --timeout-secs".into()));
            }
            let op = IbcOp::Transfer {
                channel: *channel,
                denom: bounded("--denom", denom)?,
                amount,
                receiver: addr(to).map_err(|e| usage(format!("--to: {e:#}")))?,
                timeout_height: *timeout_height,
                timeout_time_ms,
                memo: bounded("--memo", memo)?,
            };
            (tx, op)
        }
        IbcCmd::SendVoucher { tx, denom, to, amount } => {
            cinder_chain::ibc::transfer::validate(denom).map_err(|e| usage(format!("--denom: {e}")))?;
            let op = IbcOp::SendVoucher {
                denom: bounded("--denom", denom)?,
                to: addr(to).map_err(|e| usage(format!("--to: {e:#}")))?,
                amount: parse_amount(amount).map_err(|e| usage(format!("--amount: {e:#}")))?,
            };
            (tx, op)
        }
        IbcCmd::Show { client, channel, voucher, owner } => return show(a, *client, *channel, voucher, owner),
    };
    let kind = TxKind::Ibc(op);
    let from = addr(&tx.from).map_err(|e| usage(format!("--from: {e:#}")))?;
    let gas_limit = tx.gas_limit.unwrap_or_else(|| cinder_vm::plain_gas(&kind));
    let opts = TxOpts { fee: tx.fee, gas_limit, nonce: tx.nonce, wait: tx.wait };
    sign_and_send(a, dir, from, kind, &opts)
}

fn show(
    a: &WalletArgs,
    client: Option<u64>,
    channel: Option<u64>,
    voucher: &Option<String>,
    owner: &Option<String>,
) -> Result<()> {
    let c = Client::new(&a.rpc)?;
    let v = rt()?.block_on(async {
        let mut out = serde_json::Map::new();
        if let Some(id) = client {
            out.insert("client".into(), serde_json::to_value(c.ibc_client(id, None).await?)?);
        }
        if let Some(id) = channel {
            out.insert("channel".into(), serde_json::to_value(c.ibc_channel(id).await?)?);
            out.insert("packetsInFlight".into(), serde_json::to_value(c.ibc_packets(id, 1, 100).await?)?);
        }
        if let (Some(d), Some(o)) = (voucher, owner) {
            let o = addr(o).map_err(|e| usage(format!("--owner: {e:#}")))?;
            out.insert("voucher".into(), serde_json::to_value(c.ibc_voucher(d, o).await?)?);
        }
        if out.is_empty() {
            out.insert("info".into(), serde_json::to_value(c.ibc_info().await?)?);
        }
        Ok::<_, anyhow::Error>(serde_json::Value::Object(out))
    })?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}
