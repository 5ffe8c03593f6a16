//! ASERT on a simulated chain: blocks found after exponentially distributed
//! times at a hashrate that swings, timestamps as the rules allow.

use cinder_consensus::{ChainSpec, Pow};
use cinder_engine::pow::Target;

const T: u32 = 10;

fn spec() -> ChainSpec {
    ChainSpec::from_toml(&format!(
        "name = \"sim\"\nchain_id = 1\nconsensus = \"pow\"\ngenesis_time = 1000000\nblock_reward = 0\n\
         [pow]\nalgorithm = \"sha256d\"\ninitial_bits = \"0x1d00ffff\"\ntarget_block_time = {T}\nhalf_life = 1440\n"
    ))
    .expect("spec")
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        // (0, 1]
        ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

/// Simulates `hashrates` (hashes per second, one per block) and returns
/// each block's solve time in seconds.
fn simulate(pow: &Pow, hashrates: &[f64], seed: u64) -> Vec<f64> {
    let mut rng = Rng(seed);
    let mut clock = 1_000_000f64;
    let (mut height, mut parent_time) = (0u64, 1_000_000u32);
    let mut solve = Vec::with_capacity(hashrates.len());
    for &h in hashrates {
        let bits = pow.next_bits(height, parent_time);
        let expected = Target::from_compact(bits).expect("bits decode").expected_hashes();
        let dt = -rng.unit().ln() * expected / h;
        clock += dt;
        solve.push(dt);
        height += 1;
        parent_time = whole_seconds(clock);
    }
    solve
}

#[expect(clippy::cast_possible_truncation, reason = "simulated times stay far below u32::MAX")]
fn whole_seconds(t: f64) -> u32 {
    t as u32
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The hashrate the initial bits are calibrated for (one block per T).
fn base_rate() -> f64 {
    Target::from_compact(0x1d00ffff).expect("bits").expected_hashes() / f64::from(T)
}

#[test]
fn steady_hashrate_holds_the_block_time() {
    let pow = Pow::new(&spec()).expect("pow");
    let solve = simulate(&pow, &vec![base_rate(); 5000], 1);
    let m = mean(&solve);
    assert!((m - f64::from(T)).abs() < 0.05 * f64::from(T), "mean block time {m:.2} s");
}

#[test]
fn recovers_from_tenfold_swings() {
    let pow = Pow::new(&spec()).expect("pow");
    let base = base_rate();
    // 2,000 blocks at 10x, then 2,000 at 0.1x, then back to 1x.
    let mut rates = vec![base * 10.0; 2000];
    rates.extend(vec![base * 0.1; 2000]);
    rates.extend(vec![base; 2000]);
    let solve = simulate(&pow, &rates, 7);
    // Right after the jump up blocks come fast; once the difficulty has
    // caught up (a few half-lives = a few hundred blocks) they are on time.
    assert!(mean(&solve[..50]) < 0.5 * f64::from(T), "fast right after the jump: {:.2}", mean(&solve[..50]));
    for (name, window) in [("10x", &solve[1000..2000]), ("0.1x", &solve[3000..4000]), ("1x", &solve[5000..6000])] {
        let m = mean(window);
        assert!((m - f64::from(T)).abs() < 0.12 * f64::from(T), "{name}: mean block time {m:.2} s");
    }
    // Over the whole run the chain stays on schedule (ASERT's error does
    // not accumulate).
    let total: f64 = solve.iter().sum();
    let schedule = f64::from(T) * solve.len() as f64;
    assert!((total - schedule).abs() < 0.1 * schedule, "{total:.0} s for a {schedule:.0} s schedule");
}
