//! A seeded random number generator for drawing latencies and arrival times: the same seed
//! gives the same draws, so a floor or a schedule is the same in every run.

use std::time::Duration;

/// SplitMix64 (Steele, Lea and Flood, 2014): small, seedable, and good enough for drawing
/// latencies.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi].
    pub fn between(&mut self, (lo, hi): (Duration, Duration)) -> Duration {
        lo + (hi.saturating_sub(lo)).mul_f64(self.unit())
    }
}
