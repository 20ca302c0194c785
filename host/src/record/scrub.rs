//! Tenant data replaced by fakes in a recording, consistently: the same real value becomes
//! the same fake value everywhere in the fixture (URLs, bodies, inputs, outputs), as the
//! "variables" of the Azure SDK's test proxy do, so the recording still replays.
//!
//! Rules apply in order: the caller's own (`--scrub REGEX=REPLACEMENT`), then the defaults
//! (the tenant id, the tenant's domains), then e-mail addresses (`--scrub-email`). A fake value
//! a rule produced is never scrubbed again, so a text may pass through the rules more than
//! once (a URL as a whole, then each decoded segment) and keep its fakes.

use crate::replay::matcher::percent_decode;
use regex::Regex;
use std::collections::{HashMap, HashSet};

/// The fake tenant id every recording uses.
pub const FAKE_TENANT_ID: &str = "00000000-0000-0000-0000-000000000000";

/// The fake domain of the tenant; a second real domain becomes `contoso2.onmicrosoft.com`.
pub const FAKE_TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";

/// The domain of scrubbed addresses outside the tenant's domains.
const FAKE_EMAIL_DOMAIN: &str = "example.com";

/// Why a scrub rule cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScrubRuleError {
    /// `--scrub` needs `REGEX=REPLACEMENT`.
    #[error("`--scrub {rule}`: expected REGEX=REPLACEMENT")]
    MissingReplacement {
        /// The rule as given.
        rule: String,
    },
    /// The regular expression does not compile.
    #[error("`--scrub` regular expression: {0}")]
    Regex(#[from] regex::Error),
}

/// What a rule writes in place of a match.
#[derive(Debug, Clone)]
enum Replacement {
    /// This text; `{n}` in it becomes the ordinal (1, 2, ...) of the distinct value matched.
    Template(String),
    /// The first distinct value becomes `first`, the n-th `nth` with `{n}` replaced by n.
    Numbered { first: String, nth: String },
    /// An e-mail address: `user{n}@` and a scrubbed domain of the tenant, or `example.com`.
    Email,
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: Regex,
    replacement: Replacement,
    /// Whether matches compare case-insensitively (ids and domains).
    fold_case: bool,
}

/// What to scrub besides secrets.
#[derive(Debug, Clone, Default)]
pub struct ScrubOptions {
    /// The caller's rules, `REGEX=REPLACEMENT` (`--scrub`).
    pub rules: Vec<String>,
    /// Replace every e-mail address (`--scrub-email`).
    pub emails: bool,
    /// The tenant's id or domain, from the connection's settings.
    pub tenant: Option<String>,
    /// More domains of the tenant (`--tenant-domain`).
    pub tenant_domains: Vec<String>,
}

/// The rules of one recording and the fakes they handed out so far.
#[derive(Debug)]
pub struct Scrubber {
    rules: Vec<Rule>,
    /// (rule, real value as compared) → fake value.
    variables: HashMap<(usize, String), String>,
    /// How many distinct values each rule replaced.
    counts: Vec<usize>,
    /// Every fake handed out: never scrubbed again.
    fakes: HashSet<String>,
}

impl Scrubber {
    /// The rules for these options, in the order they apply.
    pub fn new(options: &ScrubOptions) -> Result<Self, ScrubRuleError> {
        let mut rules = Vec::new();
        for rule in &options.rules {
            let (pattern, replacement) = split_rule(rule)?;
            rules.push(Rule {
                pattern: Regex::new(pattern)?,
                replacement: Replacement::Template(replacement.to_string()),
                fold_case: false,
            });
        }
        let mut domains: Vec<String> = options.tenant_domains.clone();
        if let Some(tenant) = &options.tenant {
            if is_guid(tenant) {
                rules.push(Rule {
                    pattern: Regex::new(&format!("(?i){}", regex::escape(tenant)))?,
                    replacement: Replacement::Template(FAKE_TENANT_ID.to_string()),
                    fold_case: true,
                });
            } else if tenant.contains('.') {
                domains.push(tenant.clone());
            }
        }
        // The tenant's own domains, then any initial (`*.onmicrosoft.com`) domain: a
        // tenant named by its id still shows its initial domain in every user name.
        let mut alternatives: Vec<String> = domains.iter().map(|domain| regex::escape(domain)).collect();
        alternatives.push(r"[a-z0-9][a-z0-9-]*\.onmicrosoft\.(?:com|us|de)".to_string());
        rules.push(Rule {
            pattern: Regex::new(&format!(r"(?i)\b(?:{})\b", alternatives.join("|")))?,
            replacement: Replacement::Numbered {
                first: FAKE_TENANT_DOMAIN.to_string(),
                nth: "contoso{n}.onmicrosoft.com".to_string(),
            },
            fold_case: true,
        });
        if options.emails {
            rules.push(Rule {
                pattern: Regex::new(r"[A-Za-z0-9][A-Za-z0-9._%+'-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")?,
                replacement: Replacement::Email,
                fold_case: true,
            });
        }
        let counts = vec![0; rules.len()];
        Ok(Self { rules, variables: HashMap::new(), counts, fakes: HashSet::new() })
    }

    /// `text` with every rule applied in order.
    pub fn scrub(&mut self, text: &str) -> String {
        let mut text = text.to_string();
        for index in 0..self.rules.len() {
            text = self.apply(index, &text);
        }
        text
    }

    /// A URL scrubbed on its decoded parts, so that an escaped value is found too and a
    /// match never eats into an escape: the origin and the decoded path as one text (rules
    /// may span them, `http://127.0.0.1:8080/v1.0`), then each decoded query key and value.
    /// A part that changed is percent-encoded again; one that did not keeps its spelling.
    pub fn scrub_url(&mut self, url: &str) -> String {
        let (before_fragment, fragment) = match url.split_once('#') {
            Some((before, fragment)) => (before, Some(fragment)),
            None => (url, None),
        };
        let (origin_and_path, query) = match before_fragment.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (before_fragment, None),
        };
        let path_start = origin_and_path.find("://").map_or(0, |scheme_end| {
            origin_and_path[scheme_end + 3..].find('/').map_or(origin_and_path.len(), |slash| scheme_end + 3 + slash)
        });
        let (origin, path) = origin_and_path.split_at(path_start);
        let segments: Vec<&str> = path.split('/').collect();
        let decoded: Vec<String> = segments.iter().map(|segment| percent_decode(segment, false)).collect();
        let mut out = String::new();
        let whole = format!("{origin}{}", decoded.join("/"));
        let scrubbed = self.scrub(&whole);
        let scrubbed_origin_end = scrubbed.find("://").map_or(0, |scheme_end| {
            scrubbed[scheme_end + 3..].find('/').map_or(scrubbed.len(), |slash| scheme_end + 3 + slash)
        });
        let (new_origin, new_path) = scrubbed.split_at(scrubbed_origin_end);
        let new_segments: Vec<&str> = new_path.split('/').collect();
        if decoded.iter().all(|segment| !segment.contains('/')) && new_segments.len() == segments.len() {
            out.push_str(new_origin);
            let path: Vec<String> = segments
                .iter()
                .zip(&decoded)
                .zip(&new_segments)
                .map(
                    |((original, decoded), new)| {
                        if decoded == new {
                            original.to_string()
                        } else {
                            encode_url_part(new, false)
                        }
                    },
                )
                .collect();
            out.push_str(&path.join("/"));
        } else {
            // A decoded segment holds a `/`, or a rule changed the number of segments: each
            // part is scrubbed on its own.
            out.push_str(&self.scrub(origin));
            let path: Vec<String> = segments.iter().map(|segment| self.scrub_encoded(segment, false)).collect();
            out.push_str(&path.join("/"));
        }
        if let Some(query) = query {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, value)) => {
                        format!("{}={}", self.scrub_encoded(key, true), self.scrub_encoded(value, true))
                    }
                    None => self.scrub_encoded(pair, true),
                })
                .collect();
            out.push('?');
            out.push_str(&pairs.join("&"));
        }
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
        out
    }

    fn scrub_encoded(&mut self, part: &str, in_query: bool) -> String {
        let decoded = percent_decode(part, in_query);
        let scrubbed = self.scrub(&decoded);
        if scrubbed == decoded {
            part.to_string()
        } else {
            encode_url_part(&scrubbed, in_query)
        }
    }

    fn apply(&mut self, index: usize, text: &str) -> String {
        let pattern = self.rules[index].pattern.clone();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for found in pattern.find_iter(text) {
            let real = found.as_str();
            if real.is_empty()
                || self.fakes.contains(real)
                || (self.rules[index].fold_case && self.is_fake_folded(real))
            {
                continue;
            }
            if matches!(self.rules[index].replacement, Replacement::Email) && is_odata_annotation(real) {
                continue;
            }
            let fake = self.fake_for(index, real);
            out.push_str(&text[copied..found.start()]);
            out.push_str(&fake);
            copied = found.end();
        }
        out.push_str(&text[copied..]);
        out
    }

    fn is_fake_folded(&self, text: &str) -> bool {
        self.fakes.iter().any(|fake| fake.eq_ignore_ascii_case(text))
    }

    fn fake_for(&mut self, index: usize, real: &str) -> String {
        let key = if self.rules[index].fold_case { real.to_ascii_lowercase() } else { real.to_string() };
        if let Some(fake) = self.variables.get(&(index, key.clone())) {
            return fake.clone();
        }
        self.counts[index] += 1;
        let ordinal = self.counts[index];
        let fake = match &self.rules[index].replacement {
            Replacement::Template(template) => template.replace("{n}", &ordinal.to_string()),
            Replacement::Numbered { first, nth } => {
                if ordinal == 1 {
                    first.clone()
                } else {
                    nth.replace("{n}", &ordinal.to_string())
                }
            }
            Replacement::Email => {
                let domain = real.rsplit_once('@').map_or("", |(_, domain)| domain);
                let domain =
                    if self.is_fake_folded(domain) { domain.to_string() } else { FAKE_EMAIL_DOMAIN.to_string() };
                format!("user{ordinal}@{domain}")
            }
        };
        self.variables.insert((index, key), fake.clone());
        self.fakes.insert(fake.clone());
        fake
    }
}

/// `REGEX=REPLACEMENT`, split at the last `=`: patterns often hold one (`$top=5` in a
/// query), replacements rarely do.
fn split_rule(rule: &str) -> Result<(&str, &str), ScrubRuleError> {
    rule.rsplit_once('=').ok_or_else(|| ScrubRuleError::MissingReplacement { rule: rule.to_string() })
}

/// Whether a text is a GUID (`8-4-4-4-12` hex digits).
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `members@odata.bind` and the like: an OData annotation, not an address.
fn is_odata_annotation(text: &str) -> bool {
    text.rsplit_once('@').is_some_and(|(_, domain)| domain.to_ascii_lowercase().starts_with("odata."))
}

/// Percent-encodes what a path segment (or, with `in_query`, a query key or value) cannot
/// carry as is.
fn encode_url_part(text: &str, in_query: bool) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || b"-._~!$'()*,;:@".contains(&byte)
            || (!in_query && b"&=+".contains(&byte))
            || (in_query && byte == b'/');
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubber(emails: bool) -> Scrubber {
        Scrubber::new(&ScrubOptions {
            rules: vec![r"http://127\.0\.0\.1:\d+=https://graph.microsoft.com".into()],
            emails,
            tenant: Some("3F2504E0-4F89-11D3-9A0C-0305E82C3301".into()),
            tenant_domains: vec!["fabrikam-real.com".into()],
        })
        .unwrap()
    }

    #[test]
    fn the_same_real_value_always_gets_the_same_fake() {
        let mut scrubber = scrubber(true);
        let first = scrubber.scrub("adele@realtenant.onmicrosoft.com and megan@realtenant.onmicrosoft.com");
        assert_eq!(first, "user1@contoso.onmicrosoft.com and user2@contoso.onmicrosoft.com");
        assert_eq!(scrubber.scrub("MEGAN@RealTenant.onmicrosoft.com"), "user2@contoso.onmicrosoft.com");
        assert_eq!(scrubber.scrub("x@gmail.com"), "user3@example.com");
        assert_eq!(scrubber.scrub("tenant 3f2504e0-4f89-11d3-9a0c-0305e82c3301"), format!("tenant {FAKE_TENANT_ID}"));
        assert_eq!(
            scrubber.scrub("www.fabrikam-real.com other.onmicrosoft.com"),
            "www.contoso2.onmicrosoft.com contoso3.onmicrosoft.com"
        );
        assert_eq!(scrubber.scrub(&first), first, "fakes are never scrubbed again");
        assert_eq!(scrubber.scrub(r#"{"manager@odata.bind":"x"}"#), r#"{"manager@odata.bind":"x"}"#);
    }

    #[test]
    fn urls_are_scrubbed_whole_and_after_decoding() {
        let mut scrubber = scrubber(true);
        let url = scrubber.scrub_url(
            "http://127.0.0.1:4242/v1.0/users/adele%40realtenant.onmicrosoft.com?$filter=mail+eq+%27megan%40realtenant.onmicrosoft.com%27&$top=5",
        );
        assert_eq!(
            url,
            "https://graph.microsoft.com/v1.0/users/user1@contoso.onmicrosoft.com?$filter=mail%20eq%20'user2@contoso.onmicrosoft.com'&$top=5"
        );
        let untouched = "https://graph.microsoft.com/v1.0/users?$filter=startswith(displayName,%27A%27)";
        assert_eq!(scrubber.scrub_url(untouched), untouched);
    }

    #[test]
    fn bad_rules_are_named() {
        let error = Scrubber::new(&ScrubOptions { rules: vec!["no-equals".into()], ..Default::default() }).unwrap_err();
        assert_eq!(error.to_string(), "`--scrub no-equals`: expected REGEX=REPLACEMENT");
        assert!(Scrubber::new(&ScrubOptions { rules: vec!["(=x".into()], ..Default::default() }).is_err());
    }
}
