//! The block explorer in a real headless Chromium, driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`), against a real
//! proof-of-stake devnet: the page loads and follows new blocks, a wallet
//! transfer shows up in the latest transactions, search finds it, the
//! account page shows the new balance and checks its state proof in the
//! browser (and a forged one fails), bad searches get clear messages, the
//! block and validator pages show the PoS details. With
//! `CINDER_SCREENSHOTS=DIR` it saves the main pages as PNG files
//! (`scripts/explorer-screenshots.sh`).
//!
//! Without Chromium it says so and passes, except under `CI=true`, where
//! it fails: scripts/deps.sh installs it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::testnet::{KillOnDrop, free_ports};

const BIN: &str = env!("CARGO_BIN_EXE_cinder");

/// One HTTP/1.1 exchange with chromedriver.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("chromedriver");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // chromedriver keeps the connection open: read the head, then exactly
    // the body it announces (a length, or chunks).
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let complete = |raw: &[u8]| -> Option<String> {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let rest = &raw[split + 4..];
        if let Some(len) = head.lines().find_map(|l| l.strip_prefix("content-length:")) {
            let n: usize = len.trim().parse().ok()?;
            return (rest.len() >= n).then(|| String::from_utf8_lossy(&rest[..n]).to_string());
        }
        if head.contains("transfer-encoding: chunked") {
            let (mut rest, mut body) = (rest, Vec::new());
            loop {
                let line = rest.windows(2).position(|w| w == b"\r\n")?;
                let n = usize::from_str_radix(String::from_utf8_lossy(&rest[..line]).trim(), 16).ok()?;
                if n == 0 {
                    return Some(String::from_utf8_lossy(&body).to_string());
                }
                let tail = &rest[line + 2..];
                if tail.len() < n + 2 {
                    return None;
                }
                body.extend_from_slice(&tail[..n]);
                rest = &tail[n + 2..];
            }
        }
        None
    };
    let body = loop {
        if let Some(b) = complete(&raw) {
            break b;
        }
        let n = s.read(&mut buf).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(n > 0, "{method} {path}: the connection closed early");
        raw.extend_from_slice(&buf[..n]);
    };
    serde_json::from_str::<Value>(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"))["value"].clone()
}

struct Browser {
    port: u16,
    session: String,
    _driver: KillOnDrop,
    shots: Option<PathBuf>,
}

impl Browser {
    /// A headless Chromium session, or `None` (outside CI) without one.
    fn start() -> Option<Browser> {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists());
        let driver = ["/usr/bin/chromedriver"].into_iter().find(|p| Path::new(p).exists());
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "Chromium or chromedriver is missing (apt-get install chromium chromium-driver; scripts/deps.sh does)"
            );
            eprintln!(
                "explorer test: NOT RUN: no /usr/bin/chromium and /usr/bin/chromedriver (scripts/deps.sh installs them)"
            );
            return None;
        };
        let port = free_ports(1, 23_000);
        let child: Child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let driver = KillOnDrop(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]
        }}}});
        let v = http(port, "POST", "/session", Some(&caps));
        let session = v["sessionId"].as_str().unwrap_or_else(|| panic!("Chromium did not start: {v}")).to_string();
        let shots = std::env::var_os("CINDER_SCREENSHOTS").map(PathBuf::from);
        Some(Browser { port, session, _driver: driver, shots })
    }

    fn goto(&self, url: &str) {
        http(self.port, "POST", &format!("/session/{}/url", self.session), Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body; a returned promise is awaited).
    fn js(&self, script: &str) -> Value {
        let v = http(
            self.port,
            "POST",
            &format!("/session/{}/execute/sync", self.session),
            Some(&json!({"script": script, "args": []})),
        );
        assert!(v.get("error").is_none(), "{script}: {v}");
        v
    }

    /// Runs `body` as an async function (it may `await`).
    fn js_async(&self, body: &str) -> Value {
        self.js(&format!("return (async () => {{ {body} }})()"))
    }

    /// Polls `script` until it returns something truthy (at most 90 s).
    fn until(&self, what: &str, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(script);
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            let page = self.js("return document.getElementById('main').innerText.slice(0, 400)");
            assert!(start.elapsed() < Duration::from_secs(90), "timed out waiting for {what}; the page shows: {page}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn search(&self, q: &str) {
        self.js(&format!(
            "document.getElementById('search-input').value = {}; document.getElementById('search').requestSubmit(); return true",
            json!(q)
        ));
    }

    fn screenshot(&self, name: &str) {
        let Some(dir) = &self.shots else { return };
        // Let charts and late rows settle.
        std::thread::sleep(Duration::from_millis(700));
        let b64 = http(self.port, "GET", &format!("/session/{}/screenshot", self.session), None);
        let png = base64_decode(b64.as_str().expect("a screenshot"));
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = TcpStream::connect(("127.0.0.1", self.port))
            .map(|_| http(self.port, "DELETE", &format!("/session/{}", self.session), None));
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let clean: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for quad in clean.chunks(4) {
        let v: Vec<u32> = quad.iter().map(|c| u32::from(val(*c))).collect();
        let n = v.iter().enumerate().fold(0u32, |n, (i, x)| n | (x << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..quad.len()]);
    }
    out
}

#[test]
fn the_explorer_in_headless_chromium_follows_a_devnet() {
    let _serial = crate::serial();
    let Some(browser) = Browser::start() else { return };
    let dir = std::env::temp_dir().join(format!("cinder-cli-it-{}-explorer", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(BIN)
        .args(["devnet", "--consensus", "pos", "--rpc-port", "0", "--metrics-addr", "off"])
        .args(["--explorer-addr", "127.0.0.1:0", "--datadir"])
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = crate::stdout_lines(&mut child);
    let devnet = KillOnDrop(child);
    let (mut explorer, mut rpc) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while explorer.is_none() || rpc.is_none() {
        let l = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("the devnet's lines");
        if let Some(u) = l.strip_prefix("Explorer: ") {
            explorer = Some(u.to_string());
        }
        if let Some(u) = l.strip_prefix("RPC: ") {
            rpc = Some(u.to_string());
        }
    }
    let (explorer, rpc) = (explorer.unwrap(), rpc.unwrap());

    // 1. The page loads and follows the chain live.
    browser.goto(&explorer);
    browser
        .until("three blocks listed", "return document.querySelectorAll('#latest-blocks tr[data-number]').length >= 3");
    let first: u64 = browser.js("return Number(document.getElementById('stat-height').textContent)").as_u64().unwrap();
    browser.until(
        "a newer head on the page",
        &format!("return Number(document.getElementById('stat-height').textContent) > {first}"),
    );
    assert!(browser.js("return !!document.getElementById('stat-finalized')").as_bool().unwrap());

    // 2. The page's BLAKE3 is the Rust crate's, across chunk and tree sizes.
    let sizes = [0usize, 1, 64, 65, 1023, 1024, 1025, 2049, 4096, 8193];
    let js = browser.js(&format!(
        "return {sizes:?}.map(n => window.cinderExplorer.blake3Hex(Array.from({{length: n}}, (_, i) => i % 251)))"
    ));
    for (i, n) in sizes.iter().enumerate() {
        let input: Vec<u8> = (0..*n).map(|i| u8::try_from(i % 251).unwrap()).collect();
        assert_eq!(js[i].as_str().unwrap(), format!("0x{}", blake3::hash(&input).to_hex()), "BLAKE3 of {n} bytes");
    }

    // 3. A wallet transfer appears in the latest transactions.
    let keystore = dir.join("keystore");
    let pw = dir.join("pw");
    std::fs::write(&pw, "correct horse battery\n").unwrap();
    let w = |args: &[&str]| crate::devnet::wallet(&keystore, &pw, &rpc, args);
    let me = w(&["new", "--scrypt-log-n", "12"]);
    let dev0 = w(&["import", "--devnet", "0", "--scrypt-log-n", "12"]);
    let hash = w(&["send", "--from", &dev0, "--to", &me, "--amount", "2.5CIN"]);
    browser.until(
        "the transfer in the latest transactions",
        &format!("return !!document.querySelector('#latest-txs tr[data-hash=\"{hash}\"]')"),
    );
    browser.screenshot("home");

    // 4. Search finds it; its page shows the receipt.
    browser.search(&hash);
    browser.until(
        "the transaction page",
        &format!(
            "return location.hash === '#/tx/{hash}' && document.getElementById('tx-status')?.textContent === 'success'"
        ),
    );
    assert_eq!(browser.js("return document.getElementById('tx-value').textContent"), json!("2.5 CIN"));
    browser.screenshot("transaction");

    // 5. The account: its new balance, and its state proof checked in the
    //    page against the block header's state root.
    browser.search(&me);
    browser.until("the account page", "return document.getElementById('proof-status')");
    assert_eq!(
        browser.js("return document.getElementById('account-balance').dataset.raw"),
        json!("2500000000000000000")
    );
    let proof = browser.js("return [document.getElementById('proof-status').dataset.ok, document.getElementById('proof-status').textContent]");
    assert_eq!(proof[0], json!("true"), "the proof check in the browser: {proof}");
    browser.until(
        "the transfer in the account's recent transactions",
        &format!("return !!document.querySelector('#account-txs tr[data-hash=\"{hash}\"]')"),
    );
    browser.screenshot("account");
    // A forged balance, a claimed absence and a flipped proof byte fail;
    // an absent account's own proof passes.
    let checks = browser.js_async(&format!(
        r#"const x = window.cinderExplorer, me = "{me}", nobody = "0x" + "ab".repeat(32);
        const p = await x.rpc.call("cinder_getProof", [me]);
        const b = await x.rpc.call("cinder_getBlockByNumber", [p.blockNumber, false]);
        const q = await x.rpc.call("cinder_getProof", [nobody, p.blockNumber]);
        const acct = {{ balance: p.balance, nonce: p.nonce }};
        const flipped = p.proof.slice(0, 80) + (p.proof[80] === "0" ? "1" : "0") + p.proof.slice(81);
        return [
          x.verifyAccountProof(b.stateRoot, me, acct, p.proof).ok,
          x.verifyAccountProof(b.stateRoot, me, {{ balance: (BigInt(p.balance) + 1n).toString(), nonce: p.nonce }}, p.proof).ok,
          x.verifyAccountProof(b.stateRoot, me, null, p.proof).ok,
          x.verifyAccountProof(b.stateRoot, me, acct, flipped).ok,
          x.verifyAccountProof(b.stateRoot, nobody, null, q.proof).ok,
          x.verifyAccountProof(b.stateRoot, nobody, {{ balance: "1", nonce: 0 }}, q.proof).ok,
        ];"#
    ));
    assert_eq!(checks, json!([true, false, false, false, true, false]), "proof checks in the browser");

    // 6. Bad searches say what is wrong.
    for (q, says) in [
        ("hello", "is not a height, hash or address"),
        ("0x12", "is not a height, hash or address"),
        ("99999999", "No block at height 99999999"),
        (&format!("0x{}", "01".repeat(32)), "Nothing found for 0x0101"),
    ] {
        browser.search(q);
        let shown = browser.until(
            &format!("the message for {q:?}"),
            "const e = document.getElementById('search-error'); return !e.hidden && e.textContent",
        );
        assert!(shown.as_str().unwrap().contains(says), "{q}: {shown}");
        browser.js("document.getElementById('search-error').hidden = true; return true");
    }

    // 7. The block page: PoS proposer, round and the certificate's signers.
    let receipt_block = browser.js_async(&format!(
        r#"return (await window.cinderExplorer.rpc.call("cinder_getTransactionReceipt", ["{hash}"])).blockNumber"#
    ));
    browser.search(&receipt_block.to_string());
    browser.until("the block's certificate", "return document.getElementById('signers')?.textContent");
    assert_eq!(
        browser.js("return document.getElementById('block-number').textContent"),
        json!(receipt_block.to_string())
    );
    assert!(
        browser
            .js("return document.getElementById('cert').textContent")
            .as_str()
            .unwrap()
            .contains("1 signature, power 100 of 100")
    );
    browser.screenshot("block");

    // 8. A contract: the deploy's page links the created contract, the
    //    call's page shows the decoded call (method) and its output.
    let wasm = dir.join("data/contracts/counter.wasm").display().to_string();
    let deployed = w(&["deploy", "--from", &dev0, "--wasm", &wasm, "--arg", "u64:5", "--wait", "120"]);
    let (deploy_hash, contract) = deployed.split_once('\n').expect("deploy prints the hash and the contract");
    let called = w(&[
        "call",
        "--from",
        &dev0,
        "--contract",
        contract.trim(),
        "--method",
        "increment",
        "--arg",
        "u64:3",
        "--wait",
        "120",
    ]);
    let call_hash = called.lines().find(|l| l.starts_with("0x") && l.len() == 66).expect("call prints its hash");
    browser.search(deploy_hash.trim());
    let created = browser.until("the deploy's page", "return document.getElementById('tx-status')?.textContent === 'success' && document.getElementById('main').innerText");
    assert!(created.as_str().unwrap().contains(&format!("contract created\t{}", contract.trim())), "{created}");
    browser.search(call_hash);
    let page = browser.until("the call's page", "return document.getElementById('tx-status')?.textContent === 'success' && document.getElementById('main').innerText");
    let page = page.as_str().unwrap();
    assert!(page.contains("\"method\": \"increment\"") && page.contains("kind\tcontract"), "{page}");
    assert!(page.contains("output\t0x"), "the call's return value: {page}");
    browser.screenshot("contract-call");

    // 9. Validators with stake and recent signing.
    browser.goto(&format!("{explorer}#/validators"));
    let row =
        browser.until("the validators", "return document.querySelector('#validators tr:nth-child(2)')?.innerText");
    assert!(row.as_str().unwrap().contains("CIN"), "{row}");
    browser.screenshot("validators");

    drop(browser);
    drop(devnet);
    let _ = std::fs::remove_dir_all(&dir);
}
