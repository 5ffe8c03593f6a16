//! `cinder wallet`: an encrypted keystore and the RPC calls a user needs.
//!
//! A key file holds one ed25519 seed encrypted like Ethereum's keystore
//! v3, with modern parts: scrypt (memory-hard; N = 2^17, r = 8, p = 1 by
//! default) derives a 256-bit key from the password and a random salt;
//! ChaCha20-Poly1305 encrypts the seed under a random nonce, authenticating
//! the address as associated data. Files are created 0600 in a 0700
//! directory, never overwritten. Passwords come from a prompt or a file,
//! never from the command line.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use cinder_engine::sig::SecretKey;
use cinder_primitives::{Address, Hash, StakeOp, Transaction, TxKind};
use cinder_rpc::Client;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::config::{DEVNET_ACCOUNTS, DEVNET_SEED, data_home};

/// `cinder wallet`.
#[derive(Debug, Args)]
pub(crate) struct WalletArgs {
    #[command(subcommand)]
    cmd: WalletCmd,
    /// The keystore directory (default: the user's data directory,
    /// cinder/keystore).
    #[arg(long, global = true, env = "CINDER_KEYSTORE")]
    keystore: Option<PathBuf>,
    /// The node's RPC URL.
    #[arg(long, global = true, env = "CINDER_RPC", default_value = "http://127.0.0.1:8545")]
    pub(crate) rpc: String,
    /// Read the password from this file (first line) instead of a prompt.
    #[arg(long, global = true, env = "CINDER_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum WalletCmd {
    /// Create a key.
    New(NewArgs),
    /// Add an existing key: from a file holding its 32-byte seed in hex, a
    /// hidden prompt, or a devnet account.
    Import(ImportArgs),
    /// List the keystore's addresses.
    List,
    /// An address's balance and nonce.
    Balance {
        /// The address (0x hex).
        address: String,
    },
    /// Sign and send a transfer.
    Send(SendArgs),
    /// A transaction and its receipt.
    Tx {
        /// The transaction hash.
        hash: String,
    },
    /// Staking (proof-of-stake chains): become a validator, delegate,
    /// undelegate, withdraw rewards, or show a stake.
    Stake(StakeArgs),
    /// Governance (proof-of-stake chains): propose, deposit, vote, show
    /// proposals and the chain parameters.
    Gov(crate::gov::GovArgs),
    /// Inter-blockchain transfers: send tokens over a channel, move
    /// vouchers, show clients, channels and voucher balances.
    Ibc(crate::ibc::IbcArgs),
    /// Deploy a contract (a `.wasm` file); prints the transaction hash and
    /// the contract's address.
    Deploy {
        #[command(flatten)]
        tx: ContractTx,
        /// The WebAssembly module.
        #[arg(long)]
        wasm: PathBuf,
        #[command(flatten)]
        input: crate::contract::ArgsInput,
        /// Value moved to the contract (smallest unit, or with `CIN`).
        #[arg(long)]
        value: Option<String>,
        /// Who may migrate it (default: nobody, the code is immutable).
        #[arg(long)]
        admin: Option<String>,
    },
    /// Call a contract's method in a transaction.
    Call {
        #[command(flatten)]
        tx: ContractTx,
        /// The contract.
        #[arg(long)]
        contract: String,
        /// The method.
        #[arg(long)]
        method: String,
        #[command(flatten)]
        input: crate::contract::ArgsInput,
        /// Value moved to the contract (smallest unit, or with `CIN`).
        #[arg(long)]
        value: Option<String>,
    },
    /// Move a contract to new code and run its `migrate` (the admin only).
    Migrate {
        #[command(flatten)]
        tx: ContractTx,
        /// The contract.
        #[arg(long)]
        contract: String,
        /// The new WebAssembly module.
        #[arg(long)]
        wasm: PathBuf,
        #[command(flatten)]
        input: crate::contract::ArgsInput,
    },
    /// Change a contract's admin, or clear it (`--clear`: the code can
    /// never change again).
    SetAdmin {
        #[command(flatten)]
        tx: ContractTx,
        /// The contract.
        #[arg(long)]
        contract: String,
        /// The new admin.
        #[arg(long, conflicts_with = "clear", required_unless_present = "clear")]
        admin: Option<String>,
        /// No admin from now on.
        #[arg(long)]
        clear: bool,
    },
}

/// What every contract and governance transaction takes.
#[derive(Debug, Args)]
pub(crate) struct ContractTx {
    /// The sender (a keystore address).
    #[arg(long)]
    pub(crate) from: String,
    /// Gas price (default: the node's `cinder_gasPrice`).
    #[arg(long)]
    pub(crate) fee: Option<u64>,
    /// Gas limit (default: a contract's estimate by the node plus a fifth;
    /// what a governance operation uses).
    #[arg(long)]
    pub(crate) gas_limit: Option<u64>,
    /// Nonce (default: the sender's next, from the node).
    #[arg(long)]
    pub(crate) nonce: Option<u64>,
    /// Wait up to this many seconds for the receipt.
    #[arg(long)]
    pub(crate) wait: Option<u64>,
}

#[derive(Debug, Args)]
struct StakeArgs {
    #[command(subcommand)]
    cmd: StakeCmd,
}

#[derive(Debug, Subcommand)]
enum StakeCmd {
    /// Become a validator's operator, bonding a self-stake. The consensus
    /// key is the one `cinder node --validator-key FILE` signs with.
    Create {
        #[command(flatten)]
        tx: StakeTx,
        /// The validator key file (32-byte seed, 0600; created if missing,
        /// for the node to use).
        #[arg(long, conflicts_with = "consensus_key")]
        validator_key: Option<PathBuf>,
        /// Or the consensus public key itself (0x hex, 32 bytes).
        #[arg(long)]
        consensus_key: Option<String>,
        /// The operator's cut of rewards in basis points (100 = 1 %).
        #[arg(long, default_value_t = 0)]
        commission_bps: u16,
        /// The self-stake (smallest unit, or with a `CIN` suffix).
        #[arg(long)]
        amount: String,
    },
    /// Bond tokens to a validator (its operator address); an operator
    /// bonding to its own validator adds self-stake (`bond`).
    #[command(visible_alias = "bond")]
    Delegate {
        #[command(flatten)]
        tx: StakeTx,
        /// The validator's operator address.
        #[arg(long)]
        validator: String,
        /// How much (smallest unit, or with a `CIN` suffix).
        #[arg(long)]
        amount: String,
    },
    /// Start unbonding tokens from a validator; they are paid after the
    /// unbonding period (`unbond`).
    #[command(visible_alias = "unbond")]
    Undelegate {
        #[command(flatten)]
        tx: StakeTx,
        /// The validator's operator address.
        #[arg(long)]
        validator: String,
        /// How much (smallest unit, or with a `CIN` suffix).
        #[arg(long)]
        amount: String,
    },
    /// Pay out rewards earned from a validator (an operator also gets its
    /// commission).
    Withdraw {
        #[command(flatten)]
        tx: StakeTx,
        /// The validator's operator address.
        #[arg(long)]
        validator: String,
    },
    /// A validator's pool and, with `--delegator`, a stake in it.
    Show {
        /// The validator's operator address.
        #[arg(long)]
        validator: String,
        /// A delegator's address.
        #[arg(long)]
        delegator: Option<String>,
    },
}

/// What every staking transaction takes.
#[derive(Debug, Args)]
struct StakeTx {
    /// The sender (a keystore address).
    #[arg(long)]
    from: String,
    /// Gas price (default: the node's `cinder_gasPrice`).
    #[arg(long)]
    fee: Option<u64>,
    /// Gas limit.
    #[arg(long, default_value_t = cinder_chain::vm::STAKE_GAS)]
    gas_limit: u64,
    /// Nonce (default: the sender's next, from the node).
    #[arg(long)]
    nonce: Option<u64>,
    /// Wait up to this many seconds for the receipt.
    #[arg(long)]
    wait: Option<u64>,
}

#[derive(Debug, Args)]
struct NewArgs {
    /// scrypt cost as log2(N), 10..=20 (lower is faster and weaker; tests
    /// use 12).
    #[arg(long, default_value_t = 17, value_parser = clap::value_parser!(u8).range(10..=20))]
    scrypt_log_n: u8,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// A file with the seed as 64 hex digits.
    #[arg(long, conflicts_with = "devnet")]
    secret_file: Option<PathBuf>,
    /// Development account i's key (public: for the devnet only).
    #[arg(long)]
    devnet: Option<u64>,
    #[arg(long, default_value_t = 17, value_parser = clap::value_parser!(u8).range(10..=20))]
    scrypt_log_n: u8,
}

#[derive(Debug, Args)]
struct SendArgs {
    /// The sender (a keystore address).
    #[arg(long)]
    from: String,
    /// The recipient.
    #[arg(long)]
    to: String,
    /// The amount: an integer in the smallest unit, or with a `CIN` suffix
    /// in whole coins (18 decimals), e.g. `1.5CIN`.
    #[arg(long)]
    amount: String,
    /// Gas price (default: the node's `cinder_gasPrice`).
    #[arg(long)]
    fee: Option<u64>,
    /// Gas limit.
    #[arg(long, default_value_t = 21_000)]
    gas_limit: u64,
    /// Nonce (default: the sender's next, from the node).
    #[arg(long)]
    nonce: Option<u64>,
    /// Wait up to this many seconds for the receipt.
    #[arg(long)]
    wait: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KdfParams {
    log_n: u8,
    r: u32,
    p: u32,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Crypto {
    kdf: String,
    kdfparams: KdfParams,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

/// A key file.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyFile {
    version: u32,
    address: Address,
    crypto: Crypto,
}

fn derive(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32) -> Result<Zeroizing<[u8; 32]>> {
    let params = scrypt::Params::new(log_n, r, p, 32).map_err(|e| anyhow::anyhow!("scrypt parameters: {e}"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, salt, &params, key.as_mut()).map_err(|e| anyhow::anyhow!("scrypt: {e}"))?;
    Ok(key)
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("the OS random source: {e}"))?;
    Ok(b)
}

/// Encrypts `key` under `password`.
fn seal(key: &SecretKey, password: &[u8], log_n: u8) -> Result<KeyFile> {
    let address = Address::from_public_key(&key.public_key());
    let salt: [u8; 32] = random()?;
    let nonce: [u8; 12] = random()?;
    let dk = derive(password, &salt, log_n, 8, 1)?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(dk.as_ref()));
    let seed = key.to_seed();
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: seed.as_ref(), aad: &address.0 })
        .map_err(|_| anyhow::anyhow!("encrypting the key"))?;
    Ok(KeyFile {
        version: 1,
        address,
        crypto: Crypto {
            kdf: "scrypt".into(),
            kdfparams: KdfParams { log_n, r: 8, p: 1, salt: hex::encode(salt) },
            cipher: "chacha20poly1305".into(),
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ct),
        },
    })
}

/// Decrypts a key file.
fn open(file: &KeyFile, password: &[u8]) -> Result<SecretKey> {
    let c = &file.crypto;
    if file.version != 1 || c.kdf != "scrypt" || c.cipher != "chacha20poly1305" {
        bail!("unsupported key file (version {}, kdf {}, cipher {})", file.version, c.kdf, c.cipher);
    }
    let k = &c.kdfparams;
    // scrypt holds 128 x r x 2^logN bytes: at most 1 GiB, so a damaged or
    // hostile key file cannot make the wallet exhaust memory.
    let memory = 128u64.saturating_mul(u64::from(k.r)).saturating_mul(1u64 << k.log_n.min(63));
    if !(10..=22).contains(&k.log_n) || k.r == 0 || k.r > 32 || k.p == 0 || k.p > 16 || memory > 1 << 30 {
        bail!("implausible scrypt parameters in the key file (logN {}, r {}, p {})", k.log_n, k.r, k.p);
    }
    let salt = hex::decode(&k.salt).context("salt")?;
    let nonce: [u8; 12] =
        hex::decode(&c.nonce).ok().and_then(|n| n.try_into().ok()).context("the nonce is not 12 bytes of hex")?;
    let ct = hex::decode(&c.ciphertext).context("ciphertext")?;
    let dk = derive(password, &salt, k.log_n, k.r, k.p)?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(dk.as_ref()));
    let seed = Zeroizing::new(
        cipher
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad: &file.address.0 })
            .map_err(|_| anyhow::anyhow!("wrong password, or the key file is damaged"))?,
    );
    let seed: [u8; 32] = seed.as_slice().try_into().context("the decrypted seed is not 32 bytes")?;
    let key = SecretKey::from_seed(&seed);
    if Address::from_public_key(&key.public_key()) != file.address {
        bail!("the key file's address does not match its key");
    }
    Ok(key)
}

fn keystore_dir(a: &WalletArgs) -> Result<PathBuf> {
    match &a.keystore {
        Some(d) => Ok(d.clone()),
        None => Ok(data_home()?.join("keystore")),
    }
}

/// Writes `file` as DIR/<address>.json, mode 0600, never replacing one.
fn store(dir: &Path, file: &KeyFile) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
    }
    let path = dir.join(format!("{}.json", file.address));
    let tmp = dir.join(format!(".{}.json.tmp", file.address));
    let json = serde_json::to_vec_pretty(file)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    if path.exists() {
        bail!("{} is already in the keystore", file.address);
    }
    let _ = std::fs::remove_file(&tmp);
    let mut f = opts.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(&json)?;
    f.sync_all()?;
    drop(f);
    // A hard link fails if the name exists: never overwrite a key.
    std::fs::hard_link(&tmp, &path).with_context(|| format!("{} is already in the keystore", file.address))?;
    std::fs::remove_file(&tmp)?;
    Ok(path)
}

fn load(dir: &Path, address: &Address) -> Result<KeyFile> {
    let path = dir.join(format!("{address}.json"));
    let text = std::fs::read(&path).with_context(|| format!("no key for {address} in {}", dir.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("the key file {}", path.display()))
}

/// The key in `path`: a keystore file (opened with the first line of
/// `password_file`) or a file holding a 32-byte seed in hex.
pub(crate) fn key_from_file(path: &Path, password_file: Option<&Path>) -> Result<SecretKey> {
    let text = Zeroizing::new(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?);
    if let Ok(file) = serde_json::from_str::<KeyFile>(&text) {
        let Some(p) = password_file else {
            bail!("{} is a keystore file: give its password with --password-file", path.display())
        };
        let pw = Zeroizing::new(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?);
        return open(&file, pw.lines().next().unwrap_or("").as_bytes());
    }
    seed_from_hex(text.trim())
        .with_context(|| format!("{} holds neither a keystore file nor a hex seed", path.display()))
}

fn password(a: &WalletArgs, confirm: bool) -> Result<Zeroizing<String>> {
    if let Some(p) = &a.password_file {
        let text = Zeroizing::new(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?);
        let line = text.lines().next().unwrap_or("").to_string();
        if line.is_empty() {
            bail!("the password file {} is empty", p.display());
        }
        return Ok(Zeroizing::new(line));
    }
    let pw = Zeroizing::new(rpassword::prompt_password("Password: ").context("reading the password")?);
    if pw.is_empty() {
        bail!("an empty password");
    }
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("Again: ").context("reading the password")?);
        if *again != *pw {
            bail!("the passwords differ");
        }
    }
    Ok(pw)
}

/// Parses `123` (smallest units) or `1.5CIN` (whole coins, 18 decimals).
pub(crate) fn parse_amount(s: &str) -> Result<u128> {
    let t = s.trim();
    let Some(coins) = t.strip_suffix("CIN").or_else(|| t.strip_suffix("cin")) else {
        return t.parse().with_context(|| format!("amount {s:?}: an integer, or a decimal with a CIN suffix"));
    };
    let (whole, frac) = coins.trim().split_once('.').unwrap_or((coins.trim(), ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) || !whole.bytes().all(|b| b.is_ascii_digit()) {
        bail!("amount {s:?}: digits, one decimal point, and the CIN suffix");
    }
    if frac.len() > 18 || whole.is_empty() && frac.is_empty() {
        bail!("amount {s:?}: at most 18 decimals");
    }
    let w: u128 = if whole.is_empty() { 0 } else { whole.parse().with_context(|| format!("amount {s:?}"))? };
    let f: u128 = if frac.is_empty() {
        0
    } else {
        let digits = u32::try_from(frac.len()).unwrap_or(u32::MAX);
        frac.parse::<u128>().with_context(|| format!("amount {s:?}"))? * 10u128.pow(18 - digits)
    };
    w.checked_mul(10u128.pow(18)).and_then(|x| x.checked_add(f)).with_context(|| format!("amount {s:?} overflows"))
}

pub(crate) fn rt() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

pub(crate) fn addr(s: &str) -> Result<Address> {
    Address::from_hex(s).map_err(|e| anyhow::anyhow!("address {s:?}: {e}"))
}

/// `cinder wallet ...`.
pub(crate) fn run(a: WalletArgs) -> Result<()> {
    let dir = keystore_dir(&a)?;
    match &a.cmd {
        WalletCmd::New(n) => {
            let pw = password(&a, true)?;
            let key = SecretKey::generate().map_err(|e| anyhow::anyhow!("the OS random source: {e}"))?;
            let path = store(&dir, &seal(&key, pw.as_bytes(), n.scrypt_log_n)?)?;
            println!("{}", Address::from_public_key(&key.public_key()));
            eprintln!("saved {}", path.display());
        }
        WalletCmd::Import(i) => {
            let key = match (&i.secret_file, i.devnet) {
                (_, Some(n)) if n >= DEVNET_ACCOUNTS => bail!("devnet accounts are 0..{DEVNET_ACCOUNTS}"),
                (_, Some(n)) => {
                    eprintln!("warning: devnet keys are public; use this key for development only");
                    cinder_chain::workload::key(DEVNET_SEED, n)
                }
                (Some(f), None) => {
                    let text =
                        Zeroizing::new(std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?);
                    seed_from_hex(text.trim())?
                }
                (None, None) => {
                    let text = Zeroizing::new(rpassword::prompt_password("Secret key (64 hex digits): ")?);
                    seed_from_hex(text.trim())?
                }
            };
            let pw = password(&a, true)?;
            let path = store(&dir, &seal(&key, pw.as_bytes(), i.scrypt_log_n)?)?;
            println!("{}", Address::from_public_key(&key.public_key()));
            eprintln!("saved {}", path.display());
        }
        WalletCmd::List => {
            let mut found = Vec::new();
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.flatten() {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == "json")
                        && let Ok(f) = std::fs::read(&p)
                        && let Ok(k) = serde_json::from_slice::<KeyFile>(&f)
                    {
                        found.push(k.address);
                    }
                }
            }
            found.sort();
            for f in found {
                println!("{f}");
            }
        }
        WalletCmd::Balance { address } => {
            let address = addr(address)?;
            let c = Client::new(&a.rpc)?;
            let (balance, nonce) = rt()?
                .block_on(async { Ok::<_, anyhow::Error>((c.balance(address).await?, c.nonce(address).await?)) })?;
            println!("{address}: balance {balance} ({}), nonce {nonce}", coins(balance));
        }
        WalletCmd::Send(s) => {
            let from = addr(&s.from)?;
            let kind = TxKind::Transfer { to: addr(&s.to)?, amount: parse_amount(&s.amount)? };
            let opts = TxOpts { fee: s.fee, gas_limit: s.gas_limit, nonce: s.nonce, wait: s.wait };
            sign_and_send(&a, &dir, from, kind, &opts)?
        }
        WalletCmd::Stake(st) => stake(&a, &dir, &st.cmd)?,
        WalletCmd::Gov(g) => crate::gov::run(&a, &dir, g)?,
        WalletCmd::Ibc(i) => crate::ibc::run(&a, &dir, i)?,
        WalletCmd::Deploy { .. } | WalletCmd::Call { .. } | WalletCmd::Migrate { .. } | WalletCmd::SetAdmin { .. } => {
            contract_tx(&a, &dir)?
        }
        WalletCmd::Tx { hash } => {
            let h = Hash::from_hex(hash).map_err(|e| anyhow::anyhow!("hash {hash:?}: {e}"))?;
            let c = Client::new(&a.rpc)?;
            let (tx, receipt) =
                rt()?.block_on(async { Ok::<_, anyhow::Error>((c.transaction(h).await?, c.receipt(h).await?)) })?;
            let Some(tx) = tx else { bail!("the node knows no transaction {h}") };
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "transaction": tx, "receipt": receipt }))?
            );
        }
    }
    Ok(())
}

fn seed_from_hex(s: &str) -> Result<SecretKey> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let b = Zeroizing::new(hex::decode(s).context("the secret key is not hex")?);
    let seed: [u8; 32] = b.as_slice().try_into().map_err(|_| anyhow::anyhow!("the secret key must be 32 bytes"))?;
    Ok(SecretKey::from_seed(&seed))
}

fn coins(v: u128) -> String {
    let whole = v / 10u128.pow(18);
    let frac = v % 10u128.pow(18);
    let f = format!("{frac:018}");
    let f = f.trim_end_matches('0');
    if f.is_empty() { format!("{whole} CIN") } else { format!("{whole}.{f} CIN") }
}

/// `wallet deploy|call|migrate|set-admin`: the kind, an estimate of its
/// gas (unless given; a transaction that would fail is refused here, exit
/// 2), then signed and sent.
fn contract_tx(a: &WalletArgs, dir: &Path) -> Result<()> {
    use crate::Usage;
    use crate::contract::{parse_address, read_wasm};
    use cinder_primitives::{AdminOp, BoundedBytes, BoundedString, Call, Deploy};
    fn bytes<const N: usize>(b: Vec<u8>, what: &str) -> Result<BoundedBytes<N>, Usage> {
        let n = b.len();
        BoundedBytes::new(b).map_err(|_| Usage(format!("{what}: {n} bytes, at most {N}")))
    }
    let args_of = |i: &crate::contract::ArgsInput| -> Result<BoundedBytes<{ cinder_primitives::MAX_ARGS_BYTES }>> {
        Ok(bytes(i.encode()?, "the arguments")?)
    };
    let value_of = |v: &Option<String>| -> Result<u128> {
        v.as_deref()
            .map(|v| parse_amount(v).map_err(|e| Usage(format!("--value: {e}"))))
            .transpose()
            .map(Option::unwrap_or_default)
            .map_err(Into::into)
    };
    let (tx, kind) = match &a.cmd {
        WalletCmd::Deploy { tx, wasm, input, value, admin } => {
            let code = bytes(read_wasm(wasm)?, "the code")?;
            let admin = admin.as_deref().map(|x| parse_address(x, "--admin")).transpose()?;
            (tx, TxKind::Deploy(Deploy { code, init_args: args_of(input)?, value: value_of(value)?, admin }))
        }
        WalletCmd::Call { tx, contract, method, input, value } => {
            if method.len() > cinder_primitives::MAX_METHOD_BYTES {
                return Err(Usage(format!(
                    "--method: {} bytes, at most {}",
                    method.len(),
                    cinder_primitives::MAX_METHOD_BYTES
                ))
                .into());
            }
            let call = Call {
                contract: parse_address(contract, "--contract")?,
                method: BoundedString::truncated(method),
                args: args_of(input)?,
                value: value_of(value)?,
            };
            (tx, TxKind::Call(call))
        }
        WalletCmd::Migrate { tx, contract, wasm, input } => {
            let code = bytes(read_wasm(wasm)?, "the code")?;
            let op = AdminOp::Migrate { contract: parse_address(contract, "--contract")?, code, args: args_of(input)? };
            (tx, TxKind::Admin(op))
        }
        WalletCmd::SetAdmin { tx, contract, admin, clear } => {
            let admin =
                if *clear { None } else { admin.as_deref().map(|x| parse_address(x, "--admin")).transpose()? };
            (tx, TxKind::Admin(AdminOp::SetAdmin { contract: parse_address(contract, "--contract")?, admin }))
        }
        _ => bail!("not a contract command"),
    };
    let from = crate::contract::parse_address(&tx.from, "--from")?;
    let gas_limit = match tx.gas_limit {
        Some(g) => g,
        None => {
            let c = Client::new(&a.rpc)?;
            let req = estimate_request(from, &kind);
            match rt()?.block_on(c.estimate_gas(&req)) {
                Ok(g) => g.saturating_add(g / 5),
                Err(e) if e.code() == Some(cinder_rpc::codes::CALL_FAILED) => {
                    return Err(Usage(format!("the node says the transaction would fail: {e}")).into());
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let opts = TxOpts { fee: tx.fee, gas_limit, nonce: tx.nonce, wait: tx.wait };
    sign_and_send(a, dir, from, kind, &opts)
}

/// The estimate request of a contract transaction.
fn estimate_request(from: Address, kind: &TxKind) -> cinder_rpc::CallRequest {
    use cinder_primitives::AdminOp;
    let hex0x = |b: &[u8]| format!("0x{}", hex::encode(b));
    let mut r = cinder_rpc::CallRequest { from: Some(from), ..Default::default() };
    match kind {
        TxKind::Deploy(d) => {
            r.code = Some(hex0x(d.code.as_slice()));
            r.args = Some(hex0x(d.init_args.as_slice()));
            r.value = Some(d.value.to_string());
            r.admin = d.admin;
        }
        TxKind::Call(c) => {
            r.to = Some(c.contract);
            r.method = Some(c.method.as_str().to_string());
            r.args = Some(hex0x(c.args.as_slice()));
            r.value = Some(c.value.to_string());
        }
        // Admin operations: a migration's `migrate` runs on the new code;
        // estimate it as a deploy of that code would cost, plus the call.
        TxKind::Admin(AdminOp::Migrate { code, args, .. }) => {
            r.code = Some(hex0x(code.as_slice()));
            r.args = Some(hex0x(args.as_slice()));
        }
        TxKind::Admin(AdminOp::SetAdmin { contract, .. }) => {
            r.to = Some(*contract);
        }
        TxKind::Transfer { to, amount } => {
            r.to = Some(*to);
            r.value = Some(amount.to_string());
        }
        TxKind::Stake(_) | TxKind::Gov(_) | TxKind::Ibc(_) => {}
    }
    r
}

/// A transaction's fee, limit, nonce and how long to wait for it.
pub(crate) struct TxOpts {
    pub(crate) fee: Option<u64>,
    pub(crate) gas_limit: u64,
    pub(crate) nonce: Option<u64>,
    pub(crate) wait: Option<u64>,
}

fn stake(a: &WalletArgs, dir: &Path, cmd: &StakeCmd) -> Result<()> {
    let opts = |t: &StakeTx| TxOpts { fee: t.fee, gas_limit: t.gas_limit, nonce: t.nonce, wait: t.wait };
    let (tx, op) = match cmd {
        StakeCmd::Create { tx, validator_key, consensus_key, commission_bps, amount } => {
            let key = match (validator_key, consensus_key) {
                (Some(f), _) => cinder_pos::validator::load_or_create_validator_key(f)?.public_key().0,
                (None, Some(k)) => {
                    let b = hex::decode(k.strip_prefix("0x").unwrap_or(k)).context("--consensus-key is not hex")?;
                    let k: [u8; 32] = b.try_into().map_err(|_| anyhow::anyhow!("--consensus-key must be 32 bytes"))?;
                    cinder_engine::sig::VerifyingKey::from_bytes(&k)
                        .map_err(|e| anyhow::anyhow!("--consensus-key: {e}"))?;
                    k
                }
                (None, None) => bail!("give the consensus key: --validator-key FILE or --consensus-key HEX"),
            };
            eprintln!("consensus key 0x{}", hex::encode(key));
            let amount = parse_amount(amount)?;
            (tx, StakeOp::CreateValidator { key, commission_bps: *commission_bps, amount })
        }
        StakeCmd::Delegate { tx, validator, amount } => {
            (tx, StakeOp::Delegate { validator: addr(validator)?, amount: parse_amount(amount)? })
        }
        StakeCmd::Undelegate { tx, validator, amount } => {
            (tx, StakeOp::Undelegate { validator: addr(validator)?, amount: parse_amount(amount)? })
        }
        StakeCmd::Withdraw { tx, validator } => (tx, StakeOp::WithdrawRewards { validator: addr(validator)? }),
        StakeCmd::Show { validator, delegator } => {
            let validator = addr(validator)?;
            let delegator = delegator.as_deref().map(addr).transpose()?;
            let c = Client::new(&a.rpc)?;
            let info = rt()?.block_on(c.stake(validator, delegator))?;
            let Some(info) = info else { bail!("no validator {validator}") };
            println!("{}", serde_json::to_string_pretty(&info)?);
            return Ok(());
        }
    };
    sign_and_send(a, dir, addr(&tx.from)?, TxKind::Stake(op), &opts(tx))
}

pub(crate) fn sign_and_send(a: &WalletArgs, dir: &Path, from: Address, kind: TxKind, s: &TxOpts) -> Result<()> {
    let file = load(dir, &from)?;
    let pw = password(a, false)?;
    let key = open(&file, pw.as_bytes())?;
    let c = Client::new(&a.rpc)?;
    rt()?.block_on(async {
        let chain_id = c.chain_id().await?;
        let nonce = match s.nonce {
            Some(n) => n,
            None => c.nonce(from).await?,
        };
        let gas_price = match s.fee {
            Some(f) => f,
            None => c.gas_price().await?,
        };
        let tx = Transaction { chain_id, sender: key.public_key(), nonce, gas_limit: s.gas_limit, gas_price, kind }
            .sign(&key);
        let deploy = matches!(tx.tx.kind, TxKind::Deploy(_));
        let hash = c.send(&tx).await.map_err(|e| match e.code() {
            Some(code) if code != cinder_rpc::codes::INTERNAL_ERROR => anyhow::Error::new(crate::Usage(e.to_string())),
            _ => e.into(),
        })?;
        println!("{hash}");
        if deploy {
            println!("{}", cinder_primitives::contract_address(&from, nonce));
        }
        let Some(wait) = s.wait else { return Ok(()) };
        let deadline = Instant::now() + Duration::from_secs(wait);
        loop {
            if let Some(r) = c.receipt(hash).await? {
                eprintln!(
                    "included in block {} ({}): {}, gas used {}",
                    r.block_number, r.block_hash, r.status, r.gas_used
                );
                if r.output != "0x" && !r.output.is_empty() {
                    eprintln!("output {}", r.output);
                }
                if r.status != "success" {
                    bail!("the transaction {}: {}", r.status, r.reason.unwrap_or_default());
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("not included within {wait} s (still pending: {hash})");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_opens_with_its_password_only() {
        let key = cinder_chain::workload::key("wallet-test", 0);
        let f = seal(&key, b"correct horse", 10).unwrap();
        let back = open(&f, b"correct horse").unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert!(open(&f, b"wrong").unwrap_err().to_string().contains("wrong password"));
        // Another address in the file: the AEAD's associated data fails.
        let mut moved = serde_json::from_slice::<KeyFile>(&serde_json::to_vec(&f).unwrap()).unwrap();
        moved.address = Address([7; 32]);
        assert!(open(&moved, b"correct horse").is_err());
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let dir = std::env::temp_dir().join(format!("cinder-ks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let key = cinder_chain::workload::key("wallet-test", 1);
        let f = seal(&key, b"pw", 10).unwrap();
        let path = store(&dir, &f).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        }
        assert!(store(&dir, &seal(&key, b"other", 10).unwrap()).is_err());
        assert!(open(&load(&dir, &f.address).unwrap(), b"pw").is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Keystore files from disk are untrusted: random changes to a real
    /// one (bytes flipped, inserted, removed; fields swapped for odd JSON
    /// values) never panic the parser or the opener, for
    /// `CINDER_FUZZ_MS` (default 1,000 ms; docs/testing.md).
    #[test]
    fn mutated_key_files_are_errors_not_panics() {
        let key = cinder_chain::workload::key("wallet-test", 2);
        let text = serde_json::to_string(&seal(&key, b"pw", 10).unwrap()).unwrap();
        let budget = std::time::Duration::from_millis(
            std::env::var("CINDER_FUZZ_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000),
        );
        let mut state = 7u64;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let start = Instant::now();
        let (mut parsed, mut n) = (0, 0);
        while start.elapsed() < budget {
            let mut b = text.clone().into_bytes();
            for _ in 0..1 + rnd() % 3 {
                let pick = |x: u64, n: usize| usize::try_from(x % u64::try_from(n).unwrap()).unwrap();
                let i = pick(rnd(), b.len());
                match rnd() % 3 {
                    0 => b[i] = rnd().to_le_bytes()[0],
                    1 => {
                        b.remove(i);
                    }
                    _ => {
                        let odd = b"0x\"9e{}[]-";
                        b.insert(i, odd[pick(rnd(), odd.len())]);
                    }
                }
            }
            let r = std::panic::catch_unwind(|| {
                if let Ok(f) = serde_json::from_slice::<KeyFile>(&b) {
                    let _ = open(&f, b"pw");
                    return true;
                }
                false
            });
            match r {
                Ok(p) => parsed += usize::from(p),
                Err(_) => panic!("a mutated key file panicked: {}", String::from_utf8_lossy(&b)),
            }
            n += 1;
        }
        assert!(n > 10 && parsed > 0, "{n} inputs, {parsed} parsed");
    }

    #[test]
    fn amounts_parse_in_units_and_coins() {
        assert_eq!(parse_amount("123").unwrap(), 123);
        assert_eq!(parse_amount("1.5CIN").unwrap(), 1_500_000_000_000_000_000);
        assert_eq!(parse_amount("0.000000000000000001CIN").unwrap(), 1);
        assert!(parse_amount("1.0000000000000000001CIN").is_err());
        assert!(parse_amount("-1").is_err());
        assert!(parse_amount("CIN").is_err());
        assert_eq!(coins(1_500_000_000_000_000_000), "1.5 CIN");
    }
}
