//! Contracts from the command line: typed arguments in the SDK's encoding
//! (borsh's rules), `cinder contract query|code|storage|logs`, and what
//! `cinder wallet deploy|call|migrate|set-admin` send.

use std::path::Path;

use anyhow::{Context, Result, bail};
use cinder_primitives::{Address, Hash};
use cinder_rpc::{CallRequest, Client, LogFilter, OneOrMany};
use clap::{Args, Subcommand};

use crate::Usage;

/// Arguments given either as raw hex or as typed values.
#[derive(Debug, Args, Clone)]
pub(crate) struct ArgsInput {
    /// The input as hex (the encoded arguments).
    #[arg(long, conflicts_with = "arg")]
    pub(crate) args: Option<String>,
    /// A typed argument, in order, encoded as the SDK decodes it: `u8`,
    /// `u16`, `u32`, `u64`, `u128`, `i32`, `i64`, `bool`, `address`,
    /// `bytes32`, `bytes` (hex), `string`, `amount` (u128, `1.5CIN`
    /// allowed), `none`, or `some:TYPE:VALUE`; e.g. `--arg address:0x… --arg
    /// u128:1000`.
    #[arg(long = "arg", value_name = "TYPE:VALUE")]
    pub(crate) arg: Vec<String>,
}

impl ArgsInput {
    /// The encoded input (bad input: a [`Usage`] error).
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        if let Some(h) = &self.args {
            return parse_hex(h, "--args");
        }
        let mut out = Vec::new();
        for a in &self.arg {
            encode_arg(a, &mut out).map_err(|e| Usage(format!("--arg {a:?}: {e}")))?;
        }
        Ok(out)
    }
}

/// Hex (with or without `0x`) to bytes, or a usage error naming `what`.
pub(crate) fn parse_hex(s: &str, what: &str) -> Result<Vec<u8>> {
    Ok(hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| Usage(format!("{what} is not hex: {e}")))?)
}

/// An address, or a usage error naming `what`.
pub(crate) fn parse_address(s: &str, what: &str) -> Result<Address> {
    Ok(Address::from_hex(s).map_err(|e| Usage(format!("{what} {s:?}: {e}")))?)
}

fn encode_arg(spec: &str, out: &mut Vec<u8>) -> Result<(), String> {
    if spec == "none" {
        out.push(0);
        return Ok(());
    }
    let (ty, value) = spec.split_once(':').ok_or("expected TYPE:VALUE")?;
    if ty == "some" {
        out.push(1);
        return encode_arg(value, out);
    }
    let int = |v: &str| -> Result<u128, String> { v.parse::<u128>().map_err(|e| format!("{v:?}: {e}")) };
    let fit = |n: u128, bytes: usize| -> Result<Vec<u8>, String> {
        if bytes < 16 && n >> (bytes * 8) != 0 {
            return Err(format!("{n} does not fit {} bits", bytes * 8));
        }
        Ok(n.to_le_bytes()[..bytes].to_vec())
    };
    match ty {
        "u8" => out.extend(fit(int(value)?, 1)?),
        "u16" => out.extend(fit(int(value)?, 2)?),
        "u32" => out.extend(fit(int(value)?, 4)?),
        "u64" => out.extend(fit(int(value)?, 8)?),
        "u128" => out.extend(fit(int(value)?, 16)?),
        "amount" => out.extend(crate::wallet::parse_amount(value).map_err(|e| e.to_string())?.to_le_bytes()),
        "i32" => out.extend(value.parse::<i32>().map_err(|e| format!("{value:?}: {e}"))?.to_le_bytes()),
        "i64" => out.extend(value.parse::<i64>().map_err(|e| format!("{value:?}: {e}"))?.to_le_bytes()),
        "bool" => out.push(match value {
            "true" => 1,
            "false" => 0,
            _ => return Err(format!("{value:?} is not true or false")),
        }),
        "address" => out.extend(Address::from_hex(value)?.0),
        "bytes32" => out.extend(Hash::from_hex(value)?.0),
        "bytes" => {
            let b = hex::decode(value.strip_prefix("0x").unwrap_or(value)).map_err(|e| format!("not hex: {e}"))?;
            out.extend(u32::try_from(b.len()).map_err(|_| "too long")?.to_le_bytes());
            out.extend(b);
        }
        "string" => {
            out.extend(u32::try_from(value.len()).map_err(|_| "too long")?.to_le_bytes());
            out.extend(value.as_bytes());
        }
        other => return Err(format!("unknown type {other:?}")),
    }
    Ok(())
}

/// Reads the output a piece at a time.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let b = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or_else(|| format!("the output ends at byte {}, {n} more needed", self.at))?;
        self.at += n;
        Ok(b)
    }
    fn uint(&mut self, n: usize) -> Result<u128, String> {
        let mut a = [0u8; 16];
        a[..n].copy_from_slice(self.take(n)?);
        Ok(u128::from_le_bytes(a))
    }
}

/// Decodes `bytes` as the comma-separated `types` into JSON values
/// (u128 as decimal strings); trailing bytes are an error.
pub(crate) fn decode_values(types: &str, bytes: &[u8]) -> Result<Vec<serde_json::Value>, String> {
    let mut c = Cursor { bytes, at: 0 };
    let mut out = Vec::new();
    for ty in split_list(types, ',') {
        out.push(decode_one(ty, &mut c)?);
    }
    if c.at != bytes.len() {
        return Err(format!("{} bytes left after {types}", bytes.len() - c.at));
    }
    Ok(out)
}

fn decode_one(ty: &str, c: &mut Cursor<'_>) -> Result<serde_json::Value, String> {
    use serde_json::json;
    Ok(match ty {
        "u8" => json!(u64::try_from(c.uint(1)?).unwrap_or_default()),
        "u16" => json!(u64::try_from(c.uint(2)?).unwrap_or_default()),
        "u32" => json!(u64::try_from(c.uint(4)?).unwrap_or_default()),
        "u64" => json!(u64::try_from(c.uint(8)?).unwrap_or_default()),
        "u128" | "amount" => json!(c.uint(16)?.to_string()),
        "i32" => json!(i32::from_le_bytes(c.take(4)?.try_into().map_err(|_| "i32")?)),
        "i64" => json!(i64::from_le_bytes(c.take(8)?.try_into().map_err(|_| "i64")?)),
        "bool" => json!(c.take(1)?[0] != 0),
        "address" | "bytes32" => json!(format!("0x{}", hex::encode(c.take(32)?))),
        "bytes" => {
            let n = usize::try_from(c.uint(4)?).map_err(|_| "a length above usize")?;
            json!(format!("0x{}", hex::encode(c.take(n)?)))
        }
        "string" => {
            let n = usize::try_from(c.uint(4)?).map_err(|_| "a length above usize")?;
            json!(String::from_utf8_lossy(c.take(n)?))
        }
        _ if ty.starts_with("option<") && ty.ends_with('>') => match c.take(1)?[0] {
            0 => serde_json::Value::Null,
            _ => decode_one(&ty[7..ty.len() - 1], c)?,
        },
        _ if ty.starts_with("vec<") && ty.ends_with('>') => {
            let n = usize::try_from(c.uint(4)?).map_err(|_| "a length above usize")?;
            let inner = &ty[4..ty.len() - 1];
            let mut items = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                items.push(decode_one(inner, c)?);
            }
            json!(items)
        }
        _ if ty.starts_with('(') && ty.ends_with(')') => {
            let mut items = Vec::new();
            for t in split_list(&ty[1..ty.len() - 1], ';') {
                items.push(decode_one(t, c)?);
            }
            json!(items)
        }
        other => return Err(format!("unknown type {other:?}")),
    })
}

/// Splits `s` at `sep` outside brackets (tuple members are separated by
/// `;` so that lists of types stay comma-separated).
fn split_list(s: &str, sep: char) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0usize, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' => depth -= 1,
            c if c == sep && depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

/// Reads a `.wasm` file, refusing what is not WebAssembly.
pub(crate) fn read_wasm(path: &Path) -> Result<Vec<u8>> {
    let code = std::fs::read(path).map_err(|e| Usage(format!("--wasm {}: {e}", path.display())))?;
    if !code.starts_with(b"\0asm") {
        return Err(Usage(format!("--wasm {}: not a WebAssembly module (no \\0asm header)", path.display())).into());
    }
    if code.len() > cinder_primitives::MAX_CODE_BYTES {
        return Err(Usage(format!(
            "--wasm {}: {} bytes, at most {} (optimise for size: opt-level=z, strip)",
            path.display(),
            code.len(),
            cinder_primitives::MAX_CODE_BYTES
        ))
        .into());
    }
    Ok(code)
}

/// `cinder contract`.
#[derive(Debug, Args)]
pub(crate) struct ContractArgs {
    #[command(subcommand)]
    cmd: ContractCmd,
    /// The node's RPC URL.
    #[arg(long, global = true, env = "CINDER_RPC", default_value = "http://127.0.0.1:8545")]
    rpc: String,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum ContractCmd {
    /// Run a method read-only (nothing is sent or kept).
    Query {
        /// The contract.
        #[arg(long)]
        contract: String,
        /// The method.
        #[arg(long)]
        method: String,
        #[command(flatten)]
        input: ArgsInput,
        /// The caller the contract sees (default: the zero address).
        #[arg(long)]
        from: Option<String>,
        /// The block whose state to use (default: the head).
        #[arg(long)]
        block: Option<u64>,
        /// Decode the output as these comma-separated types (`u128`,
        /// `address`, `string`, `option<u64>`, `vec<(address;u128)>`, ...).
        #[arg(long)]
        returns: Option<String>,
    },
    /// A contract's code hash, admin and creator (`--out FILE` writes the
    /// code).
    Code {
        /// The contract.
        #[arg(long)]
        contract: String,
        /// Write the WebAssembly here.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// One entry of a contract's storage.
    Storage {
        /// The contract.
        #[arg(long)]
        contract: String,
        /// The key, hex.
        #[arg(long)]
        key: String,
    },
    /// Events of canonical blocks.
    Logs {
        /// The contract.
        #[arg(long)]
        contract: Option<String>,
        /// Topic 0 (hex, 32 bytes), or `name:Transfer` for BLAKE3 of a name.
        #[arg(long)]
        topic: Option<String>,
        /// First block (default: the head).
        #[arg(long)]
        from_block: Option<u64>,
        /// Last block (default: the head).
        #[arg(long)]
        to_block: Option<u64>,
    },
}

fn rt() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

/// A topic given as hex or `name:NAME` (BLAKE3 of the name, as the SDK's
/// `topic`).
pub(crate) fn parse_topic(s: &str) -> Result<Hash> {
    match s.strip_prefix("name:") {
        Some(name) => Ok(Hash::of(name.as_bytes())),
        None => Ok(Hash::from_hex(s).map_err(|e| Usage(format!("--topic {s:?}: {e}")))?),
    }
}

/// `cinder contract ...`.
pub(crate) fn run(a: ContractArgs) -> Result<()> {
    let c = Client::new(&a.rpc)?;
    match &a.cmd {
        ContractCmd::Query { contract, method, input, from, block, returns } => {
            let req = CallRequest {
                from: from.as_deref().map(|f| parse_address(f, "--from")).transpose()?,
                to: Some(parse_address(contract, "--contract")?),
                method: Some(method.clone()),
                args: Some(format!("0x{}", hex::encode(input.encode()?))),
                ..CallRequest::default()
            };
            let r = rt()?.block_on(c.call_contract(&req, *block))?;
            if r.status != "success" {
                let why = r.reason.clone().unwrap_or_default();
                if a.json {
                    say!("{}", serde_json::to_string_pretty(&r)?);
                }
                return Err(Usage(format!("the call {}: {why}", r.status)).into());
            }
            let output = parse_hex(&r.output, "the output")?;
            let decoded = match returns {
                Some(t) => Some(decode_values(t, &output).map_err(|e| Usage(format!("--returns {t}: {e}")))?),
                None => None,
            };
            if a.json {
                let mut v = serde_json::to_value(&r)?;
                if let Some(d) = &decoded {
                    v["decoded"] = serde_json::json!(d);
                }
                say!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                match decoded {
                    Some(d) => say!("{}", d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ")),
                    None => say!("{}", r.output),
                }
                eprintln!("gas used {}, block {}", r.gas_used, r.block_number);
            }
        }
        ContractCmd::Code { contract, out } => {
            let contract = parse_address(contract, "--contract")?;
            let Some(code) = rt()?.block_on(c.code(contract))? else {
                return Err(Usage(format!("no contract at {contract}")).into());
            };
            if let Some(path) = out {
                let bytes = parse_hex(&code.code, "the code")?;
                std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
            }
            if a.json {
                let mut v = serde_json::to_value(&code)?;
                v["code"] = serde_json::json!(format!("{} bytes", (code.code.len() - 2) / 2));
                say!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                say!("code hash {} ({} bytes)", code.code_hash, (code.code.len() - 2) / 2);
                say!("admin {}", code.admin.map_or("none (immutable)".into(), |a| a.to_string()));
                say!("creator {}", code.creator);
            }
        }
        ContractCmd::Storage { contract, key } => {
            let contract = parse_address(contract, "--contract")?;
            let key = parse_hex(key, "--key")?;
            let v = rt()?.block_on(c.storage_at(contract, &key))?;
            match (v, a.json) {
                (v, true) => say!("{}", serde_json::json!({ "value": v })),
                (Some(v), false) => say!("{v}"),
                (None, false) => bail!(Usage("no such entry".into())),
            }
        }
        ContractCmd::Logs { contract, topic, from_block, to_block } => {
            let filter = LogFilter {
                from_block: *from_block,
                to_block: *to_block,
                address: contract.as_deref().map(|c| parse_address(c, "--contract")).transpose()?.map(OneOrMany::One),
                topics: match topic {
                    Some(t) => vec![Some(OneOrMany::One(parse_topic(t)?))],
                    None => Vec::new(),
                },
            };
            let logs = rt()?.block_on(c.logs(&filter))?;
            if a.json {
                say!("{}", serde_json::to_string_pretty(&logs)?);
            } else {
                for l in logs {
                    let topics: Vec<String> = l.topics.iter().map(|t| t.to_string()).collect();
                    say!(
                        "block {} tx {} log {} {} [{}] {}",
                        l.block_number,
                        l.transaction_index,
                        l.log_index,
                        l.address,
                        topics.join(", "),
                        l.data
                    );
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_arguments_encode_as_the_sdk_decodes_them() {
        let input = ArgsInput {
            args: None,
            arg: vec![
                "u64:7".into(),
                "u128:1000".into(),
                "bool:true".into(),
                "string:hi".into(),
                "bytes:0x0102".into(),
                "none".into(),
                "some:u8:9".into(),
                "amount:1.5CIN".into(),
            ],
        };
        let mut want = 7u64.to_le_bytes().to_vec();
        want.extend(1000u128.to_le_bytes());
        want.push(1);
        want.extend(2u32.to_le_bytes());
        want.extend(b"hi");
        want.extend(2u32.to_le_bytes());
        want.extend([1, 2]);
        want.push(0);
        want.extend([1, 9]);
        want.extend((15u128 * 10u128.pow(17)).to_le_bytes());
        assert_eq!(input.encode().unwrap(), want);
        let decoded = decode_values("u64,u128,bool,string,bytes,option<u8>,option<u8>,amount", &want).unwrap();
        assert_eq!(
            serde_json::json!(decoded),
            serde_json::json!([7, "1000", true, "hi", "0x0102", null, 9, "1500000000000000000"])
        );
        for bad in ["u8:256", "u64:-1", "bool:yes", "address:0x12", "nope:1", "u32", "bytes:zz"] {
            let i = ArgsInput { args: None, arg: vec![bad.into()] };
            assert!(i.encode().is_err(), "{bad}");
        }
        assert!(decode_values("u64", &[1, 2]).is_err(), "short");
        assert!(decode_values("u8", &[1, 2]).is_err(), "trailing");
        let pairs = [
            2u32.to_le_bytes().to_vec(),
            [3u8; 32].to_vec(),
            5u128.to_le_bytes().to_vec(),
            [4u8; 32].to_vec(),
            6u128.to_le_bytes().to_vec(),
        ]
        .concat();
        let v = decode_values("vec<(address;u128)>", &pairs).unwrap();
        assert_eq!(v[0][1][1], serde_json::json!("6"));
    }
}
