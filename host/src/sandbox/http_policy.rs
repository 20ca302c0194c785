//! What happens to each outgoing HTTP request of a component.
//!
//! Every request first meets the allowlist ([`AllowedHosts`]); a refused request fails
//! with `HttpRequestDenied` before any network, and the component reports a typed
//! `transport` error. An allowed request then goes where the instance's [`Route`] says:
//! to the network (live), or to an [`Interceptor`] that answers it itself or passes it on
//! (replay plugs in here, from outside the sandbox).

use crate::error::HostError;
use crate::http::live_http::LiveHttp;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The custom section in which a component declares the hosts its connections may reach.
pub const DECLARED_HOSTS_SECTION: &str = "connector-hosts";

/// One allowed destination: a host name, and optionally the only port allowed on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: String,
    port: Option<u16>,
}

impl HostPattern {
    /// A pattern for `host` (compared case-insensitively), on `port` or on any port.
    pub fn new(host: &str, port: Option<u16>) -> Self {
        Self { host: host.to_ascii_lowercase(), port }
    }

    /// Whether a request to `host` on `port` fits this pattern.
    pub fn permits(&self, host: &str, port: u16) -> bool {
        self.host.eq_ignore_ascii_case(host) && self.port.is_none_or(|allowed| allowed == port)
    }
}

impl FromStr for HostPattern {
    type Err = HostError;

    /// Parses `HOST` or `HOST:PORT` (IPv6 hosts in brackets: `[::1]:8080`).
    fn from_str(pattern: &str) -> Result<Self, Self::Err> {
        let invalid =
            |reason: &str| HostError::InvalidHostPattern { pattern: pattern.to_string(), reason: reason.to_string() };
        if pattern.contains("://") || pattern.contains('/') {
            return Err(invalid("give a host name, not a URL"));
        }
        let (host, port) = split_host_port(pattern.trim()).map_err(|reason| invalid(&reason))?;
        if host.is_empty() {
            return Err(invalid("the host is empty"));
        }
        Ok(Self::new(host, port))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// The destinations an instance may send requests to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    patterns: Vec<HostPattern>,
}

impl AllowedHosts {
    /// Allows nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// Allows the given patterns.
    pub fn from_patterns(patterns: impl IntoIterator<Item = HostPattern>) -> Self {
        Self { patterns: patterns.into_iter().collect() }
    }

    /// Adds one allowed destination.
    pub fn allow(&mut self, pattern: HostPattern) {
        if !self.patterns.contains(&pattern) {
            self.patterns.push(pattern);
        }
    }

    /// Adds every destination of `other`.
    pub fn extend(&mut self, other: &AllowedHosts) {
        for pattern in &other.patterns {
            self.allow(pattern.clone());
        }
    }

    /// The destinations a component declares in its `connector-hosts` custom section (one
    /// `host` or `host:port` per line; the section may sit in any module the component
    /// nests): what its connections may reach without the operator allowing more. A
    /// component without the section declares nothing; lines that are not a host pattern
    /// are ignored, never widened into something else.
    pub fn declared_by(component: &[u8]) -> Self {
        let mut declared = Self::none();
        for payload in wasmparser::Parser::new(0).parse_all(component) {
            // A component the engine cannot parse fails to compile with its own error.
            let Ok(payload) = payload else { break };
            if let wasmparser::Payload::CustomSection(section) = payload {
                if section.name() == DECLARED_HOSTS_SECTION {
                    let text = String::from_utf8_lossy(section.data());
                    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
                        if let Ok(pattern) = line.parse::<HostPattern>() {
                            declared.allow(pattern);
                        }
                    }
                }
            }
        }
        declared
    }

    /// Whether every destination `pattern` names is allowed here: the same host, on a
    /// port this list allows (a pattern without a port stands for every port).
    pub fn covers(&self, pattern: &HostPattern) -> bool {
        self.patterns.iter().any(|allowed| match pattern.port {
            Some(port) => allowed.permits(&pattern.host, port),
            None => allowed.host == pattern.host && allowed.port.is_none(),
        })
    }

    /// Whether a request to this URI may leave the sandbox.
    pub fn permits(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        self.patterns.iter().any(|pattern| pattern.permits(host, port))
    }

    /// The allowed patterns.
    pub fn patterns(&self) -> &[HostPattern] {
        &self.patterns
    }
}

/// Where allowed requests go.
#[derive(Clone)]
pub enum Route {
    /// To the network directly, trusting the webpki roots (HTTP and HTTPS): the same as
    /// `LiveWith` a [`LiveHttp`] without proxy or extra certificate authorities.
    Live,
    /// To the network with explicit settings: through a proxy, trusting extra certificate
    /// authorities (`--proxy`, `--ca-cert`).
    LiveWith(LiveHttp),
    /// To an interceptor in front of the network, which answers requests itself (a replay
    /// answers from a fixture, without any network) or passes them on to the network, as
    /// the policy's pass-on client sends them ([`OutboundHttp::passing_on_to`]; by default
    /// as [`Route::Live`] does).
    Intercept(Arc<dyn Interceptor>),
}

/// What an [`Interceptor`] does with an allowed request.
pub enum Interception {
    /// Its answer, as [`WasiHttpHooks::send_request`] gives one: a response, or a wasi-http
    /// error code (a refusal, a dropped connection).
    Answer(SendFuture),
    /// Not its to answer: the request goes on to the network through the policy's pass-on
    /// client ([`OutboundHttp::passing_on_to`]), with the request options it came with.
    PassOn(Box<http::Request<WasiBody>>),
}

/// The one seam in front of the network, as Spin's outbound interceptor is: whatever plugs
/// into it (replay, chaos) answers, refuses or passes on each request that passed the
/// allowlist, and the sandbox never knows what it is.
pub trait Interceptor: Send + Sync {
    /// Decides what happens to an allowed request; `options` are the timeouts the component
    /// gave it (an interceptor that sends it on itself applies them), `body_cap` is the
    /// largest response body the component may be handed.
    fn intercept(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        body_cap: usize,
    ) -> Interception;

    /// Hears of a request the allowlist refused, before the component gets the refusal.
    fn refused(&self, _method: &str, _uri: &str) {}

    /// The clocks an instance with virtual time uses, when the interceptor keeps its own (a
    /// chaos replay hides the waits its faults cause); `None` for plain virtual clocks.
    fn virtual_clocks(&self) -> Option<VirtualClocks> {
        None
    }
}

/// Hears what became of each allowed request that went to the network, without changing it:
/// a host that counts requests by status or logs the server's request ids plugs in here
/// ([`OutboundHttp::observe`]). Calls come from the instance's own task, so they must be quick.
pub trait ExchangeObserver: Send + Sync {
    /// A request is about to be sent, with these headers (a component marks retries with
    /// them, e.g. `retry-attempt`).
    fn sending(&self, _headers: &http::HeaderMap) {}

    /// Its response head arrived.
    fn answered(&self, _status: http::StatusCode, _headers: &http::HeaderMap) {}

    /// It failed before a response head arrived (refused, timed out, connection lost).
    fn failed(&self, _error: &Error) {}
}

/// A monotonic and a wall clock, as an [`Interceptor`] hands them to an instance.
pub type VirtualClocks = (Box<dyn HostMonotonicClock>, Box<dyn HostWallClock>);

/// The outgoing-HTTP policy of one instance: the [`WasiHttpHooks`] its store uses.
pub struct OutboundHttp {
    /// Allowed whatever the connection says (`--allow-host`, fixture hosts in replay).
    extra_hosts: AllowedHosts,
    /// What the component declares its connections may reach (its `connector-hosts`
    /// section); set by the runtime, shared by all its instances.
    declared_hosts: Arc<AllowedHosts>,
    /// Allowed because the open connection names them and the component declares them.
    connection_hosts: AllowedHosts,
    route: Route,
    /// Where an interceptor's pass-on requests go: the live settings of the instance
    /// (`--proxy`, `--ca-cert`), or direct connections when `None`.
    pass_on: Option<LiveHttp>,
    /// The largest response body passed to the component, in bytes.
    response_body_cap: usize,
    /// How many requests one call may send.
    request_cap: usize,
    /// Requests sent during the current call.
    requests_this_call: usize,
    /// Whether the current call tried to send more than `request_cap` requests.
    request_cap_broken: bool,
    /// Hears of every request that goes to the network, if set.
    observer: Option<Arc<dyn ExchangeObserver>>,
}

impl OutboundHttp {
    /// A policy allowing `extra_hosts` (plus, after [`Self::connect_with`], the declared
    /// hosts the open connection names) and sending allowed requests along `route`. No caps apply
    /// until the runtime sets its limits ([`Self::set_caps`]).
    pub fn new(extra_hosts: AllowedHosts, route: Route) -> Self {
        Self {
            extra_hosts,
            declared_hosts: Arc::new(AllowedHosts::none()),
            connection_hosts: AllowedHosts::none(),
            route,
            pass_on: None,
            response_body_cap: usize::MAX,
            request_cap: usize::MAX,
            requests_this_call: 0,
            request_cap_broken: false,
            observer: None,
        }
    }

    /// Reports every request that goes to the network, and its answer, to `observer`.
    pub fn observe(mut self, observer: Arc<dyn ExchangeObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Sends the requests an interceptor passes on through `live` (its proxy, its trusted
    /// certificate authorities and its pool) instead of direct connections.
    pub fn passing_on_to(mut self, live: LiveHttp) -> Self {
        self.pass_on = Some(live);
        self
    }

    /// Caps the size of response bodies passed to the component and the number of
    /// requests one call may send.
    pub fn set_caps(&mut self, response_body_bytes: usize, requests_per_call: usize) {
        self.response_body_cap = response_body_bytes;
        self.request_cap = requests_per_call;
    }

    /// Starts counting the requests of a new call.
    pub fn begin_call(&mut self) {
        self.requests_this_call = 0;
        self.request_cap_broken = false;
    }

    /// Whether the current call tried to send more requests than its cap.
    pub fn request_cap_broken(&self) -> bool {
        self.request_cap_broken
    }

    /// The clocks the route's interceptor keeps for instances with virtual time, if any.
    pub fn virtual_clocks(&self) -> Option<VirtualClocks> {
        match &self.route {
            Route::Intercept(interceptor) => interceptor.virtual_clocks(),
            _ => None,
        }
    }

    /// Sets what the component declares its connections may reach.
    pub fn set_declared_hosts(&mut self, declared: Arc<AllowedHosts>) {
        self.declared_hosts = declared;
    }

    /// Allows those of the hosts a connection's description names (its `hosts` member,
    /// JSON text as `describe` returns it) that the component declares, instead of the
    /// previous connection's. A host the description names but the component does not
    /// declare stays refused unless the operator allowed it; the host never reads the
    /// settings themselves.
    pub fn connect_with(&mut self, description: &str) {
        // Only `hosts` is read: the other members are skipped, their names compared where
        // they lie (no tree, and no map of the whole description, on every connection a fresh
        // instance opens).
        let named = serde_json::from_str::<HostsMember>(description)
            .ok()
            .and_then(|member| member.0)
            .and_then(|hosts| serde_json::from_str::<Vec<String>>(hosts.get()).ok())
            .unwrap_or_default();
        let declared = &self.declared_hosts;
        self.connection_hosts = AllowedHosts::from_patterns(
            named.iter().filter_map(|host| host.parse::<HostPattern>().ok()).filter(|host| declared.covers(host)),
        );
    }

    /// Forgets the hosts of the connection allowed last.
    pub fn disconnect(&mut self) {
        self.connection_hosts = AllowedHosts::none();
    }

    /// What requests may reach now: the connection's declared hosts, then the extra ones.
    pub fn allowed(&self) -> AllowedHosts {
        let mut allowed = self.connection_hosts.clone();
        allowed.extend(&self.extra_hosts);
        allowed
    }

    /// Whether a request to this URI may leave the sandbox.
    pub fn permits(&self, uri: &http::Uri) -> bool {
        self.connection_hosts.permits(uri) || self.extra_hosts.permits(uri)
    }
}

/// The text of the last `hosts` member of a JSON object (as a map of the members would keep
/// it), the other members skipped unread.
struct HostsMember<'a>(Option<&'a serde_json::value::RawValue>);

impl<'de> serde::Deserialize<'de> for HostsMember<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = HostsMember<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut members: A) -> Result<Self::Value, A::Error> {
                let mut hosts = None;
                while let Some(IsHosts(is_hosts)) = members.next_key()? {
                    if is_hosts {
                        hosts = Some(members.next_value()?);
                    } else {
                        members.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(HostsMember(hosts))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// Whether a member's name is `hosts`, however it is escaped; the name is not kept.
struct IsHosts(bool);

impl<'de> serde::Deserialize<'de> for IsHosts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = IsHosts;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a member name")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<IsHosts, E> {
                Ok(IsHosts(name == "hosts"))
            }
        }
        deserializer.deserialize_str(Name)
    }
}

/// The boxed future [`WasiHttpHooks::send_request`] returns.
pub type SendFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>>
        + Send,
>;

/// `wasmtime-wasi-http`'s own list of forbidden headers, kept in one place: the list is a
/// `const`, which its default hook builds anew (with an `Arc` for its filter) for every header
/// of every request and answer.
static FORBIDDEN_HEADERS: [http::HeaderName; 9] = wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS;

// The forbidden headers (what a component may neither send nor see) are `wasmtime-wasi-http`'s
// own: upstream's list, kept as upstream maintains it, checked as its default hook checks it.
impl WasiHttpHooks for OutboundHttp {
    fn is_forbidden_header(&mut self, name: &http::HeaderName) -> bool {
        FORBIDDEN_HEADERS.contains(name)
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        self.requests_this_call += 1;
        if self.requests_this_call > self.request_cap {
            // The runtime stops the call at its next epoch check; until then the
            // component only sees a refusal.
            self.request_cap_broken = true;
            return Box::new(async { Err(Error::ConnectionLimitReached) });
        }
        let body_cap = self.response_body_cap;
        if !self.permits(request.uri()) {
            if let Route::Intercept(interceptor) = &self.route {
                interceptor.refused(request.method().as_str(), &request.uri().to_string());
            }
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let observer = self.observer.clone();
        match &self.route {
            Route::Live => Box::new(async move {
                let live = LiveHttp::direct()?;
                send_observed(live, request, options, observer.as_deref(), body_cap).await
            }),
            Route::LiveWith(live) => {
                let live = live.clone();
                Box::new(async move { send_observed(&live, request, options, observer.as_deref(), body_cap).await })
            }
            Route::Intercept(interceptor) => match interceptor.intercept(request, options, body_cap) {
                Interception::Answer(answer) => answer,
                Interception::PassOn(request) => {
                    let live = self.pass_on.clone();
                    Box::new(async move {
                        let live = match &live {
                            Some(live) => live,
                            None => LiveHttp::direct()?,
                        };
                        send_observed(live, *request, options, observer.as_deref(), body_cap).await
                    })
                }
            },
        }
    }
}

/// Sends a request on the live route, telling `observer` (if any) of it and of its answer.
async fn send_observed(
    live: &LiveHttp,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    observer: Option<&dyn ExchangeObserver>,
    body_cap: usize,
) -> Result<(http::Response<WasiBody>, crate::http::live_http::ConnectionFuture), Error> {
    if let Some(observer) = observer {
        observer.sending(request.headers());
    }
    let sent = live.send(request, options).await;
    match (&sent, observer) {
        (Ok((response, _)), Some(observer)) => observer.answered(response.status(), response.headers()),
        (Err(error), Some(observer)) => observer.failed(error),
        (_, None) => {}
    }
    let (response, io) = sent?;
    Ok((capped_response(response, body_cap)?, io))
}

/// Refuses a response whose declared length passes `cap`, and stops the body of one
/// without a declared length with `HttpResponseBodySize` once it passes `cap`.
fn capped_response(response: http::Response<WasiBody>, cap: usize) -> Result<http::Response<WasiBody>, Error> {
    let declared = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok())
        .and_then(|length| length.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > cap as u64) {
        return Err(Error::HttpResponseBodySize(declared));
    }
    Ok(response.map(|body| {
        Limited::new(body, cap)
            .map_err(|error| match error.downcast::<Error>() {
                Ok(error) => *error,
                Err(error) if error.is::<LengthLimitError>() => Error::HttpResponseBodySize(None),
                Err(error) => Error::InternalError(Some(error.to_string())),
            })
            .boxed_unsync()
    }))
}

/// Splits `host[:port]`, accepting bracketed IPv6 hosts (`[::1]:8080`).
pub fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(after_bracket) = authority.strip_prefix('[') {
        let close = after_bracket.find(']').ok_or_else(|| format!("`{authority}` opens `[` without closing it"))?;
        let host = &authority[..close + 2];
        let rest = &authority[close + 2..];
        match rest.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if rest.is_empty() => (host, None),
            None => return Err(format!("unexpected `{rest}` after the host")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(port) => Some(port.parse::<u16>().map_err(|_| format!("`{port}` is not a port number"))?),
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> http::Uri {
        text.parse().unwrap()
    }

    #[test]
    fn the_forbidden_headers_are_wasmtime_wasi_https_and_no_others() {
        let mut outbound = OutboundHttp::new(AllowedHosts::default(), Route::Live);
        for name in wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS {
            assert!(outbound.is_forbidden_header(&name), "{name}");
            assert!((outbound.forbidden_header_filter())(&name), "{name}");
        }
        for name in ["authorization", "accept", "content-type", "content-length", "retry-attempt", "x-host"] {
            let name = http::HeaderName::from_static(name);
            assert!(!outbound.is_forbidden_header(&name), "{name}");
            assert!(!(outbound.forbidden_header_filter())(&name), "{name}");
        }
    }

    /// A core module holding only custom sections.
    fn module_with_sections(sections: &[(&str, &str)]) -> Vec<u8> {
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        for (name, data) in sections {
            let mut payload = vec![name.len() as u8];
            payload.extend_from_slice(name.as_bytes());
            payload.extend_from_slice(data.as_bytes());
            assert!(payload.len() < 128, "one-byte LEB128 sizes only");
            module.push(0);
            module.push(payload.len() as u8);
            module.extend_from_slice(&payload);
        }
        module
    }

    fn described(hosts: &[&str]) -> String {
        serde_json::json!({"connected": true, "hosts": hosts}).to_string()
    }

    #[test]
    fn a_component_declares_its_hosts_in_a_custom_section() {
        let module = module_with_sections(&[
            ("producers", "x"),
            ("connector-hosts", "login.example\nGraph.Example:8443\n\nnot a host/\n"),
        ]);
        let declared = AllowedHosts::declared_by(&module);
        let shown: Vec<String> = declared.patterns().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["login.example", "graph.example:8443"]);
        assert!(AllowedHosts::declared_by(&module_with_sections(&[("other", "a.example")])).patterns().is_empty());
        assert!(AllowedHosts::declared_by(b"not wasm").patterns().is_empty());
    }

    #[test]
    fn a_connection_reaches_only_the_declared_hosts_it_names() {
        let mut outbound = OutboundHttp::new(AllowedHosts::none(), Route::Live);
        outbound.set_declared_hosts(Arc::new(AllowedHosts::from_patterns([
            HostPattern::new("login.example", None),
            HostPattern::new("graph.example", None),
            HostPattern::new("127.0.0.1", Some(8080)),
        ])));
        outbound.connect_with(&described(&["login.example", "graph.example"]));
        assert!(outbound.permits(&uri("https://graph.example/v1.0/me")));
        assert!(outbound.permits(&uri("https://LOGIN.example/t/oauth2/v2.0/token")));
        assert!(!outbound.permits(&uri("https://other.example/")));

        // Settings that point elsewhere name hosts the component does not declare.
        outbound.connect_with(&described(&["login.example", "graph.evil.example"]));
        assert!(outbound.permits(&uri("https://login.example/")));
        assert!(!outbound.permits(&uri("https://graph.evil.example/v1.0/me")));
        assert!(!outbound.permits(&uri("https://graph.example/v1.0/me")), "the previous connection's hosts are gone");

        // A declared port is the only port on its host; a host declared without one is
        // declared on every port.
        outbound.connect_with(&described(&["127.0.0.1:8080", "127.0.0.1:9090", "graph.example:8443"]));
        assert!(outbound.permits(&uri("http://127.0.0.1:8080/")));
        assert!(!outbound.permits(&uri("http://127.0.0.1:9090/")));
        assert!(outbound.permits(&uri("https://graph.example:8443/")));
        assert!(!outbound.permits(&uri("https://graph.example/")), "only the port the connection names");

        // A description that is not JSON, or names no hosts, allows nothing.
        outbound.connect_with("not json");
        assert!(!outbound.permits(&uri("https://graph.example/")));
        outbound.connect_with(r#"{"hosts": [1, 2]}"#);
        assert!(!outbound.permits(&uri("https://graph.example/")));
        outbound.connect_with(r#"{"hosts": "graph.example"}"#);
        assert!(!outbound.permits(&uri("https://graph.example/")));

        // The description is JSON however the component escapes it, and the last `hosts` stands.
        outbound.connect_with(r#"{"h\u006fsts": ["gr\u0061ph.example"], "auth": {"nested": [1]}}"#);
        assert!(outbound.permits(&uri("https://graph.example/")));
        outbound.connect_with(r#"{"hosts": ["graph.example"], "hosts": ["login.example"]}"#);
        assert!(outbound.permits(&uri("https://login.example/")));
        assert!(!outbound.permits(&uri("https://graph.example/")));
        outbound.connect_with(&described(&["graph.example"]));
        outbound.disconnect();
        assert!(!outbound.permits(&uri("https://graph.example/")));
    }

    #[test]
    fn the_operators_hosts_are_allowed_whatever_the_connection() {
        let extra = AllowedHosts::from_patterns([HostPattern::new("graph.evil.example", None)]);
        let mut outbound = OutboundHttp::new(extra, Route::Live);
        outbound.connect_with(&described(&["graph.evil.example"]));
        assert!(outbound.permits(&uri("https://graph.evil.example/v1.0/me")));
        let allowed: Vec<String> = outbound.allowed().patterns().iter().map(ToString::to_string).collect();
        assert_eq!(allowed, ["graph.evil.example"]);
    }

    #[test]
    fn ports_restrict_only_when_given() {
        let local: HostPattern = "127.0.0.1:8080".parse().unwrap();
        assert!(local.permits("127.0.0.1", 8080));
        assert!(!local.permits("127.0.0.1", 8081));
        let any_port: HostPattern = "Example.COM".parse().unwrap();
        assert!(any_port.permits("example.com", 8443));
        let v6: HostPattern = "[::1]:9000".parse().unwrap();
        assert_eq!(v6.to_string(), "[::1]:9000");
        let allowed = AllowedHosts::from_patterns([v6]);
        assert!(allowed.permits(&uri("http://[::1]:9000/x")));
        assert!("https://example.com".parse::<HostPattern>().is_err());
        assert!("example.com:http".parse::<HostPattern>().is_err());
    }
}
