//! How many signing-key fetches a ConnectWise connector may make for deliveries that do not
//! verify. Anyone who knows a connector's webhook URL can post forged callbacks, each with a
//! fresh `key_url` on the MSP's own site; without a bound every one of them would make jitgate
//! fetch from that site. A token bucket per connector: a fetch takes a token before it starts
//! (so a burst of concurrent forgeries cannot overrun it) and gets it back when the fetched key
//! verifies the delivery, so genuine callbacks cost nothing and only failures drain the bucket.
//! Beyond it the delivery is answered 429: ConnectWise retries 429 (at about +2 s and +4 s,
//! ConnectWise Developer Guide, "Callbacks"), and one token comes back every
//! [`REFILL_EVERY`], which is the `Retry-After` the webhook answers with.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Unverified fetches allowed at once (also the bucket's size).
pub const BURST: u32 = 30;
/// One more unverified fetch is allowed this often: 30 a minute, a sliver of the 1,000 requests
/// a minute beyond which ConnectWise starts throttling an integration.
pub const REFILL_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct FetchBudget {
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: u32,
    /// When the last token was added back by time (not by a refund).
    refilled_at: Instant,
}

impl Default for FetchBudget {
    fn default() -> Self {
        FetchBudget::starting_at(Instant::now())
    }
}

impl FetchBudget {
    fn starting_at(now: Instant) -> Self {
        FetchBudget {
            state: Mutex::new(Bucket {
                tokens: BURST,
                refilled_at: now,
            }),
        }
    }

    /// Take a token for one fetch; `false` when the budget is spent.
    pub fn try_take(&self) -> bool {
        self.try_take_at(Instant::now())
    }

    /// Give back the token of a fetch whose key verified the delivery.
    pub fn refund(&self) {
        let mut bucket = self.lock();
        bucket.tokens = (bucket.tokens + 1).min(BURST);
    }

    fn try_take_at(&self, now: Instant) -> bool {
        let mut bucket = self.lock();
        bucket.refill(now);
        if bucket.tokens == 0 {
            return false;
        }
        bucket.tokens -= 1;
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        if self.tokens == BURST {
            // A full bucket banks no time: the next token comes a whole period after it is
            // first drawn from.
            self.refilled_at = now;
            return;
        }
        let periods =
            now.saturating_duration_since(self.refilled_at).as_nanos() / REFILL_EVERY.as_nanos();
        let earned = u32::try_from(periods).unwrap_or(u32::MAX).min(BURST);
        if earned == 0 {
            return;
        }
        self.tokens = (self.tokens + earned).min(BURST);
        self.refilled_at = if self.tokens == BURST {
            now
        } else {
            // Keep the part of a period already served, so refills do not drift.
            self.refilled_at + REFILL_EVERY * earned
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_period() {
        let start = Instant::now();
        let budget = FetchBudget::starting_at(start);
        for _ in 0..BURST {
            assert!(budget.try_take_at(start));
        }
        assert!(!budget.try_take_at(start));
        assert!(!budget.try_take_at(start + REFILL_EVERY / 2));
        assert!(budget.try_take_at(start + REFILL_EVERY));
        assert!(!budget.try_take_at(start + REFILL_EVERY));
        assert!(budget.try_take_at(start + REFILL_EVERY * 5 / 2 + REFILL_EVERY / 2));
        // Time passing does not bank more than a full bucket.
        let much_later = start + REFILL_EVERY * (10 * BURST);
        for _ in 0..BURST {
            assert!(budget.try_take_at(much_later));
        }
        assert!(!budget.try_take_at(much_later));
    }

    #[test]
    fn refunds_keep_verified_fetches_free() {
        let start = Instant::now();
        let budget = FetchBudget::starting_at(start);
        for _ in 0..(3 * BURST) {
            assert!(budget.try_take_at(start));
            budget.refund();
        }
        for _ in 0..BURST {
            assert!(budget.try_take_at(start));
        }
        assert!(!budget.try_take_at(start));
        // Time spent full is not banked: the first token after a drain takes a whole period.
        let later = start + REFILL_EVERY * 3;
        for _ in 0..(2 * BURST) {
            budget.refund();
        }
        for _ in 0..BURST {
            assert!(budget.try_take_at(later));
        }
        assert!(!budget.try_take_at(later + REFILL_EVERY / 2));
        assert!(budget.try_take_at(later + REFILL_EVERY));
        // A refund never grows the bucket past its size.
        for _ in 0..(2 * BURST) {
            budget.refund();
        }
        for _ in 0..BURST {
            assert!(budget.try_take_at(start));
        }
        assert!(!budget.try_take_at(start));
    }
}
