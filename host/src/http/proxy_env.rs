//! Which proxy, if any, a live request goes through: the one `--proxy` names for every
//! request, or the ones the environment names as curl reads them (`https_proxy` for https
//! targets, `http_proxy` for plain http ones, `all_proxy` for both when those are unset; each
//! in lower case first, then upper case), except for the hosts `no_proxy` lists.

use crate::error::{HostError, Result};
use crate::http::live_http::ProxyUrl;
use std::net::IpAddr;

/// The proxies of one live client, chosen per target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// For `https` targets.
    https: Option<ProxyUrl>,
    /// For plain `http` targets.
    http: Option<ProxyUrl>,
    /// Targets that never go through a proxy.
    no_proxy: Vec<NoProxyEntry>,
}

/// One entry of `no_proxy`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NoProxyEntry {
    /// `*`: no target goes through a proxy.
    Everything,
    /// A host name: that host and every host under it.
    Domain(String),
    /// An address, or a network in CIDR notation.
    Network(IpAddr, u8),
}

impl ProxySettings {
    /// No proxy for any target.
    pub fn none() -> Self {
        Self::default()
    }

    /// `proxy` for every target (`--proxy`: explicit, so `no_proxy` does not apply).
    pub fn all(proxy: ProxyUrl) -> Self {
        Self { https: Some(proxy.clone()), http: Some(proxy), no_proxy: Vec::new() }
    }

    /// The settings of the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings the variables `lookup` returns describe; an empty variable counts as
    /// unset. A proxy URL without a scheme is taken as `http://`, as curl does.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let read = |name: &str| {
            lookup(name)
                .filter(|value| !value.trim().is_empty())
                .or_else(|| lookup(&name.to_ascii_uppercase()).filter(|value| !value.trim().is_empty()))
        };
        let parse = |name: &str, value: String| -> Result<ProxyUrl> {
            let value = value.trim();
            let url = if value.contains("://") { value.to_string() } else { format!("http://{value}") };
            url.parse::<ProxyUrl>().map_err(|error| match error {
                HostError::InvalidProxy { reason } => HostError::InvalidProxy { reason: format!("{name}: {reason}") },
                other => other,
            })
        };
        let all = read("all_proxy").map(|value| parse("all_proxy", value)).transpose()?;
        let https = read("https_proxy").map(|value| parse("https_proxy", value)).transpose()?.or_else(|| all.clone());
        let http = read("http_proxy").map(|value| parse("http_proxy", value)).transpose()?.or(all);
        let no_proxy = read("no_proxy").map(|list| parse_no_proxy(&list)).unwrap_or_default();
        Ok(Self { https, http, no_proxy })
    }

    /// The proxy a request to `host` (as a URI writes it; IPv6 in brackets) goes through.
    pub fn for_target(&self, host: &str, tls: bool) -> Option<&ProxyUrl> {
        let proxy = if tls { self.https.as_ref() } else { self.http.as_ref() }?;
        let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
        let address = host.parse::<IpAddr>().ok();
        let exempt = self.no_proxy.iter().any(|entry| match entry {
            NoProxyEntry::Everything => true,
            NoProxyEntry::Domain(domain) => host == *domain || host.ends_with(&format!(".{domain}")),
            NoProxyEntry::Network(network, prefix) => {
                address.is_some_and(|address| in_network(address, *network, *prefix))
            }
        });
        (!exempt).then_some(proxy)
    }

    /// Whether any target goes through a proxy.
    pub fn is_empty(&self) -> bool {
        self.https.is_none() && self.http.is_none()
    }
}

/// `no_proxy`: comma- (or space-) separated host names (a leading `.` or `*.` is the same as
/// none), addresses, CIDR networks, or `*`. A `:port` after a name is ignored, as curl does.
fn parse_no_proxy(list: &str) -> Vec<NoProxyEntry> {
    list.split([',', ' '])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            if entry == "*" {
                return Some(NoProxyEntry::Everything);
            }
            if let Some((address, prefix)) = entry.split_once('/') {
                let address = address.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok()?;
                let prefix = prefix.parse::<u8>().ok()?;
                return Some(NoProxyEntry::Network(address, prefix));
            }
            let bare = entry.trim_start_matches('[').split(']').next().unwrap_or(entry);
            if let Ok(address) = bare.parse::<IpAddr>() {
                let full = if address.is_ipv4() { 32 } else { 128 };
                return Some(NoProxyEntry::Network(address, full));
            }
            let host = entry.rsplit_once(':').map_or(entry, |(host, _)| host);
            let host = host.trim_start_matches("*.").trim_start_matches('.').trim_end_matches('.');
            Some(NoProxyEntry::Domain(host.to_ascii_lowercase()))
        })
        .collect()
}

fn in_network(address: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(address), IpAddr::V4(network)) => {
            let prefix = u32::from(prefix.min(32));
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
            u32::from(address) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(address), IpAddr::V6(network)) => {
            let prefix = u32::from(prefix.min(128));
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
            u128::from(address) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(variables: &[(&str, &str)]) -> ProxySettings {
        let variables: Vec<(String, String)> =
            variables.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        ProxySettings::from_lookup(|name| {
            variables.iter().find(|(candidate, _)| candidate == name).map(|(_, value)| value.clone())
        })
        .unwrap()
    }

    #[test]
    fn each_scheme_has_its_variable_and_lower_case_wins() {
        let proxies = settings(&[
            ("HTTPS_PROXY", "http://upper.example:1"),
            ("https_proxy", "lower.example:3128"),
            ("HTTP_PROXY", "http://plain.example:2"),
        ]);
        assert_eq!(proxies.for_target("graph.microsoft.com", true).unwrap().authority(), "lower.example:3128");
        assert_eq!(proxies.for_target("graph.microsoft.com", false).unwrap().authority(), "plain.example:2");
        let only_all = settings(&[("ALL_PROXY", "http://all.example:9")]);
        assert_eq!(only_all.for_target("a.example", true).unwrap().authority(), "all.example:9");
        assert!(settings(&[("https_proxy", "")]).is_empty());
    }

    #[test]
    fn no_proxy_exempts_domains_their_subdomains_addresses_and_networks() {
        let proxies = settings(&[
            ("https_proxy", "http://proxy.example:3128"),
            ("NO_PROXY", "localhost, .corp.example,*.internal:8443 10.0.0.0/8,::1"),
        ]);
        for exempt in
            ["localhost", "corp.example", "a.b.corp.example", "svc.internal", "10.1.2.3", "[::1]", "LOCALHOST."]
        {
            assert!(proxies.for_target(exempt, true).is_none(), "{exempt}");
        }
        for proxied in ["graph.microsoft.com", "notcorp.example", "11.0.0.1", "127.0.0.1"] {
            assert!(proxies.for_target(proxied, true).is_some(), "{proxied}");
        }
        let everything = settings(&[("https_proxy", "http://p:1"), ("no_proxy", "*")]);
        assert!(everything.for_target("graph.microsoft.com", true).is_none());
    }

    #[test]
    fn a_bad_variable_is_named_without_its_value() {
        let error = ProxySettings::from_lookup(|name| (name == "HTTPS_PROXY").then(|| "ftp://u:hunter2@p".to_string()))
            .unwrap_err()
            .to_string();
        assert!(error.contains("https_proxy") && !error.contains("hunter2"), "{error}");
    }
}
