//! The connector's one retry policy, for Graph requests and token requests alike: which
//! answers are worth sending again (429, 503, 504, a connection that failed), how long to
//! wait first (the server's `Retry-After`, at least [`MIN_RETRY_AFTER_MS`], or an exponential
//! backoff with jitter), how many times (`maxRetries`), and never past the invocation's deadline.

use crate::graph::transport::{HttpResponse, Transport};

/// Largest wait between retries without `Retry-After`, in milliseconds.
const MAX_BACKOFF_MS: u64 = 60_000;
/// First backoff wait when Graph gives no `Retry-After` (doubled on every further attempt,
/// then jittered down by up to half so that many clients do not retry in step).
const BASE_BACKOFF_MS: u64 = 1_000;

/// The retry budget of one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times one request may be sent again.
    pub max_retries: u32,
    /// When the invocation's time is up (monotonic ms; `u64::MAX` for none).
    pub deadline_ms: u64,
}

/// What follows a failed attempt that could be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait this long (ms), then send again.
    RetryAfter(u64),
    /// Stop: no retry is left, or the wait (ms) would pass the deadline.
    GiveUp(u64),
}

impl RetryPolicy {
    /// Whether an HTTP status asks for the request to be sent again later: 429 (not
    /// processed), 503 and 504 (the service is overloaded or timed out).
    pub fn is_retryable_status(status: u16) -> bool {
        matches!(status, 429 | 503 | 504)
    }

    /// After attempt number `attempt` (from 0) failed in a way worth retrying: the wait the
    /// server asked for (`retry_after_ms`) or the backoff step, and whether it is taken.
    pub fn after_failure(&self, transport: &mut dyn Transport, attempt: u32, retry_after_ms: Option<u64>) -> Next {
        let wait = retry_after_ms.unwrap_or_else(|| backoff_wait_ms(transport, attempt));
        if attempt >= self.max_retries || transport.now_ms().saturating_add(wait) >= self.deadline_ms {
            Next::GiveUp(wait)
        } else {
            Next::RetryAfter(wait)
        }
    }
}

/// `Retry-After` in milliseconds, given as delay-seconds or as an IMF-fixdate HTTP date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §10.2.3) compared with `now_secs`.
pub(crate) fn parse_retry_after_ms(value: &str, now_secs: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let date = parse_imf_fixdate(value)?;
    Some(date.saturating_sub(now_secs).saturating_mul(1000))
}

/// Seconds since the Unix epoch of an IMF-fixdate, or `None` when it is not one.
pub(crate) fn parse_imf_fixdate(value: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let mut parts = value.split_ascii_whitespace();
    let (_weekday, day, month, year, time, zone) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || zone != "GMT" {
        return None;
    }
    let number = |text: &str, digits: usize| -> Option<u64> {
        (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok())?
    };
    let day = number(day, 2)?;
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    let year = number(year, 4)?;
    let mut clock = time.split(':');
    let (hour, minute, second) = (number(clock.next()?, 2)?, number(clock.next()?, 2)?, number(clock.next()?, 2)?);
    if clock.next().is_some() || !(1..=31).contains(&day) || year < 1970 || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`, for years from 1970 on).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).saturating_sub(719_468)
}

/// The wait before retry number `attempt + 1` when the server gives no `Retry-After`: the
/// exponential step (1 s, 2 s, 4 s, ... capped), less a random part of up to half of it.
pub(crate) fn backoff_wait_ms(transport: &mut dyn Transport, attempt: u32) -> u64 {
    let step = BASE_BACKOFF_MS.saturating_mul(1u64 << attempt.min(16)).min(MAX_BACKOFF_MS);
    let mut random = [0u8; 8];
    let bytes = transport.random_bytes(8);
    let filled = bytes.len().min(8);
    random[..filled].copy_from_slice(&bytes[..filled]);
    jittered(step, u64::from_le_bytes(random))
}

/// `Retry-After` in milliseconds: delay-seconds, or an HTTP date measured against the
/// wall clock, never less than [`MIN_RETRY_AFTER_MS`] (a server that asks for no wait, or
/// names a date in the past, would otherwise be sent every retry at once).
pub(crate) fn retry_after_wait_ms(transport: &dyn Transport, response: &HttpResponse) -> Option<u64> {
    let value = response.header("retry-after")?;
    parse_retry_after_ms(value, transport.wall_clock_secs()).map(|wait| wait.max(MIN_RETRY_AFTER_MS))
}

/// The shortest wait honoured for a `Retry-After`: a throttled or overloaded service is
/// given at least this long before it hears the request again.
pub const MIN_RETRY_AFTER_MS: u64 = 1_000;

/// A backoff step less a random part of up to half of it: a wait in `[step/2, step]`.
pub(crate) fn jittered(step: u64, random: u64) -> u64 {
    let half = step / 2;
    step - random % (half + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::transport::scripted::ScriptedTransport;

    #[test]
    fn a_retry_is_taken_while_retries_and_time_are_left() {
        let mut transport = ScriptedTransport::new();
        let policy = RetryPolicy { max_retries: 2, deadline_ms: 10_000 };
        assert_eq!(policy.after_failure(&mut transport, 0, Some(3_000)), Next::RetryAfter(3_000));
        // No retry left after the second.
        assert_eq!(policy.after_failure(&mut transport, 2, Some(3_000)), Next::GiveUp(3_000));
        // A wait that would reach the deadline is not taken.
        assert_eq!(policy.after_failure(&mut transport, 0, Some(10_000)), Next::GiveUp(10_000));
        // Without Retry-After, the jittered backoff step of the attempt: 1 s, then 2 s.
        match policy.after_failure(&mut transport, 1, None) {
            Next::RetryAfter(wait) => assert!((1_000..=2_000).contains(&wait), "{wait}"),
            other => panic!("{other:?}"),
        }
        for status in [429, 503, 504] {
            assert!(RetryPolicy::is_retryable_status(status));
        }
        for status in [200, 400, 401, 404, 500, 502] {
            assert!(!RetryPolicy::is_retryable_status(status));
        }
    }
}
