//! ISO 8601 date-times read from action inputs (`since`, `until`, `startDateTime`), converted
//! to UTC and written as Graph's filters and bodies take them: `YYYY-MM-DDThh:mm:ssZ`, the
//! fraction of a second kept as given.

use crate::error::{ConnectorError, Result};
use std::cmp::Ordering;
use std::fmt;

/// A point in time in UTC, to the precision the caller gave.
#[derive(Debug, Clone)]
pub struct UtcDateTime {
    /// Seconds since 0000-03-01T00:00:00Z (any fixed origin serves: only order and
    /// formatting use it).
    seconds: i64,
    /// The fraction of a second, as its decimal digits (empty when none was given).
    fraction: String,
}

impl UtcDateTime {
    /// Reads `text` as a date alone (`2024-05-01`, midnight UTC) or a date-time with `Z` or
    /// an offset (`2024-05-01T08:00:00Z`, `2024-05-01T10:00+02:00`); the error names `field`.
    pub fn parse(field: &str, text: &str) -> Result<UtcDateTime> {
        let invalid = || {
            ConnectorError::invalid_input(format!(
                "`{field}` must be an ISO 8601 date-time with `Z` or an offset (`2024-05-01T08:00:00Z`, \
                 `2024-05-01T10:00:00+02:00`) or a date alone (`2024-05-01`, midnight UTC); got `{text}`"
            ))
        };
        parse_parts(text.trim()).ok_or_else(invalid)
    }

    /// The fraction's digits padded to nanoseconds, for comparing.
    fn nanos(&self) -> u32 {
        let digits: String = self.fraction.chars().chain(std::iter::repeat('0')).take(9).collect();
        digits.parse().unwrap_or(0)
    }
}

impl PartialEq for UtcDateTime {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for UtcDateTime {}

impl Ord for UtcDateTime {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.seconds, self.nanos()).cmp(&(other.seconds, other.nanos()))
    }
}

impl PartialOrd for UtcDateTime {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for UtcDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.seconds.div_euclid(86_400);
        let of_day = self.seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(f, "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", of_day / 3600, of_day / 60 % 60, of_day % 60)?;
        if !self.fraction.is_empty() {
            write!(f, ".{}", self.fraction)?;
        }
        f.write_str("Z")
    }
}

/// A fixed number of ASCII digits at the start of `text`, and the rest.
fn digits(text: &str, count: usize) -> Option<(i64, &str)> {
    let head = text.get(..count)?;
    if !head.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &text[count..]))
}

fn parse_parts(text: &str) -> Option<UtcDateTime> {
    let (year, rest) = digits(text, 4)?;
    let (month, rest) = digits(rest.strip_prefix('-')?, 2)?;
    let (day, rest) = digits(rest.strip_prefix('-')?, 2)?;
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if rest.is_empty() {
        return Some(UtcDateTime { seconds: days * 86_400, fraction: String::new() });
    }
    let rest = rest.strip_prefix(['T', 't'])?;
    let (hour, rest) = digits(rest, 2)?;
    let (minute, mut rest) = digits(rest.strip_prefix(':')?, 2)?;
    let mut second = 0;
    let mut fraction = String::new();
    if let Some(after) = rest.strip_prefix(':') {
        let (value, after) = digits(after, 2)?;
        second = value;
        rest = after;
        if let Some(after) = rest.strip_prefix(['.', ',']) {
            let length = after.bytes().take_while(u8::is_ascii_digit).count();
            if !(1..=9).contains(&length) {
                return None;
            }
            fraction = after[..length].to_string();
            rest = &after[length..];
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (hours, after) = digits(&rest[1..], 2)?;
            let after = after.strip_prefix(':').unwrap_or(after);
            let (minutes, after) = digits(after, 2)?;
            if !after.is_empty() || hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    // An offset must not carry the instant out of the years that can be written.
    let (utc_year, _, _) = civil_from_days(seconds.div_euclid(86_400));
    (1..=9999).contains(&utc_year).then_some(UtcDateTime { seconds, fraction })
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 0000-03-01 of a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`, shifted to a non-negative origin for the years written here).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era
}

/// The date of a day counted by [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> String {
        UtcDateTime::parse("since", text).map(|time| time.to_string()).unwrap_or_else(|error| error.message)
    }

    #[test]
    fn dates_and_offsets_become_utc_with_the_fraction_kept() {
        assert_eq!(utc("2024-05-01T08:00:00Z"), "2024-05-01T08:00:00Z");
        assert_eq!(utc("2024-05-01"), "2024-05-01T00:00:00Z");
        assert_eq!(utc("2024-05-01T10:30:00+02:00"), "2024-05-01T08:30:00Z");
        assert_eq!(utc("2024-05-01T01:00-0330"), "2024-05-01T04:30:00Z");
        assert_eq!(utc("2024-03-01T01:00:00+02:00"), "2024-02-29T23:00:00Z");
        assert_eq!(utc("2023-12-31T23:30:00-01:00"), "2024-01-01T00:30:00Z");
        assert_eq!(utc("2020-03-13T19:15:41.6195833Z"), "2020-03-13T19:15:41.6195833Z");
        assert_eq!(utc(" 2024-05-01t08:00:00z "), "2024-05-01T08:00:00Z");
    }

    #[test]
    fn malformed_or_impossible_times_are_refused_naming_the_field() {
        for text in [
            "2024-05-01T08:00:00",
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-05-01T24:00:00Z",
            "2024-05-01T08:60Z",
            "2024-05-01T08:00:00.Z",
            "2024-05-01T08:00:00.1234567890Z",
            "2024-05-01T08:00:00+24:00",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:00:00-02:00",
            "yesterday",
            "2024-5-1",
            "",
            "2024-05-01T08:00:00Zjunk",
        ] {
            let message = utc(text);
            assert!(message.starts_with("`since` must be an ISO 8601 date-time"), "{text}: {message}");
        }
    }

    #[test]
    fn instants_compare_across_offsets_and_fractions() {
        let at = |text: &str| UtcDateTime::parse("t", text).unwrap();
        assert!(at("2024-05-01T10:00:00+02:00") == at("2024-05-01T08:00:00Z"));
        assert!(at("2024-05-01T08:00:00.5Z") > at("2024-05-01T08:00:00.49Z"));
        assert!(at("2024-05-01T08:00:00.50Z") == at("2024-05-01T08:00:00.5Z"));
        assert!(at("2024-05-02") > at("2024-05-01T23:59:59.999Z"));
    }
}
