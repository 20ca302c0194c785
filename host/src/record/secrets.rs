//! Secrets a recording must never keep, and their replacement by stable placeholders.
//!
//! A server may show a secret in any spelling: as sent, JSON-escaped, percent-encoded (any
//! subset of its characters, either hex case, `+` or `%20` for a space), HTML-escaped, or in
//! base64 inside a longer base64 text (an HTTP `Basic` credential, a token that embeds it).
//! Rather than listing the spellings each encoder produces, the matcher reads the text one
//! secret character at a time and accepts any escape of that character, so spellings that mix
//! encoders are found too; base64 is matched through the fragments of the secret's encoding
//! that do not depend on the bytes around it.

use base64ct::{Base64Unpadded, Base64UrlUnpadded, Encoding as _};
use serde_json::Value;
use std::borrow::Cow;

/// Secrets shorter than this are not searched for in free text: they would match ordinary
/// words. The member that holds one is still replaced.
const MIN_SECRET_CHARS: usize = 4;

/// Base64 fragments shorter than this are not searched for: short runs of base64 occur by
/// chance in ids and hashes.
const MIN_BASE64_FRAGMENT: usize = 16;

/// The shortest last part of a dotted token (a JWT's signature) searched for on its own.
const MIN_SIGNATURE_CHARS: usize = 16;

/// One secret: its placeholder and every text form it is searched in.
struct Secret {
    value: String,
    placeholder: String,
    /// The value, its signature part if it is a dotted token, and its base64 fragments
    /// (marked `true`); the longest first, so a whole token wins over its signature.
    forms: Vec<(Vec<char>, bool)>,
}

/// Every secret of a recording, with the placeholder each is replaced by.
///
/// The same value always gets the same placeholder; the first value of a kind is `<kind>`,
/// the next ones `<kind-2>`, `<kind-3>`, ... (a renewed access token).
#[derive(Default)]
pub struct SecretRedactor {
    secrets: Vec<Secret>,
}

// Secrets must never reach a log through `{:?}`.
impl std::fmt::Debug for SecretRedactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretRedactor({} secrets)", self.secrets.len())
    }
}

impl SecretRedactor {
    /// No secrets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret of `kind` (`client-secret`, `access-token`, ...) and returns its
    /// placeholder; a value already known keeps the placeholder it has. Empty values are
    /// ignored (`None`).
    pub fn add(&mut self, value: &str, kind: &str) -> Option<String> {
        if value.is_empty() {
            return None;
        }
        if let Some(known) = self.placeholder_of(value) {
            return Some(known.to_string());
        }
        let same_kind = self
            .secrets
            .iter()
            .filter(|secret| {
                let name = secret.placeholder.trim_start_matches('<').trim_end_matches('>');
                name == kind || name.strip_prefix(kind).is_some_and(|rest| rest.starts_with('-'))
            })
            .count();
        let placeholder = if same_kind == 0 { format!("<{kind}>") } else { format!("<{kind}-{}>", same_kind + 1) };
        let mut forms = Vec::new();
        let mut fragments = Vec::new();
        if value.chars().count() >= MIN_SECRET_CHARS {
            forms.push(value.to_string());
            if let Some(signature) = value.rsplit('.').next().filter(|_| value.matches('.').count() == 2) {
                if signature.len() >= MIN_SIGNATURE_CHARS {
                    forms.push(signature.to_string());
                    // The signature in the other base64 alphabet, as a decoder that
                    // normalised it shows it.
                    forms.push(signature.replace('-', "+").replace('_', "/"));
                }
            }
            fragments = base64_fragments(value.as_bytes());
        }
        let mut forms: Vec<(Vec<char>, bool)> = forms
            .into_iter()
            .map(|form| (form.chars().collect(), false))
            .chain(fragments.into_iter().map(|fragment| (fragment.chars().collect(), true)))
            .collect();
        forms.sort_by_key(|(form, _)| std::cmp::Reverse(form.len()));
        forms.dedup();
        self.secrets.push(Secret { value: value.to_string(), placeholder: placeholder.clone(), forms });
        // Longest secrets first: a token that contains another secret is replaced whole.
        self.secrets.sort_by_key(|secret| std::cmp::Reverse(secret.value.len()));
        Some(placeholder)
    }

    /// The placeholder of a known secret value.
    pub fn placeholder_of(&self, value: &str) -> Option<&str> {
        self.secrets.iter().find(|secret| secret.value == value).map(|secret| secret.placeholder.as_str())
    }

    /// Whether no secret is known.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every spelling of every secret replaced by its placeholder.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.secrets.is_empty() {
            return Cow::Borrowed(text);
        }
        let bytes = text.as_bytes();
        let mut out = String::new();
        let mut copied = 0;
        let mut at = 0;
        while at < bytes.len() {
            // Spellings start with an ASCII escape or the secret's own first character, so
            // a match always starts on a character boundary.
            if !text.is_char_boundary(at) {
                at += 1;
                continue;
            }
            match self.match_at(text, at, copied) {
                Some((start, end, placeholder)) => {
                    out.push_str(&text[copied..start]);
                    out.push_str(placeholder);
                    copied = end;
                    at = end;
                }
                None => at += 1,
            }
        }
        if copied == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }

    /// The placeholder of the first secret found in `text`, if any: the check a recording
    /// passes before it is written.
    pub fn find_in(&self, text: &str) -> Option<&str> {
        (0..text.len())
            .filter(|&at| text.is_char_boundary(at))
            .find_map(|at| self.match_at(text, at, at).map(|(_, _, placeholder)| placeholder))
    }

    /// Bytes with every secret, as raw UTF-8 or in base64, replaced by its placeholder (for
    /// bodies that are not text).
    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for secret in &self.secrets {
            for (form, _) in &secret.forms {
                let form: String = form.iter().collect();
                out = replace_bytes(&out, form.as_bytes(), secret.placeholder.as_bytes());
            }
        }
        out
    }

    /// Redacts every string and member name of a JSON tree in place.
    pub fn redact_value(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                if let Cow::Owned(redacted) = self.redact(text) {
                    *text = redacted;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_value(item)),
            Value::Object(members) => {
                *members = std::mem::take(members)
                    .into_iter()
                    .map(|(name, mut member)| {
                        self.redact_value(&mut member);
                        (self.redact(&name).into_owned(), member)
                    })
                    .collect();
            }
            Value::Number(number) => {
                if matches!(self.redact(&number.to_string()), Cow::Owned(_)) {
                    *value = Value::String(self.redact(&number.to_string()).into_owned());
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// The longest spelling of a secret starting at byte `at`: where the stretch to replace
    /// starts and ends, and the secret's placeholder. A base64 fragment takes the character
    /// on each side with it (not before `floor`), and any padding: those characters mix bits
    /// of the secret with bits of its neighbours.
    fn match_at(&self, text: &str, at: usize, floor: usize) -> Option<(usize, usize, &str)> {
        let bytes = text.as_bytes();
        let is_base64 = |byte: u8| byte.is_ascii_alphanumeric() || b"+/-_".contains(&byte);
        self.secrets.iter().find_map(|secret| {
            secret.forms.iter().find_map(|(form, fragment)| {
                let end = match_form(bytes, at, form)?;
                if !fragment {
                    return Some((at, end, secret.placeholder.as_str()));
                }
                let start = if at > floor && is_base64(bytes[at - 1]) { at - 1 } else { at };
                let mut end = if bytes.get(end).copied().is_some_and(is_base64) { end + 1 } else { end };
                while bytes.get(end) == Some(&b'=') {
                    end += 1;
                }
                Some((start, end, secret.placeholder.as_str()))
            })
        })
    }
}

/// Where a spelling of `form` starting at `at` ends: each character may be written as
/// itself, percent-encoded (per UTF-8 byte, either hex case), `+` for a space, as a JSON
/// escape, or as an HTML/XML character reference.
fn match_form(text: &[u8], at: usize, form: &[char]) -> Option<usize> {
    let mut position = at;
    for &character in form {
        position = match_char(text, position, character)?;
    }
    Some(position)
}

fn match_char(text: &[u8], at: usize, character: char) -> Option<usize> {
    let rest = text.get(at..)?;
    let mut utf8 = [0u8; 4];
    let encoded = character.encode_utf8(&mut utf8).as_bytes();
    // Escapes first: a literal `%`, `\`, `&` or `+` in the secret must not swallow the start
    // of an escape of itself.
    if let Some(end) = match_percent(rest, encoded) {
        return Some(at + end);
    }
    if character == ' ' && rest.first() == Some(&b'+') {
        return Some(at + 1);
    }
    if let Some(end) = match_json_escape(rest, character) {
        return Some(at + end);
    }
    if let Some(end) = match_character_reference(rest, character) {
        return Some(at + end);
    }
    rest.starts_with(encoded).then_some(at + encoded.len())
}

/// Each byte as itself or as `%XX`, at least one of them escaped.
fn match_percent(rest: &[u8], encoded: &[u8]) -> Option<usize> {
    let mut position = 0;
    let mut escaped = false;
    for &byte in encoded {
        let here = rest.get(position..)?;
        if here.len() >= 3 && here[0] == b'%' && hex_value(here[1], here[2]) == Some(byte) {
            position += 3;
            escaped = true;
        } else if here.first() == Some(&byte) {
            position += 1;
        } else {
            return None;
        }
    }
    escaped.then_some(position)
}

fn hex_value(high: u8, low: u8) -> Option<u8> {
    let digit = |byte: u8| (byte as char).to_digit(16).map(|digit| digit as u8);
    Some((digit(high)? << 4) | digit(low)?)
}

fn match_json_escape(rest: &[u8], character: char) -> Option<usize> {
    if rest.first() != Some(&b'\\') {
        return None;
    }
    let short = match character {
        '"' => Some(b'"'),
        '\\' => Some(b'\\'),
        '/' => Some(b'/'),
        '\n' => Some(b'n'),
        '\r' => Some(b'r'),
        '\t' => Some(b't'),
        '\u{8}' => Some(b'b'),
        '\u{c}' => Some(b'f'),
        _ => None,
    };
    if short.is_some() && rest.get(1).copied() == short {
        return Some(2);
    }
    let mut units = [0u16; 2];
    let mut position = 0;
    for unit in character.encode_utf16(&mut units).iter() {
        let escape = rest.get(position..position + 6)?;
        if escape[0] != b'\\' || escape[1] != b'u' {
            return None;
        }
        let value = u16::from_str_radix(std::str::from_utf8(&escape[2..]).ok()?, 16).ok()?;
        if value != *unit {
            return None;
        }
        position += 6;
    }
    Some(position)
}

fn match_character_reference(rest: &[u8], character: char) -> Option<usize> {
    if rest.first() != Some(&b'&') {
        return None;
    }
    let named = match character {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&apos;"),
        _ => None,
    };
    if let Some(named) = named.filter(|named| rest.starts_with(named.as_bytes())) {
        return Some(named.len());
    }
    let end = rest.iter().position(|&byte| byte == b';').filter(|&end| end <= 10)?;
    let reference = std::str::from_utf8(rest.get(2..end)?).ok()?;
    if rest.get(1) != Some(&b'#') {
        return None;
    }
    let code = match reference.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => reference.parse().ok()?,
    };
    (code == character as u32).then_some(end + 1)
}

/// The parts of the secret's base64 encoding (both alphabets) that appear whatever bytes
/// precede or follow it, for each of the three alignments it can have in a longer text.
fn base64_fragments(secret: &[u8]) -> Vec<String> {
    let mut fragments = Vec::new();
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(secret);
        let total = padded.len();
        // Characters mixing the zero bytes in front, and the ones mixing whatever follows.
        let start = [0, 2, 3][offset];
        let end = total / 3 * 4 + total % 3;
        for encoded in [Base64Unpadded::encode_string(&padded), Base64UrlUnpadded::encode_string(&padded)] {
            if let Some(fragment) = encoded.get(start..end.min(encoded.len())) {
                if fragment.len() >= MIN_BASE64_FRAGMENT {
                    fragments.push(fragment.to_string());
                }
            }
        }
    }
    fragments
}

fn replace_bytes(haystack: &[u8], needle: &[u8], replacement: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut at = 0;
    while at < haystack.len() {
        if haystack[at..].starts_with(needle) {
            out.extend_from_slice(replacement);
            at += needle.len();
        } else {
            out.push(haystack[at]);
            at += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr+t/Val ue\"&ü~Zq";

    fn redactor() -> SecretRedactor {
        let mut redactor = SecretRedactor::new();
        assert_eq!(redactor.add(SECRET, "client-secret").as_deref(), Some("<client-secret>"));
        redactor
    }

    #[test]
    fn every_spelling_of_a_secret_becomes_its_placeholder() {
        let redactor = redactor();
        let json = serde_json::to_string(SECRET).unwrap().trim_matches('"').to_string();
        let ascii_json = json.replace('ü', "\\u00fc").replace('~', "\\u007E");
        let form_plus: String = url_encode(SECRET, true, true);
        let form_lower = url_encode(SECRET, true, false);
        let percent_20 = url_encode(SECRET, false, true);
        let html = SECRET.replace('&', "&amp;").replace('"', "&#34;");
        for spelling in [SECRET.to_string(), json, ascii_json, form_plus, form_lower, percent_20, html] {
            let text = format!("before {spelling} after");
            assert_eq!(redactor.redact(&text), "before <client-secret> after", "{spelling}");
        }
    }

    #[test]
    fn base64_inside_a_longer_text_is_found_at_every_alignment() {
        let redactor = redactor();
        for prefix in ["", "a", "ab", "client-id:"] {
            let encoded = Base64Unpadded::encode_string(format!("{prefix}{SECRET}tail").as_bytes());
            let redacted = redactor.redact(&encoded);
            assert!(redacted.contains("<client-secret>"), "{prefix}: {redacted}");
            // What is left around the placeholder decodes to the prefix and the tail alone:
            // no character that mixes in bits of the secret is kept.
            let (before, after) = redacted.split_once("<client-secret>").unwrap();
            assert!(before.len() <= prefix.len() * 8 / 6, "{prefix}: {redacted}");
            assert!(after.len() <= Base64Unpadded::encode_string(b"tail").len(), "{prefix}: {redacted}");
            assert!(redactor.find_in(&redacted).is_none());
        }
    }

    #[test]
    fn renewed_values_of_a_kind_are_numbered_and_known_values_keep_theirs() {
        let mut redactor = redactor();
        assert_eq!(redactor.add("first-token-value", "access-token").as_deref(), Some("<access-token>"));
        assert_eq!(redactor.add("second-token-value", "access-token").as_deref(), Some("<access-token-2>"));
        assert_eq!(redactor.add("first-token-value", "refresh-token").as_deref(), Some("<access-token>"));
        assert_eq!(redactor.redact("Bearer second-token-value"), "Bearer <access-token-2>");
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let redactor = redactor();
        assert!(matches!(redactor.redact("nothing secret here: s3cr"), Cow::Borrowed(_)));
        assert!(redactor.find_in("100% ok & fine").is_none());
    }

    fn url_encode(text: &str, plus: bool, upper: bool) -> String {
        let mut out = String::new();
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => out.push(byte as char),
                b' ' if plus => out.push('+'),
                _ if upper => out.push_str(&format!("%{byte:02X}")),
                _ => out.push_str(&format!("%{byte:02x}")),
            }
        }
        out
    }
}
