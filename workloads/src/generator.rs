//! What every generator of operations shares, and the nemesis schedule with them: a seeded
//! random source, a mix of operation kinds, the pace of one worker, and the rotation of keys
//! that retires each key after a number of operations.
//!
//! Every random choice of a run derives from `--seed` through [`Rng`], so a run's operations and
//! its fault schedule can be replayed. Jepsen composes generators from combinators; here each
//! workload's generator is a plain struct that calls these pieces, which a reader can follow
//! without knowing a combinator algebra.

use std::time::Duration;

/// A deterministic 64-bit generator (splitmix64): every random choice derives from `--seed`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An independent stream for a sub-task (the nemesis, one step of it), so that adding draws
    /// to one stream never shifts another.
    pub fn fork(&mut self, salt: u64) -> Rng {
        Rng::new(self.next_u64() ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

/// Relative weights of a workload's operation kinds (`--mix`), in the order the workload names
/// them (`read,write,cas` for the register, `add,read` for the set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    names: &'static [&'static str],
    weights: Vec<u32>,
}

impl Mix {
    /// A mix over `names` with the given weights (one per name, not all zero).
    pub fn new(names: &'static [&'static str], weights: &[u32]) -> Result<Mix, String> {
        if weights.len() != names.len() || weights.iter().all(|w| *w == 0) {
            return Err(format!(
                "{} weights {}, not all zero",
                names.len(),
                names.join(",").to_uppercase()
            ));
        }
        Ok(Mix {
            names,
            weights: weights.to_vec(),
        })
    }

    /// Parses `--mix` text such as `1,1,1` (one whole number per name, in order).
    pub fn parse(names: &'static [&'static str], text: &str) -> Result<Mix, String> {
        let spell = names.join(",").to_uppercase();
        let weights: Vec<u32> = text
            .split(',')
            .map(|p| p.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("--mix {text}: whole numbers {spell}"))?;
        Mix::new(names, &weights).map_err(|e| format!("--mix {text}: {e}"))
    }

    /// The weight of `name` (0 for a name this mix does not have).
    pub fn weight(&self, name: &str) -> u32 {
        self.names
            .iter()
            .position(|n| *n == name)
            .map_or(0, |i| self.weights[i])
    }

    /// Draws one operation name by weight.
    pub fn pick(&self, rng: &mut Rng) -> &'static str {
        let total: u64 = self.weights.iter().map(|w| u64::from(*w)).sum();
        let mut x = rng.below(total);
        for (name, w) in self.names.iter().zip(&self.weights) {
            if x < u64::from(*w) {
                return name;
            }
            x -= u64::from(*w);
        }
        self.names[self.names.len() - 1]
    }

    /// `1,1,1`: the text `parse` reads back.
    pub fn text(&self) -> String {
        self.weights
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The time between two operations of one worker, from the total rate of all workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Zero: as fast as the datastore answers.
    pub interval: Duration,
}

impl Pace {
    /// The slowest rate accepted: one operation per day over all workers. Anything slower is a
    /// mistake (`--rate 1e-300`), and would overflow a `Duration`.
    pub const MIN_RATE: f64 = 1.0 / 86_400.0;

    /// `rate` operations per second over `concurrency` workers; `0` means no limit.
    pub fn new(rate: f64, concurrency: u64) -> Result<Pace, String> {
        if rate == 0.0 {
            return Ok(Pace {
                interval: Duration::ZERO,
            });
        }
        if !rate.is_finite() || rate < Pace::MIN_RATE {
            return Err(format!(
                "--rate {rate}: operations per second over all workers, at least {:.6} (one a \
                 day), or 0 for no limit",
                Pace::MIN_RATE
            ));
        }
        let interval = Duration::try_from_secs_f64(concurrency.max(1) as f64 / rate)
            .map_err(|e| format!("--rate {rate}: {e}"))?;
        Ok(Pace { interval })
    }
}

/// Keys that live for a number of operations each, a group at a time, as Jepsen's independent
/// workloads do: every key's history stays small enough to check at once, and workers spread
/// over the keys of the current group so that each key sees concurrency.
#[derive(Debug, Clone)]
pub struct KeyRotation {
    ops_per_key: u64,
    live_keys: u64,
    issued: u64,
}

impl KeyRotation {
    pub fn new(ops_per_key: u64, live_keys: u64) -> KeyRotation {
        KeyRotation {
            ops_per_key: ops_per_key.max(1),
            live_keys: live_keys.max(1),
            issued: 0,
        }
    }

    /// The key number of the next operation.
    pub fn next_key(&mut self, rng: &mut Rng) -> u64 {
        let group = self.issued / (self.ops_per_key * self.live_keys);
        self.issued += 1;
        group * self.live_keys + rng.below(self.live_keys)
    }

    /// The key numbers of the current group: those the final reads look at.
    pub fn live(&self) -> Vec<u64> {
        let group = self.issued.saturating_sub(1) / (self.ops_per_key * self.live_keys);
        (0..self.live_keys)
            .map(|i| group * self.live_keys + i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RWC: &[&str] = &["read", "write", "cas"];

    #[test]
    fn a_mix_is_one_weight_per_operation_not_all_zero() {
        let m = Mix::parse(RWC, "1,2,0").unwrap();
        assert_eq!(
            (m.weight("read"), m.weight("write"), m.weight("cas")),
            (1, 2, 0)
        );
        assert_eq!(m.text(), "1,2,0");
        assert!(Mix::parse(RWC, "0,0,0").is_err());
        assert!(Mix::parse(RWC, "1,2").is_err());
        assert!(Mix::parse(RWC, "1,x,2").is_err());
    }

    #[test]
    fn a_mix_draws_only_weighted_operations_in_proportion() {
        let m = Mix::parse(RWC, "3,1,0").unwrap();
        let mut rng = Rng::new(5);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..4000 {
            *counts.entry(m.pick(&mut rng)).or_insert(0) += 1;
        }
        assert_eq!(counts.get("cas"), None);
        let reads = counts["read"] as f64 / 4000.0;
        assert!((0.70..0.80).contains(&reads), "{reads}");
    }

    #[test]
    fn absurd_rates_are_refused_and_zero_means_no_limit() {
        assert_eq!(Pace::new(0.0, 10).unwrap().interval, Duration::ZERO);
        assert_eq!(
            Pace::new(100.0, 10).unwrap().interval,
            Duration::from_millis(100)
        );
        for bad in [1e-300, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Pace::new(bad, 10).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_retire_a_group_at_a_time() {
        let mut rng = Rng::new(1);
        let mut keys = KeyRotation::new(5, 2);
        let drawn: Vec<u64> = (0..30).map(|_| keys.next_key(&mut rng)).collect();
        assert!(drawn[..10].iter().all(|k| *k < 2));
        assert!(drawn[10..20].iter().all(|k| (2..4).contains(k)));
        assert_eq!(keys.live(), vec![4, 5]);
    }

    #[test]
    fn forked_streams_do_not_shift_each_other() {
        let mut a = Rng::new(9);
        let mut b = Rng::new(9);
        let mut fa = a.fork(1);
        let _ = fa.next_u64();
        let _ = fa.next_u64();
        let mut fb = b.fork(1);
        assert_eq!(a.next_u64(), b.next_u64());
        assert_eq!(fa.next_u64(), {
            let _ = fb.next_u64();
            let _ = fb.next_u64();
            fb.next_u64()
        });
    }
}
