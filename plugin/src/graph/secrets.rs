//! The connection's secrets in every spelling the connector produced or sent, and their
//! removal from any text that came from outside (error texts, answers Graph echoes).
//!
//! A server that echoes a request shows a secret as it saw it: raw, form-encoded (with
//! either hex case, `+` or `%20` for a space), percent-encoded by another encoder,
//! JSON-escaped, or in the other base64 alphabet. Each secret is kept in all of these
//! spellings, and one pass over a text replaces every stretch any of them covers.

use crate::graph::config::{AuthMode, ConnectionConfig};
use crate::graph::odata::encode_form_value;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::VecDeque;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not looked for: they would match ordinary text.
const MIN_SECRET_LEN: usize = 4;

/// How many tokens the connection acquired (access tokens, rotated refresh tokens) are
/// remembered: an old one may still be echoed, but a connection that lives for months must
/// not grow without bound. At one access token an hour this is more than a day.
const HELD_LIMIT: usize = 64;

/// How many client assertions are remembered. Each lives ten minutes and is echoed, if at
/// all, by the token endpoint it was sent to; its spellings are many and long.
const ASSERTION_LIMIT: usize = 4;

/// One spelling's place: its group (configured, then held tokens, then assertions, in
/// [`SecretSet::groups`] order) and its index in the group.
type Slot = (u32, u32);

/// Every secret of one connection, in every spelling, indexed for a single-pass search.
pub struct SecretSet {
    /// The spellings of the configured secrets.
    configured: Vec<Box<str>>,
    /// The spellings of each token acquired since, oldest first.
    held: VecDeque<Vec<Box<str>>>,
    /// The spellings of each client assertion made since, oldest first.
    assertions: VecDeque<Vec<Box<str>>>,
    /// Every spelling, ordered by first byte and then longest first.
    order: Vec<Slot>,
    /// For each first byte, the range of `order` holding the spellings that start with it.
    by_first_byte: Vec<(u32, u32)>,
    /// The length of the window [`SecretSet::redact`] slides over a text: the shortest
    /// spelling's, at most [`MAX_WINDOW`].
    window: usize,
    /// For each pair of bytes (hashed, see [`pair_slot`]) that may end the window, how far
    /// the window may move on without passing the start of any spelling: the search skips
    /// most of a text that holds no secret instead of stopping at every byte.
    shifts: Vec<u8>,
}

/// The longest window the search slides: its shifts are bytes.
const MAX_WINDOW: usize = 255;

/// Slots in [`SecretSet::shifts`]: pairs of bytes share a slot, which only shortens a shift.
const SHIFT_SLOTS: usize = 4096;

/// The slot of the pair of bytes `(first, second)` in [`SecretSet::shifts`].
fn pair_slot(first: u8, second: u8) -> usize {
    (usize::from(first) << 4 ^ usize::from(second)) & (SHIFT_SLOTS - 1)
}

// Secrets must never reach a log through `{:?}`.
impl std::fmt::Debug for SecretSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretSet({} spellings)", self.order.len())
    }
}

impl SecretSet {
    /// The configured secrets of a connection.
    pub fn new(config: &ConnectionConfig) -> Self {
        let mut configured = Vec::new();
        match &config.auth {
            AuthMode::ClientCredentials { client_secret } => spell(client_secret, &mut configured),
            AuthMode::Password { password, client_secret, .. } => {
                spell(password, &mut configured);
                client_secret.iter().for_each(|secret| spell(secret, &mut configured));
            }
            AuthMode::RefreshToken { refresh_token, client_secret } => {
                spell(refresh_token, &mut configured);
                client_secret.iter().for_each(|secret| spell(secret, &mut configured));
            }
            AuthMode::AccessToken { token } => spell(token, &mut configured),
            AuthMode::Certificate { certificate, .. } => {
                let texts = certificate.secret_texts();
                // The key's base64 as one run, as a text that unwrapped its lines shows it.
                let unwrapped: String = texts.iter().skip(1).copied().collect();
                texts.iter().for_each(|text| spell(text, &mut configured));
                spell(&unwrapped, &mut configured);
            }
        }
        finish(&mut configured);
        let mut set = SecretSet {
            configured,
            held: VecDeque::new(),
            assertions: VecDeque::new(),
            order: Vec::new(),
            by_first_byte: Vec::new(),
            window: 0,
            shifts: Vec::new(),
        };
        set.reindex();
        set
    }

    /// Adds a secret the connection acquired (an access token, a rotated refresh token).
    pub fn hold(&mut self, secret: &str) {
        let mut spellings = Vec::new();
        spell(secret, &mut spellings);
        self.hold_spellings(spellings);
    }

    /// Adds a client assertion the connection made: the whole assertion, its signature, both
    /// also in the standard base64 alphabet, and the assertion's own text in base64.
    pub fn hold_assertion(&mut self, assertion: &str) {
        use base64ct::{Base64, Base64UrlUnpadded, Encoding};
        let mut spellings = Vec::new();
        let signature = assertion.rsplit('.').next().unwrap_or("");
        for text in [assertion, signature] {
            spell(text, &mut spellings);
            spell(&text.replace('-', "+").replace('_', "/"), &mut spellings);
        }
        spell(&Base64::encode_string(assertion.as_bytes()), &mut spellings);
        spell(&Base64UrlUnpadded::encode_string(assertion.as_bytes()), &mut spellings);
        if push_group(&mut self.assertions, spellings, ASSERTION_LIMIT) {
            self.reindex();
        }
    }

    fn hold_spellings(&mut self, spellings: Vec<Box<str>>) {
        if push_group(&mut self.held, spellings, HELD_LIMIT) {
            self.reindex();
        }
    }

    /// Every group of spellings: the configured secrets, the held tokens, the assertions.
    fn groups(&self) -> impl Iterator<Item = &Vec<Box<str>>> {
        std::iter::once(&self.configured).chain(self.held.iter()).chain(self.assertions.iter())
    }

    fn spelling(&self, (group, index): Slot) -> &str {
        let group = match (group as usize).checked_sub(1) {
            None => &self.configured,
            Some(n) if n < self.held.len() => &self.held[n],
            Some(n) => &self.assertions[n - self.held.len()],
        };
        &group[index as usize]
    }

    fn reindex(&mut self) {
        let mut order: Vec<Slot> = self
            .groups()
            .enumerate()
            .flat_map(|(group, spellings)| (0..spellings.len()).map(move |index| (group as u32, index as u32)))
            .collect();
        order.sort_by_key(|&slot| {
            let text = self.spelling(slot).as_bytes();
            (text[0], std::cmp::Reverse(text.len()))
        });
        let mut by_first_byte = vec![(0u32, 0u32); 256];
        for (at, &slot) in order.iter().enumerate() {
            let text = self.spelling(slot).as_bytes();
            let range = &mut by_first_byte[usize::from(text[0])];
            if range.0 == range.1 {
                range.0 = at as u32;
            }
            range.1 = at as u32 + 1;
        }
        // The multi-pattern skip of Wu and Manber, on pairs of bytes: a window of the
        // shortest spelling's length slides over the text, and the pair of bytes that ends it
        // says how far it may move. A pair found `j` bytes into the window's worth of some
        // spelling's start allows `window - 1 - j`; a pair found in none, `window - 1`.
        let window = order.iter().map(|&slot| self.spelling(slot).len()).min().unwrap_or(0).min(MAX_WINDOW);
        let mut shifts = Vec::new();
        if window >= 2 {
            shifts = vec![(window - 1) as u8; SHIFT_SLOTS];
            for &slot in &order {
                let start = &self.spelling(slot).as_bytes()[..window];
                for j in 1..window {
                    let shift = &mut shifts[pair_slot(start[j - 1], start[j])];
                    *shift = (*shift).min((window - 1 - j) as u8);
                }
            }
        }
        self.order = order;
        self.by_first_byte = by_first_byte;
        self.window = window;
        self.shifts = shifts;
    }

    /// The length of the longest spelling `rest` starts with.
    fn longest_at(&self, rest: &[u8]) -> Option<usize> {
        let (from, to) = self.by_first_byte[usize::from(rest[0])];
        self.order[from as usize..to as usize]
            .iter()
            .map(|&slot| self.spelling(slot).as_bytes())
            .find(|spelling| rest.starts_with(spelling))
            .map(<[u8]>::len)
    }

    /// `text` with every stretch that any spelling of any secret covers replaced by
    /// [`REDACTED`] (overlapping and adjacent matches become one). Borrowed when nothing matched.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let bytes = text.as_bytes();
        let window = self.window;
        if self.order.is_empty() || window < 2 || bytes.len() < window {
            return Cow::Borrowed(text);
        }
        let mut out = String::new();
        let mut copied = 0;
        let mut covered: Option<(usize, usize)> = None;
        // `last` is the window's last byte; every start a spelling may have is looked at, in
        // order, so the stretches come out as a byte-by-byte search would find them.
        let mut last = window - 1;
        while last < bytes.len() {
            let shift = self.shifts[pair_slot(bytes[last - 1], bytes[last])];
            if shift > 0 {
                last += usize::from(shift);
                continue;
            }
            let at = last + 1 - window;
            last += 1;
            let Some(len) = self.longest_at(&bytes[at..]) else { continue };
            match &mut covered {
                Some((_, end)) if at <= *end => *end = (*end).max(at + len),
                _ => {
                    if let Some((start, end)) = covered.replace((at, at + len)) {
                        out.push_str(&text[copied..start]);
                        out.push_str(REDACTED);
                        copied = end;
                    }
                }
            }
        }
        let Some((start, end)) = covered else { return Cow::Borrowed(text) };
        // Spellings are whole UTF-8 texts, so every stretch starts and ends on a character boundary.
        out.push_str(&text[copied..start]);
        out.push_str(REDACTED);
        out.push_str(&text[end..]);
        Cow::Owned(out)
    }

    /// JSON text with every string literal (member names too) that is written with a
    /// backslash escape read as the string it stands for, and redacted as such: JSON may write
    /// any character as an escape (`\/`, `\u0065`), so no list of spellings covers what a
    /// server can echo, but the decoded string is the secret itself. `None` when nothing
    /// changed. Literals without an escape are what [`SecretSet::redact`] already searched.
    pub fn redact_escaped_strings(&self, json: &str) -> Option<String> {
        let bytes = json.as_bytes();
        if self.order.is_empty() || memchr::memchr(b'\\', bytes).is_none() {
            return None;
        }
        let mut out = String::new();
        let mut copied = 0;
        let mut at = 0;
        // Outside a literal JSON text holds no quote but the one that opens the next literal.
        while let Some(open) = memchr::memchr(b'"', &bytes[at..]).map(|found| at + found) {
            let mut end = open + 1;
            let mut escaped = false;
            let close = loop {
                match memchr::memchr2(b'"', b'\\', &bytes[end..]).map(|found| end + found) {
                    Some(quote) if bytes[quote] == b'"' => break Some(quote),
                    Some(backslash) => {
                        escaped = true;
                        end = backslash + 2;
                    }
                    None => break None,
                }
                if end >= bytes.len() {
                    break None;
                }
            };
            let Some(close) = close else { break };
            at = close + 1;
            if !escaped {
                continue;
            }
            let literal = &json[open..=close];
            let Ok(decoded) = serde_json::from_str::<String>(literal) else { continue };
            if let Cow::Owned(redacted) = self.redact(&decoded) {
                out.push_str(&json[copied..open]);
                out.push_str(&serde_json::to_string(&redacted).unwrap_or_else(|_| format!("\"{REDACTED}\"")));
                copied = at;
            }
        }
        if copied == 0 {
            return None;
        }
        out.push_str(&json[copied..]);
        Some(out)
    }

    /// Redacts every string, member name and number of a JSON tree in place (a number that
    /// holds a secret becomes the string [`REDACTED`]).
    pub fn redact_value(&self, value: &mut Value) {
        if self.order.is_empty() {
            return;
        }
        match value {
            Value::String(text) => {
                if let Cow::Owned(redacted) = self.redact(text) {
                    *text = redacted;
                }
            }
            Value::Number(number) => {
                if matches!(self.redact(&number.to_string()), Cow::Owned(_)) {
                    *value = Value::String(REDACTED.into());
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_value(item)),
            Value::Object(members) => {
                if members.keys().any(|name| matches!(self.redact(name), Cow::Owned(_))) {
                    *members = std::mem::take(members)
                        .into_iter()
                        .map(|(name, mut member)| {
                            self.redact_value(&mut member);
                            (self.redact(&name).into_owned(), member)
                        })
                        .collect();
                } else {
                    members.values_mut().for_each(|member| self.redact_value(member));
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

/// Adds a secret's spellings as the newest group unless they are empty or already there,
/// forgetting the oldest group beyond `limit`. True when something was added.
fn push_group(groups: &mut VecDeque<Vec<Box<str>>>, mut spellings: Vec<Box<str>>, limit: usize) -> bool {
    finish(&mut spellings);
    if spellings.is_empty() || groups.iter().any(|group| group.first() == spellings.first()) {
        return false;
    }
    if groups.len() == limit {
        groups.pop_front();
    }
    groups.push_back(spellings);
    true
}

/// Sorts and deduplicates spellings, keeping the raw one (the first) first.
fn finish(spellings: &mut Vec<Box<str>>) {
    if spellings.len() > 1 {
        let first = spellings[0].clone();
        spellings.sort();
        spellings.dedup();
        if let Some(at) = spellings.iter().position(|spelling| *spelling == first) {
            spellings[..=at].rotate_right(1);
        }
    }
}

/// Pushes the spellings of one secret (none when it is too short to look for).
fn spell(secret: &str, out: &mut Vec<Box<str>>) {
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    if all_spelled_alike(secret.as_bytes()) {
        // A JWT (access tokens, assertions) and most client secrets: every other spelling
        // would be this one again. Spelling a 2 KB token sixteen times was most of what
        // opening a connection cost.
        out.push(secret.into());
        return;
    }
    spell_every_way(secret, out);
}

/// Pushes every spelling of a secret, the same ones many times over for most secrets
/// ([`finish`] drops the repeats).
fn spell_every_way(secret: &str, out: &mut Vec<Box<str>>) {
    out.push(secret.into());
    // Exactly as the token request carries it.
    out.push(encode_form_value(secret).into());
    // RFC 3986 unreserved (the connector's own form encoding), WHATWG form encoding,
    // and JavaScript's `encodeURIComponent`.
    let unreserved: fn(u8) -> bool = |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    let whatwg: fn(u8) -> bool = |b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_');
    let component: fn(u8) -> bool =
        |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')');
    for keep in [unreserved, whatwg, component] {
        for hex in [UPPER_HEX, LOWER_HEX] {
            let encoded = percent_encoded(secret, keep, hex);
            if encoded.contains("%20") {
                out.push(encoded.replace("%20", "+").into());
            }
            out.push(encoded.into());
        }
    }
    // As serde_json writes a string, without the quotes.
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    if let Some(inner) = quoted.get(1..quoted.len().saturating_sub(1)) {
        out.push(inner.into());
    }
    // ASCII-only JSON, as many serializers write it, and .NET's HTML-safe default.
    for hex in [UPPER_HEX, LOWER_HEX] {
        out.push(json_escaped(secret, hex, false).into());
        out.push(json_escaped(secret, hex, true).into());
    }
}

/// Whether every spelling `spell` makes writes the byte as itself: letters, digits and
/// `-._`, which every percent encoding keeps and JSON never escapes.
fn spelled_alike(byte: u8) -> bool {
    SPELLED_ALIKE[usize::from(byte)]
}

/// Whether every byte of `bytes` is [`spelled_alike`]. A 2 KB token is checked on every
/// connection a fresh instance opens: eight bytes at a time, as a word ([`alike_word`]).
fn all_spelled_alike(bytes: &[u8]) -> bool {
    let (words, rest) = bytes.as_chunks::<8>();
    words.iter().all(|word| alike_word(u64::from_le_bytes(*word))) && rest.iter().all(|&byte| spelled_alike(byte))
}

/// Whether all eight bytes of `word` are [`spelled_alike`]: each byte is ASCII, and within
/// one of the ranges `-.`, `0-9`, `A-Z`, `_` or `a-z`. For an ASCII byte `x`, the high bit of
/// `x + 0x80 - low` is set exactly when `x >= low`, and the sum never carries into the next
/// byte (it is at most `0x7f + 0x80`).
fn alike_word(word: u64) -> bool {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    const fn at_least(low: u8) -> u64 {
        (0x80 - low as u64) * 0x0101_0101_0101_0101
    }
    if word & HIGH_BITS != 0 {
        return false;
    }
    let within = |low: u8, high: u8| (word + at_least(low)) & !(word + at_least(high + 1));
    let alike = within(b'-', b'.') | within(b'0', b'9') | within(b'A', b'Z') | within(b'_', b'_') | within(b'a', b'z');
    alike & HIGH_BITS == HIGH_BITS
}

/// [`spelled_alike`] as a table: one load per byte of a 2 KB token, where the comparisons
/// took several.
const SPELLED_ALIKE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
        byte += 1;
    }
    table
};

/// Upper-case hex digits.
const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";
/// Lower-case hex digits.
const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

/// `%XX` for every byte `keep` refuses.
fn percent_encoded(text: &str, keep: fn(u8) -> bool, hex: &[u8; 16]) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if keep(byte) {
            out.push(char::from(byte));
        } else {
            out.extend(['%', char::from(hex[usize::from(byte >> 4)]), char::from(hex[usize::from(byte & 0x0F)])]);
        }
    }
    out
}

/// A JSON string's inside with every character outside printable ASCII as `\uXXXX`
/// (UTF-16 units), and with `html_safe`, also `"'&+<>` and the backtick.
fn json_escaped(text: &str, hex: &[u8; 16], html_safe: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut units = [0u16; 2];
    for c in text.chars() {
        match c {
            '"' if !html_safe => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' | '\'' | '&' | '+' | '<' | '>' | '`' if html_safe => push_unit(&mut out, c as u16, hex),
            ' '..='~' => out.push(c),
            _ => c.encode_utf16(&mut units).iter().for_each(|&unit| push_unit(&mut out, unit, hex)),
        }
    }
    out
}

/// `\uXXXX` for one UTF-16 unit.
fn push_unit(out: &mut String, unit: u16, hex: &[u8; 16]) {
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(char::from(hex[usize::from((unit >> shift) & 0x0F)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(secret: &str) -> SecretSet {
        let config =
            json!({"tenantId": "contoso.onmicrosoft.com", "clientId": "app-id", "clientSecret": secret}).to_string();
        SecretSet::new(&ConnectionConfig::parse(&config).unwrap())
    }

    /// What `redact` must give: every byte of the text looked at as a possible start.
    fn redacted_byte_by_byte(set: &SecretSet, text: &str) -> String {
        let bytes = text.as_bytes();
        let mut stretches: Vec<(usize, usize)> = Vec::new();
        for at in 0..bytes.len() {
            if set.order.is_empty() {
                break;
            }
            let Some(len) = set.longest_at(&bytes[at..]) else { continue };
            match stretches.last_mut() {
                Some((_, end)) if at <= *end => *end = (*end).max(at + len),
                _ => stretches.push((at, at + len)),
            }
        }
        let mut out = String::new();
        let mut copied = 0;
        for (start, end) in stretches {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
        }
        out.push_str(&text[copied..]);
        out
    }

    #[test]
    fn a_secret_has_one_spelling_exactly_when_every_byte_is_spelled_alike() {
        // Every ASCII byte, control characters included; non-ASCII text always has spellings
        // of its own (percent and `\u` escapes).
        for byte in 0x01u8..0x80 {
            let secret = format!("ab{}cd", char::from(byte));
            let mut spellings = Vec::new();
            spell_every_way(&secret, &mut spellings);
            finish(&mut spellings);
            assert_eq!(spellings.len() == 1, spelled_alike(byte), "{secret:?}: {spellings:?}");
            let mut quick = Vec::new();
            spell(&secret, &mut quick);
            finish(&mut quick);
            assert_eq!(quick, spellings, "{secret:?}");
        }
        // Long secrets are checked eight bytes at a time: one byte that is not spelled alike,
        // wherever it stands, gives every spelling.
        let long: String = (0..61).map(|i| char::from(b"aZ9-._q"[i % 7])).collect();
        assert!(all_spelled_alike(long.as_bytes()));
        // Every byte value, at every place of two words and a tail, against the table.
        for byte in 0..=255u8 {
            for at in 0..19 {
                let mut bytes = long.as_bytes()[..19].to_vec();
                bytes[at] = byte;
                assert_eq!(all_spelled_alike(&bytes), spelled_alike(byte), "{byte:#x} at {at}");
            }
        }
        for at in 0..long.len() {
            let mut odd = long.clone().into_bytes();
            odd[at] = b'+';
            assert!(!all_spelled_alike(&odd), "a `+` at {at}");
        }
        let mut spellings = Vec::new();
        spell("abécd", &mut spellings);
        finish(&mut spellings);
        assert!(spellings.len() > 1, "{spellings:?}");
    }

    proptest::proptest! {
        /// The skipping search finds exactly the stretches a byte-by-byte one does, with
        /// secrets of every length from the shortest looked for, overlapping and repeated,
        /// in texts made of their own pieces (where near misses are most common).
        #[test]
        fn the_skipping_search_redacts_what_a_byte_by_byte_one_does(
            secrets in proptest::collection::vec("[ab+/=%-]{4,12}", 1..4),
            pieces in proptest::collection::vec((0usize..4, 0usize..12, 0usize..12, "[ab +é]{0,3}"), 0..24),
        ) {
            let mut set = set(&secrets[0]);
            secrets[1..].iter().for_each(|secret| set.hold(secret));
            let mut text = String::new();
            for (which, from, to, filler) in pieces {
                let secret = &secrets[which % secrets.len()];
                let (from, to) = (from.min(secret.len()), to.min(secret.len()));
                text.push_str(&secret[from.min(to)..to.max(from)]);
                text.push_str(&filler);
            }
            proptest::prop_assert_eq!(set.redact(&text).into_owned(), redacted_byte_by_byte(&set, &text));
        }
    }

    #[test]
    fn a_secret_at_the_very_start_or_end_of_a_text_is_found() {
        let set = set("s3cr3t-value");
        for text in ["s3cr3t-value", "s3cr3t-value and more", "more and s3cr3t-value", "xs3cr3t-valuex"] {
            assert_eq!(set.redact(text), redacted_byte_by_byte(&set, text), "{text}");
            assert!(set.redact(text).contains(REDACTED), "{text}");
        }
        assert!(matches!(set.redact("s3cr3t-valu"), Cow::Borrowed(_)));
    }

    #[test]
    fn secrets_written_with_json_escapes_are_redacted_as_the_strings_they_stand_for() {
        let set = set("s3cr3t/val+ue");
        let page = concat!(
            r#"{"value":[{"a":"s3cr3t\/val+ue"},{"b":"x \u0073\u0033cr3t/val\u002Bue y"},"#,
            r#"{"s3cr3t\/val+ue":"name"},{"c":"plain \"quoted\" text"},{"d":"s3cr3t\/val"}]}"#
        );
        let redacted = set.redact_escaped_strings(page).expect("secrets were found");
        let tree: Value = serde_json::from_str(&redacted).expect("still JSON");
        assert_eq!(
            tree,
            json!({"value": [
                {"a": "[redacted]"},
                {"b": "x [redacted] y"},
                {"[redacted]": "name"},
                {"c": "plain \"quoted\" text"},
                {"d": "s3cr3t/val"},
            ]})
        );
        // Literals without escapes are left to `redact`, and text without a secret is kept.
        assert_eq!(set.redact_escaped_strings(r#"{"a":"s3cr3t/val+ue","b":"\n"}"#), None);
        assert_eq!(set.redact_escaped_strings(r#"["\\", "\"", 1]"#), None);
    }

    #[test]
    fn every_spelling_is_redacted() {
        let set = set("p+ss/w=rd&1 é\"");
        for spelling in [
            "p+ss/w=rd&1 é\"",
            "p%2Bss%2Fw%3Drd%261%20%C3%A9%22",
            "p%2bss%2fw%3drd%261%20%c3%a9%22",
            "p%2Bss%2Fw%3Drd%261+%C3%A9%22",
            "p%2bss%2fw%3drd%261+%c3%a9%22",
            "p+ss/w=rd&1 é\\\"",
            "p+ss/w=rd&1 \\u00e9\\\"",
            "p\\u002Bss/w=rd\\u00261 \\u00E9\\u0022",
        ] {
            assert_eq!(set.redact(&format!("a {spelling} b")), "a [redacted] b", "{spelling}");
        }
    }

    #[test]
    fn overlapping_and_adjacent_secrets_leave_nothing_of_either() {
        let mut set = set("xxPASS");
        set.hold("PASSWORD-LONG");
        assert_eq!(set.redact("<xxPASSWORD-LONG>"), "<[redacted]>");
        assert_eq!(set.redact("xxPASSxxPASS and PASSWORD-LONG."), "[redacted] and [redacted].");
    }

    #[test]
    fn text_without_secrets_is_borrowed_and_short_secrets_are_ignored() {
        let set = set("abc");
        assert!(matches!(set.redact("abc abc"), Cow::Borrowed("abc abc")));
        let set = self::set("s3cr3t");
        assert!(matches!(set.redact("nothing é here"), Cow::Borrowed(_)));
        assert_eq!(set.redact("é s3cr3t é"), "é [redacted] é");
    }

    #[test]
    fn held_secrets_are_bounded_and_the_oldest_go_first() {
        let mut set = set("configured-secret");
        for n in 0..=HELD_LIMIT {
            set.hold(&format!("token-{n:04}"));
        }
        assert_eq!(set.held.len(), HELD_LIMIT);
        assert_eq!(set.redact("token-0000 token-0001 configured-secret"), "token-0000 [redacted] [redacted]");
    }

    #[test]
    fn json_trees_are_redacted_in_names_strings_and_numbers() {
        let set = set("12345678");
        let mut value = json!({"12345678": [1, 12345678, "x12345678y"], "ok": true});
        set.redact_value(&mut value);
        assert_eq!(value, json!({"[redacted]": [1, "[redacted]", "x[redacted]y"], "ok": true}));
    }

    #[test]
    fn assertions_are_held_in_every_alphabet_and_bounded_apart_from_tokens() {
        let mut set = set("configured-secret");
        set.hold("token-0001");
        for n in 0..=ASSERTION_LIMIT {
            set.hold_assertion(&format!("eyJh.eyJp.sig-_{n:04}"));
        }
        assert_eq!((set.held.len(), set.assertions.len()), (1, ASSERTION_LIMIT));
        assert_eq!(
            set.redact("sig-_0000 sig-_0001 sig+/0002 sig%2B%2F0003 eyJh.eyJp.sig-_0004 token-0001"),
            "sig-_0000 [redacted] [redacted] [redacted] [redacted] [redacted]"
        );
    }
}
