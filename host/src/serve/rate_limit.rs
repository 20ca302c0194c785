//! The per-connection rate limit (`--rate-limit N/60s`): at most N calls in any window of the
//! period, as a generic cell rate algorithm (one timestamp per connection, no log of calls).
//! A full burst of N is allowed at once; after it, one call per period/N.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate: `calls` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many calls.
    pub calls: u32,
    /// In how long.
    pub period: Duration,
}

/// Why a `--rate-limit` value was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid rate limit `{value}`: {reason} (expected N/PERIOD, e.g. 200/60s or 10/1s)")]
pub struct InvalidRate {
    value: String,
    reason: &'static str,
}

impl FromStr for Rate {
    type Err = InvalidRate;

    /// Parses `N/60s`, `N/1m`, `N/500ms` (a bare number of seconds: `N/60`).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| InvalidRate { value: value.to_string(), reason };
        let (calls, period) = value.trim().split_once('/').ok_or_else(|| invalid("no `/`"))?;
        let calls: u32 = calls.trim().parse().map_err(|_| invalid("the number of calls is not a whole number"))?;
        if calls == 0 {
            return Err(invalid("the number of calls must be at least 1"));
        }
        let period = period.trim();
        let (number, unit) = period.split_at(period.find(|c: char| !c.is_ascii_digit()).unwrap_or(period.len()));
        let number: u64 = number.parse().map_err(|_| invalid("the period does not start with a whole number"))?;
        let period = match unit {
            "ms" => Duration::from_millis(number),
            "" | "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            _ => return Err(invalid("the period's unit is not ms, s, m or h")),
        };
        if period.is_zero() {
            return Err(invalid("the period must be longer than zero"));
        }
        Ok(Self { calls, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}ms", self.calls, self.period.as_millis())
    }
}

/// One connection's limiter.
#[derive(Debug)]
pub struct RateLimiter {
    /// The time between two calls at the steady rate (period / calls).
    interval: Duration,
    /// How far ahead of now the theoretical arrival time may run: a burst of `calls`.
    tolerance: Duration,
    /// When the next call would be due if calls came exactly at the steady rate.
    theoretical_arrival: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter allowing `rate`.
    pub fn new(rate: Rate) -> Self {
        let interval = rate.period / rate.calls;
        Self { interval, tolerance: rate.period.saturating_sub(interval), theoretical_arrival: Mutex::new(None) }
    }

    /// Takes one call at `now`: `Ok` when allowed, or how long until one would be.
    pub fn try_acquire(&self, now: Instant) -> Result<(), Duration> {
        let mut arrival = self.theoretical_arrival.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let due = arrival.map_or(now, |due| due.max(now));
        let earliest = due.checked_sub(self.tolerance).unwrap_or(now);
        if earliest > now {
            return Err(earliest - now);
        }
        *arrival = Some(due + self.interval);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_their_units() {
        assert_eq!("200/60s".parse::<Rate>().unwrap(), Rate { calls: 200, period: Duration::from_secs(60) });
        assert_eq!("10/1m".parse::<Rate>().unwrap().period, Duration::from_secs(60));
        assert_eq!("5/500ms".parse::<Rate>().unwrap().period, Duration::from_millis(500));
        assert_eq!("5/30".parse::<Rate>().unwrap().period, Duration::from_secs(30));
        for bad in ["200", "0/60s", "x/60s", "10/0s", "10/60d", "10/s"] {
            let error = bad.parse::<Rate>().unwrap_err().to_string();
            assert!(error.contains(&format!("`{bad}`")), "{error}");
        }
    }

    #[test]
    fn a_burst_of_the_whole_rate_passes_then_one_call_per_interval() {
        let limiter = RateLimiter::new("3/3s".parse().unwrap());
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.try_acquire(start), Ok(()));
        }
        assert_eq!(limiter.try_acquire(start), Err(Duration::from_secs(1)));
        assert_eq!(limiter.try_acquire(start + Duration::from_millis(400)), Err(Duration::from_millis(600)));
        assert_eq!(limiter.try_acquire(start + Duration::from_secs(1)), Ok(()));
        assert_eq!(limiter.try_acquire(start + Duration::from_secs(1)), Err(Duration::from_secs(1)));
        // After a quiet period the whole burst is available again.
        let later = start + Duration::from_secs(10);
        for _ in 0..3 {
            assert_eq!(limiter.try_acquire(later), Ok(()));
        }
        assert!(limiter.try_acquire(later).is_err());
    }
}
