//! `cinder-zk` as an issuer and a holder run it: setup, commit, prove,
//! verify; a false statement and bad input fail with one line.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cinder-zk");

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(BIN).args(args).env_remove("RUST_BACKTRACE").output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
        String::from_utf8_lossy(&o.stderr).trim().to_string(),
    )
}

fn field(json: &str, key: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v[key].as_str().unwrap().to_string()
}

#[test]
fn setup_commit_prove_verify_and_refusals() {
    let dir = std::env::temp_dir().join(format!("cinder-zk-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pk, vk) = (dir.join("age.pk").display().to_string(), dir.join("age.vk").display().to_string());
    let seed = "11".repeat(32);
    let (code, out, err) = run(&["setup", "--seed", &seed, "--pk", &pk, "--vk", &vk]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(hex::decode(&out).unwrap(), std::fs::read(&vk).unwrap());
    let (code, c, err) = run(&["commit", "--attribute", "1990"]);
    assert_eq!(code, 0, "{err}");
    let (salt, commitment) = (field(&c, "salt"), field(&c, "commitment"));
    let (code, p, err) = run(&["prove", "--pk", &pk, "--attribute", "1990", "--salt", &salt, "--bound", "2008"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(field(&p, "commitment"), commitment);
    let proof = field(&p, "proof");
    let (code, out, _) =
        run(&["verify", "--vk", &vk, "--proof", &proof, "--commitment", &commitment, "--bound", "2008"]);
    assert_eq!((code, out.as_str()), (0, "valid"));
    for (args, says) in [
        (
            vec!["verify", "--vk", &vk, "--proof", &proof, "--commitment", &commitment, "--bound", "2007"],
            "does not verify",
        ),
        (vec!["prove", "--pk", &pk, "--attribute", "2010", "--salt", &salt, "--bound", "2008"], "no proof"),
        (vec!["prove", "--pk", &vk, "--attribute", "1", "--salt", &salt, "--bound", "2"], "not a proving key"),
        (vec!["setup", "--seed", "zz", "--pk", &pk, "--vk", &vk], "not hex"),
        (vec!["commit", "--attribute", "1", "--salt", &"ff".repeat(32)], "not a canonical field element"),
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 1, "{args:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: ") && err.contains(says), "{args:?}: {err}");
    }
    let (code, _, _) = run(&["prove", "--attribute", "x"]);
    assert_eq!(code, 2);
    let _ = std::fs::remove_dir_all(dir);
}
