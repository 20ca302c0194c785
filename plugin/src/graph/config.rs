//! Connection settings: the `connect` configuration of ACTIONS.md, validated up front.

use crate::error::{ConnectorError, Result};
use crate::graph::assertion::{AssertionAlgorithm, ClientCertificate};
use serde_json::{Map, Value};

/// How the connector obtains its bearer token.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// App-only: client id and secret at the v2.0 token endpoint.
    ClientCredentials {
        /// The application's client secret.
        client_secret: String,
    },
    /// App-only: a client assertion signed with a certificate's private key.
    Certificate {
        /// The certificate and its key, checked to belong together.
        certificate: Box<ClientCertificate>,
        /// `PS256` (default) or `RS256`.
        algorithm: AssertionAlgorithm,
    },
    /// Delegated: resource owner password credentials.
    Password {
        /// The user's sign-in name.
        username: String,
        /// The user's password.
        password: String,
        /// Optional client secret for confidential clients.
        client_secret: Option<String>,
    },
    /// Delegated: a refresh token, replaced by each new one the endpoint returns.
    RefreshToken {
        /// The refresh token to redeem.
        refresh_token: String,
        /// Optional client secret for confidential clients.
        client_secret: Option<String>,
    },
    /// A bearer token the platform already holds; nothing is acquired.
    AccessToken {
        /// The bearer token.
        token: String,
    },
}

impl AuthMode {
    /// The mode's name in the configuration.
    pub fn name(&self) -> &'static str {
        match self {
            AuthMode::ClientCredentials { .. } => "clientCredentials",
            AuthMode::Certificate { .. } => "certificate",
            AuthMode::Password { .. } => "password",
            AuthMode::RefreshToken { .. } => "refreshToken",
            AuthMode::AccessToken { .. } => "accessToken",
        }
    }

    /// True when the token acts for a signed-in user rather than the application.
    pub fn is_delegated(&self) -> bool {
        matches!(self, AuthMode::Password { .. } | AuthMode::RefreshToken { .. })
    }
}

// Secrets must never reach a log or an error through `{:?}`.
impl std::fmt::Debug for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthMode::{}(..)", self.name())
    }
}

/// Every destination a connection may name without its host's operator allowing more: the
/// login and Graph hosts of each national cloud, one per line. The component carries this list
/// in its `connector-hosts` custom section (see the WIT's `describe`), where an operator can
/// read it before running the component; a host allows each connection the hosts its
/// description names that are also in this list, so settings pointing anywhere else (a
/// `graphBaseUrl` a caller chose) reach only what the operator added.
pub const DECLARED_HOSTS: &str = "login.microsoftonline.com
graph.microsoft.com
login.microsoftonline.us
graph.microsoft.us
dod-graph.microsoft.us
login.chinacloudapi.cn
microsoftgraph.chinacloudapi.cn
";

/// A national cloud: the login and Graph hosts it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Microsoft's global service (also GCC).
    Global,
    /// US Government L4 (GCC High).
    UsGov,
    /// US Government L5 (DoD).
    UsGovDod,
    /// China, operated by 21Vianet.
    China,
}

impl Cloud {
    fn parse(name: &str) -> Option<Cloud> {
        match name {
            "global" => Some(Cloud::Global),
            "usgov" => Some(Cloud::UsGov),
            "usgovDod" => Some(Cloud::UsGovDod),
            "china" => Some(Cloud::China),
            _ => None,
        }
    }

    /// The cloud's name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGov => "usgov",
            Cloud::UsGovDod => "usgovDod",
            Cloud::China => "china",
        }
    }

    /// The Microsoft identity platform host (national cloud deployments table).
    pub fn login_base_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov | Cloud::UsGovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The Microsoft Graph host.
    pub fn graph_base_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::UsGovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }
}

/// Validated connection settings.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// How tokens are obtained.
    pub auth: AuthMode,
    /// Directory (tenant) id or verified domain; empty for `accessToken`.
    pub tenant_id: String,
    /// Application (client) id; empty for `accessToken`.
    pub client_id: String,
    /// The scope requested from the token endpoint.
    pub scope: String,
    /// True when the caller set `scope`; false when it is the cloud's default.
    pub scope_given: bool,
    /// The national cloud.
    pub cloud: Cloud,
    /// Graph root without the version, e.g. `https://graph.microsoft.com`.
    pub graph_root: String,
    /// `v1.0` or `beta`.
    pub api_version: String,
    /// The token endpoint URL.
    pub token_url: String,
    /// The Graph host as [`ConnectionConfig::hosts`] names it (`host` or `host:port`).
    pub graph_host: String,
    /// The token endpoint's host, the same way.
    pub token_host: String,
    /// Retries for throttling and transient failures.
    pub max_retries: u32,
    /// Total time budget of one invocation, in milliseconds.
    pub timeout_ms: u64,
}

/// Default number of retries of a throttled or transiently failed request.
pub const DEFAULT_MAX_RETRIES: u32 = 4;
/// Default time budget of one invocation: two minutes, long enough for a few throttling waits.
pub const DEFAULT_TIMEOUT_MS: u64 = 120_000;

/// What is wrong with one connection setting: the field it concerns, and why. Every problem
/// of a configuration is found in one pass, so a caller fixes them all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// A setting the auth mode needs is absent.
    Missing {
        /// The setting, e.g. `clientSecret`.
        field: &'static str,
        /// The auth mode that needs it.
        auth: String,
    },
    /// A text setting is empty or blank.
    Empty {
        /// The setting.
        field: &'static str,
    },
    /// A setting is not of the JSON type it must have.
    WrongType {
        /// The setting.
        field: &'static str,
        /// What it must be: `a string`, `a whole number`.
        expected: &'static str,
    },
    /// A setting has a value that cannot be used.
    Invalid {
        /// The setting.
        field: &'static str,
        /// The whole explanation, naming the setting.
        message: String,
    },
}

impl ConfigProblem {
    /// The setting the problem concerns.
    pub fn field(&self) -> &'static str {
        match self {
            ConfigProblem::Missing { field, .. }
            | ConfigProblem::Empty { field }
            | ConfigProblem::WrongType { field, .. }
            | ConfigProblem::Invalid { field, .. } => field,
        }
    }

    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ConfigProblem::Invalid { field, message: message.into() }
    }
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigProblem::Missing { field, auth } => write!(f, "`{field}` is required for auth `{auth}`"),
            ConfigProblem::Empty { field } => write!(f, "`{field}` must not be empty"),
            ConfigProblem::WrongType { field, expected } => write!(f, "`{field}` must be {expected}"),
            ConfigProblem::Invalid { message, .. } => f.write_str(message),
        }
    }
}

/// The problems found so far in one configuration.
type Problems = Vec<ConfigProblem>;

/// The text settings of a configuration, read once (each `None` when absent or unusable).
struct TextSettings {
    auth_name: String,
    client_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    access_token: Option<String>,
    certificate_pem: Option<String>,
    private_key_pem: Option<String>,
    assertion_algorithm: Option<String>,
}

impl TextSettings {
    /// A problem if a setting the auth mode needs is absent.
    fn require(&self, value: &Option<String>, field: &'static str, problems: &mut Problems) {
        if value.is_none() {
            problems.push(ConfigProblem::Missing { field, auth: self.auth_name.clone() });
        }
    }
}

/// `clientCredentials`: a client secret.
fn client_credentials_mode(settings: &TextSettings, problems: &mut Problems) -> Option<AuthMode> {
    settings.require(&settings.client_secret, "clientSecret", problems);
    settings.client_secret.clone().map(|client_secret| AuthMode::ClientCredentials { client_secret })
}

/// `certificate`: a certificate and its private key, and the assertion's algorithm.
fn certificate_mode(settings: &TextSettings, problems: &mut Problems) -> Option<AuthMode> {
    settings.require(&settings.certificate_pem, "certificatePem", problems);
    settings.require(&settings.private_key_pem, "privateKeyPem", problems);
    let algorithm = match settings.assertion_algorithm.as_deref() {
        None => Some(AssertionAlgorithm::Ps256),
        Some(name) => AssertionAlgorithm::parse(name).or_else(|| {
            problems.push(ConfigProblem::invalid(
                "assertionAlgorithm",
                format!("`assertionAlgorithm` must be PS256 or RS256 (got `{name}`)"),
            ));
            None
        }),
    };
    let certificate = match (&settings.certificate_pem, &settings.private_key_pem) {
        (Some(certificate), Some(key)) => {
            let mut texts = Vec::new();
            let parsed = ClientCertificate::from_pem(certificate, key, &mut texts);
            problems.extend(texts.into_iter().map(|text| {
                let field = if text.starts_with("`certificatePem`") { "certificatePem" } else { "privateKeyPem" };
                ConfigProblem::invalid(field, text)
            }));
            parsed
        }
        _ => None,
    };
    certificate
        .zip(algorithm)
        .map(|(certificate, algorithm)| AuthMode::Certificate { certificate: Box::new(certificate), algorithm })
}

/// `password`: a user name and password (and a client secret for confidential clients).
fn password_mode(settings: &TextSettings, problems: &mut Problems) -> Option<AuthMode> {
    settings.require(&settings.username, "username", problems);
    settings.require(&settings.password, "password", problems);
    if settings.password.as_deref().is_some_and(|p| p.trim() != p) {
        problems.push(ConfigProblem::invalid(
            "password",
            "`password` has leading or trailing whitespace, which the password grant does not support",
        ));
    }
    match (settings.username.clone(), settings.password.clone()) {
        (Some(username), Some(password)) => {
            Some(AuthMode::Password { username, password, client_secret: settings.client_secret.clone() })
        }
        _ => None,
    }
}

/// `refreshToken`: a refresh token (and a client secret for confidential clients).
fn refresh_token_mode(settings: &TextSettings, problems: &mut Problems) -> Option<AuthMode> {
    settings.require(&settings.refresh_token, "refreshToken", problems);
    settings
        .refresh_token
        .clone()
        .map(|refresh_token| AuthMode::RefreshToken { refresh_token, client_secret: settings.client_secret.clone() })
}

/// `accessToken`: a bearer token the platform holds.
fn access_token_mode(settings: &TextSettings, problems: &mut Problems) -> Option<AuthMode> {
    settings.require(&settings.access_token, "accessToken", problems);
    settings.access_token.clone().map(|token| AuthMode::AccessToken { token })
}

impl ConnectionConfig {
    /// The versioned Graph base, e.g. `https://graph.microsoft.com/v1.0`.
    pub fn graph_base(&self) -> String {
        // Concatenated, not `format!`: built on every connection (fresh instances open one
        // per call) and for every URL of an action.
        [self.graph_root.as_str(), "/", self.api_version.as_str()].concat()
    }

    /// Parses and validates the configuration, naming every bad field in one error.
    pub fn parse(text: &str) -> Result<ConnectionConfig> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ConnectorError::invalid_config(format!("config is not valid JSON: {e}")))?;
        let Value::Object(object) = value else {
            // Named, never shown: a double-encoded config holds every secret.
            return Err(ConnectorError::invalid_config(format!(
                "config must be a JSON object: expected a JSON object, found {}",
                json_kind(&value)
            )));
        };
        Self::check(&object).map_err(|problems| {
            let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
            ConnectorError::invalid_config(format!("invalid connection settings: {}", texts.join("; ")))
        })
    }

    /// Validates a configuration object: the settings in effect, or every problem found.
    pub fn check(object: &Map<String, Value>) -> std::result::Result<ConnectionConfig, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let config = Self::from_object(object, &mut problems);
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(problems),
        }
    }

    fn from_object(object: &Map<String, Value>, problems: &mut Problems) -> Option<ConnectionConfig> {
        let given = Given::read(object);
        let mut text = |name: &'static str| -> Option<String> {
            match given.get(name) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
                Some(Value::String(_)) => {
                    problems.push(ConfigProblem::Empty { field: name });
                    None
                }
                Some(_) => {
                    problems.push(ConfigProblem::WrongType { field: name, expected: "a string" });
                    None
                }
            }
        };
        let auth_name = text("auth").unwrap_or_else(|| "clientCredentials".into());
        let tenant_id = text("tenantId");
        let client_id = text("clientId");
        let client_secret = text("clientSecret");
        let username = text("username");
        let password = text("password");
        let refresh_token = text("refreshToken");
        let access_token = text("accessToken");
        let certificate_pem = text("certificatePem");
        let private_key_pem = text("privateKeyPem");
        let assertion_algorithm = text("assertionAlgorithm");
        let scope = text("scope");
        let cloud_name = text("cloud");
        let login_base = text("loginBaseUrl");
        let graph_base = text("graphBaseUrl");
        let token_url = text("tokenUrl");
        let api_version = text("apiVersion");
        let max_retries = whole_number(given.get("maxRetries"), "maxRetries", problems);
        let timeout_ms = whole_number(given.get("timeoutMs"), "timeoutMs", problems);

        let settings = TextSettings {
            auth_name: auth_name.clone(),
            client_secret: client_secret.clone(),
            username,
            password,
            refresh_token,
            access_token,
            certificate_pem,
            private_key_pem,
            assertion_algorithm,
        };
        let auth = match auth_name.as_str() {
            "clientCredentials" => client_credentials_mode(&settings, problems),
            "certificate" => certificate_mode(&settings, problems),
            "password" => password_mode(&settings, problems),
            "refreshToken" => refresh_token_mode(&settings, problems),
            "accessToken" => access_token_mode(&settings, problems),
            other => {
                problems.push(ConfigProblem::invalid(
                    "auth",
                    format!(
                        "`auth` must be one of clientCredentials, certificate, password, refreshToken, accessToken (got `{other}`)"
                    ),
                ));
                None
            }
        };
        let acquires_tokens = !matches!(auth, Some(AuthMode::AccessToken { .. })) && auth_name != "accessToken";
        if acquires_tokens {
            if tenant_id.is_none() {
                problems.push(ConfigProblem::Missing { field: "tenantId", auth: auth_name.clone() });
            }
            if client_id.is_none() {
                problems.push(ConfigProblem::Missing { field: "clientId", auth: auth_name.clone() });
            }
        }
        if let Some(tenant) = &tenant_id {
            if !is_tenant_id(tenant) {
                problems.push(ConfigProblem::invalid("tenantId", "`tenantId` must be a GUID or a domain name"));
            } else if let Some(problem) = tenant_alias_problem(tenant, &auth_name) {
                problems.push(ConfigProblem::invalid("tenantId", problem));
            }
        }

        let cloud = match cloud_name.as_deref() {
            None => Some(Cloud::Global),
            Some(name) => Cloud::parse(name).or_else(|| {
                problems.push(ConfigProblem::invalid(
                    "cloud",
                    format!("`cloud` must be one of global, usgov, usgovDod, china (got `{name}`)"),
                ));
                None
            }),
        };
        let cloud = cloud.unwrap_or(Cloud::Global);

        let mut version_from_base = None;
        let (graph_root, graph_host) = match &graph_base {
            Some(url) => match checked_url(url, "graphBaseUrl", problems) {
                Some((url, host)) => {
                    let (root, version) = split_version(&url);
                    version_from_base = version;
                    (root, host)
                }
                None => Default::default(),
            },
            None => (cloud.graph_base_url().to_string(), cloud_host(cloud.graph_base_url())),
        };
        let api_version = match (api_version, version_from_base) {
            (Some(v), Some(from_base)) if v != from_base => {
                problems.push(ConfigProblem::invalid(
                    "apiVersion",
                    format!("`apiVersion` is `{v}` but `graphBaseUrl` ends in `/{from_base}`"),
                ));
                v
            }
            (Some(v), _) => v,
            (None, Some(from_base)) => from_base,
            (None, None) => "v1.0".to_string(),
        };
        if api_version != "v1.0" && api_version != "beta" {
            problems.push(ConfigProblem::invalid(
                "apiVersion",
                format!("`apiVersion` must be `v1.0` or `beta` (got `{api_version}`)"),
            ));
        }
        let (login_root, login_host) = match &login_base {
            Some(url) => checked_url(url, "loginBaseUrl", problems).unwrap_or_default(),
            None => (cloud.login_base_url().to_string(), cloud_host(cloud.login_base_url())),
        };
        let (token_url, token_host) = match &token_url {
            Some(url) => checked_url(url, "tokenUrl", problems).unwrap_or_default(),
            None => {
                let url = [
                    login_root.as_str(),
                    "/",
                    &crate::graph::odata::encode_segment(tenant_id.as_deref().unwrap_or("organizations")),
                    "/oauth2/v2.0/token",
                ]
                .concat();
                // The tenant is one percent-encoded path segment: the host is the login root's.
                (url, login_host)
            }
        };
        let scope_given = scope.is_some();
        let scope = scope.unwrap_or_else(|| [cloud.graph_base_url(), "/.default"].concat());

        let auth = auth?;
        Some(ConnectionConfig {
            auth,
            tenant_id: tenant_id.unwrap_or_default(),
            client_id: client_id.unwrap_or_default(),
            scope,
            scope_given,
            cloud,
            graph_root,
            api_version,
            token_url,
            graph_host,
            token_host,
            max_retries: max_retries.map(|n| n.min(10) as u32).unwrap_or(DEFAULT_MAX_RETRIES),
            timeout_ms: timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        })
    }

    /// The destinations this connection sends requests to, as `host` or `host:port` (the
    /// port only when it is not the scheme's default): the token endpoint's host (for modes that
    /// acquire tokens) and the Graph host. A host allows exactly these (and what its operator
    /// adds), so it needs no table of clouds of its own.
    ///
    /// Each host was read when its URL was checked: a fresh instance opens a connection per
    /// call, and parsing the URLs again (and formatting a port) was a fifth of opening one.
    pub fn hosts(&self) -> Vec<&str> {
        let mut hosts = Vec::with_capacity(2);
        if !matches!(self.auth, AuthMode::AccessToken { .. }) {
            hosts.push(self.token_host.as_str());
        }
        if !hosts.contains(&self.graph_host.as_str()) {
            hosts.push(self.graph_host.as_str());
        }
        hosts
    }

    /// What `connect` returns: the settings in effect, without any secret, and the hosts the
    /// connection talks to.
    pub fn describe(&self) -> Value {
        // One writer for both forms: the tree is read back from the text.
        serde_json::from_str(&self.describe_json()).unwrap_or(Value::Null)
    }

    /// [`Self::describe`] as JSON text, written directly: a fresh instance opens a connection
    /// per call, and building a tree only to serialize it was a large part of opening one. The
    /// members are in the order a `Value` object serializes them (sorted by name).
    pub fn describe_json(&self) -> String {
        let graph_base = self.graph_base();
        let hosts = self.hosts();
        let mut out = Vec::with_capacity(256 + graph_base.len() + self.token_url.len() + self.scope.len());
        let text = |out: &mut Vec<u8>, name: &str, value: &str| {
            out.push(if out.is_empty() { b'{' } else { b',' });
            push_json_string(out, name);
            out.push(b':');
            push_json_string(out, value);
        };
        let flag = |out: &mut Vec<u8>, name: &str, value: bool| {
            out.push(b',');
            push_json_string(out, name);
            out.extend_from_slice(if value { b":true" } else { b":false" });
        };
        text(&mut out, "auth", self.auth.name());
        text(&mut out, "clientId", &self.client_id);
        text(&mut out, "cloud", self.cloud.name());
        flag(&mut out, "connected", true);
        flag(&mut out, "delegated", self.auth.is_delegated());
        text(&mut out, "graphBaseUrl", &graph_base);
        out.extend_from_slice(b",\"hosts\":[");
        for (at, host) in hosts.iter().enumerate() {
            if at > 0 {
                out.push(b',');
            }
            push_json_string(&mut out, host);
        }
        out.push(b']');
        text(&mut out, "scope", &self.scope);
        text(&mut out, "tenantId", &self.tenant_id);
        text(&mut out, "tokenUrl", &self.token_url);
        out.push(b'}');
        // serde_json writes UTF-8 and the rest is ASCII.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The settings a configuration gives, by name: the object's members read once, in one pass
/// (a fresh instance reads a configuration on every call; looking each of the settings up by
/// name in the map was most of checking one). Members of other names are ignored, as before.
struct Given<'a>([Option<&'a Value>; SETTING_NAMES.len()]);

/// Every setting of ACTIONS.md's `connect`, in [`setting_slot`] order.
const SETTING_NAMES: [&str; 19] = [
    "auth",
    "tenantId",
    "clientId",
    "clientSecret",
    "username",
    "password",
    "refreshToken",
    "accessToken",
    "certificatePem",
    "privateKeyPem",
    "assertionAlgorithm",
    "scope",
    "cloud",
    "loginBaseUrl",
    "graphBaseUrl",
    "tokenUrl",
    "apiVersion",
    "maxRetries",
    "timeoutMs",
];

/// A setting's place in [`SETTING_NAMES`].
fn setting_slot(name: &str) -> Option<usize> {
    Some(match name {
        "auth" => 0,
        "tenantId" => 1,
        "clientId" => 2,
        "clientSecret" => 3,
        "username" => 4,
        "password" => 5,
        "refreshToken" => 6,
        "accessToken" => 7,
        "certificatePem" => 8,
        "privateKeyPem" => 9,
        "assertionAlgorithm" => 10,
        "scope" => 11,
        "cloud" => 12,
        "loginBaseUrl" => 13,
        "graphBaseUrl" => 14,
        "tokenUrl" => 15,
        "apiVersion" => 16,
        "maxRetries" => 17,
        "timeoutMs" => 18,
        _ => return None,
    })
}

impl<'a> Given<'a> {
    fn read(object: &'a Map<String, Value>) -> Self {
        let mut given = [None; SETTING_NAMES.len()];
        for (name, value) in object {
            if let Some(slot) = setting_slot(name) {
                given[slot] = Some(value);
            }
        }
        Given(given)
    }

    /// The value of a setting of [`SETTING_NAMES`], if given.
    fn get(&self, name: &str) -> Option<&'a Value> {
        setting_slot(name).and_then(|slot| self.0[slot])
    }
}

/// `text` as a JSON string, as serde_json writes it: as it is between quotes when nothing in it
/// needs an escape (the settings' names, URLs and ids), else by serde_json.
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

fn whole_number(given: Option<&Value>, name: &'static str, problems: &mut Problems) -> Option<u64> {
    match given {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        Some(Value::String(s)) if s.trim().parse::<u64>().is_ok() => s.trim().parse().ok(),
        Some(_) => {
            problems.push(ConfigProblem::WrongType { field: name, expected: "a whole number" });
            None
        }
    }
}

/// Accepts https URLs, and http only for loopback hosts (local test servers). A query, a
/// fragment and userinfo (`user:password@`) are refused: each would change or leave the
/// path that requests are built on (a fragment swallows every path appended to it), and
/// userinfo would carry credentials no request should send. The URL is not echoed when it
/// holds userinfo.
/// Returns the URL without trailing slashes, and its host as [`ConnectionConfig::hosts`] names
/// it: lower-cased, with the port when it is not the scheme's default.
fn checked_url(url: &str, name: &'static str, problems: &mut Problems) -> Option<(String, String)> {
    if url.contains('#') {
        problems.push(ConfigProblem::invalid(name, format!("`{name}` must not carry a fragment")));
        return None;
    }
    let after_scheme = crate::graph::odata::after_scheme(url);
    let authority = after_scheme.split(['/', '?', '\\']).next().unwrap_or_default();
    if authority.contains('@') {
        problems.push(ConfigProblem::invalid(name, format!("`{name}` must not carry a user name or password")));
        return None;
    }
    let trimmed = url.trim_end_matches('/');
    let parsed: Option<http::Uri> = trimmed.parse().ok();
    let Some(uri) = parsed.filter(|u| u.host().is_some()) else {
        problems.push(ConfigProblem::invalid(name, format!("`{name}` must be an absolute URL (got `{url}`)")));
        return None;
    };
    let host = uri.host().unwrap_or_default();
    let loopback = host == "localhost" || host.starts_with("127.") || host == "[::1]";
    let default_port = match uri.scheme_str() {
        Some("https") => 443,
        Some("http") if loopback => 80,
        _ => {
            problems.push(ConfigProblem::invalid(
                name,
                format!("`{name}` must use https (http is allowed only for loopback hosts)"),
            ));
            return None;
        }
    };
    if uri.query().is_some() {
        problems.push(ConfigProblem::invalid(name, format!("`{name}` must not carry a query")));
        return None;
    }
    let mut destination = host.to_ascii_lowercase();
    if let Some(port) = uri.port_u16().filter(|&port| port != default_port) {
        // The port as a number (`:08080` is named `:8080`), written without `format!`.
        destination.push(':');
        let digits = port.checked_ilog10().unwrap_or(0) + 1;
        for place in (0..digits).rev() {
            destination.push(char::from(b'0' + (port / 10u16.pow(place) % 10) as u8));
        }
    }
    Some((trimmed.to_string(), destination))
}

/// The host of one of [`Cloud`]'s base URLs (`https://` and a host, nothing more).
fn cloud_host(base_url: &'static str) -> String {
    base_url.strip_prefix("https://").unwrap_or(base_url).to_string()
}

/// Splits a trailing `/v1.0` or `/beta` off a Graph base URL.
fn split_version(url: &str) -> (String, Option<String>) {
    for version in ["v1.0", "beta"] {
        if let Some(root) = url.strip_suffix(version).and_then(|root| root.strip_suffix('/')) {
            return (root.to_string(), Some(version.to_string()));
        }
    }
    (url.to_string(), None)
}

/// The multi-tenant aliases a grant cannot use: app-only tokens are issued by one specific
/// tenant, and the password grant refuses `common` and `consumers` (graph-api-notes §8).
fn tenant_alias_problem(tenant: &str, auth_name: &str) -> Option<String> {
    let refused: &[&str] = match auth_name {
        "clientCredentials" | "certificate" => &["common", "organizations", "consumers"],
        "password" => &["common", "consumers"],
        _ => &[],
    };
    refused.contains(&tenant).then(|| {
        format!("`tenantId` `{tenant}` cannot be used with auth `{auth_name}`; give the directory's GUID or domain")
    })
}

/// A tenant is a GUID, or a domain name (`contoso.onmicrosoft.com`), or one of
/// the multi-tenant aliases.
fn is_tenant_id(value: &str) -> bool {
    if crate::graph::odata::is_guid(value) || value == "organizations" || value == "common" || value == "consumers" {
        return true;
    }
    let labels: Vec<&str> = value.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// What a JSON value is, with its article, for error texts that must not show the value.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_declared_hosts_are_exactly_the_login_and_graph_hosts_of_every_cloud() {
        let mut from_clouds: Vec<String> = Vec::new();
        for cloud in [Cloud::Global, Cloud::UsGov, Cloud::UsGovDod, Cloud::China] {
            for url in [cloud.login_base_url(), cloud.graph_base_url()] {
                let host = url.strip_prefix("https://").unwrap().to_string();
                if !from_clouds.contains(&host) {
                    from_clouds.push(host);
                }
            }
        }
        let declared: Vec<String> = DECLARED_HOSTS.lines().map(String::from).collect();
        assert_eq!(declared, from_clouds);
        assert!(DECLARED_HOSTS.ends_with('\n'));
    }

    #[test]
    fn a_connection_names_the_hosts_it_talks_to() {
        let hosts = |config: Value| ConnectionConfig::parse(&config.to_string()).unwrap().describe()["hosts"].clone();
        let secret = json!({"tenantId": "contoso.onmicrosoft.com", "clientId": "app", "clientSecret": "s"});
        assert_eq!(hosts(secret.clone()), json!(["login.microsoftonline.com", "graph.microsoft.com"]));
        let mut china = secret.clone();
        china["cloud"] = json!("china");
        assert_eq!(hosts(china), json!(["login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn"]));
        // An access token acquires nothing: Graph alone.
        assert_eq!(hosts(json!({"auth": "accessToken", "accessToken": "t"})), json!(["graph.microsoft.com"]));
        // Custom bases keep a port that is not the scheme's default, and one host is named once.
        let mut local = secret;
        local["graphBaseUrl"] = json!("http://127.0.0.1:8080/v1.0");
        local["loginBaseUrl"] = json!("https://LOGIN.example:443");
        assert_eq!(hosts(local.clone()), json!(["login.example", "127.0.0.1:8080"]));
        local["loginBaseUrl"] = json!("http://127.0.0.1:8080");
        assert_eq!(hosts(local), json!(["127.0.0.1:8080"]));
    }

    /// The hosts read once, when the URLs are checked, are the ones that parsing the URLs the
    /// connection sends to would name (what `hosts` did before it kept them).
    #[test]
    fn the_hosts_kept_from_checking_the_urls_are_those_of_the_urls_in_effect() {
        fn named_by_urls(config: &ConnectionConfig) -> Vec<String> {
            let mut urls = Vec::new();
            if !matches!(config.auth, AuthMode::AccessToken { .. }) {
                urls.push(config.token_url.as_str());
            }
            urls.push(config.graph_root.as_str());
            let mut hosts: Vec<String> = Vec::new();
            for url in urls {
                let uri = url.parse::<http::Uri>().unwrap();
                let host = uri.host().unwrap().to_ascii_lowercase();
                let default_port = if uri.scheme_str() == Some("http") { 80 } else { 443 };
                let destination = match uri.port_u16() {
                    Some(port) if port != default_port => format!("{host}:{port}"),
                    _ => host,
                };
                if !hosts.contains(&destination) {
                    hosts.push(destination);
                }
            }
            hosts
        }
        let urls = [
            None,
            Some("http://127.0.0.1:8080/v1.0"),
            Some("http://127.0.0.1:0"),
            Some("http://127.0.0.1:08080/"),
            Some("http://127.0.0.1:80"),
            Some("https://LOGIN.Example:443"),
            Some("https://login.example:65535/x"),
            Some("http://[::1]:8443"),
            Some("http://localhost"),
            Some("https://graph.example:1/beta"),
        ];
        for auth in [
            json!({"auth": "accessToken", "accessToken": "t0ken"}),
            json!({"tenantId": "contoso.onmicrosoft.com", "clientId": "app", "clientSecret": "s"}),
        ] {
            for graph in urls {
                for login in urls {
                    for token in [None, Some("http://127.0.0.1:9/token"), Some("https://Token.Example:8443/t")] {
                        let mut settings = auth.clone();
                        for (name, url) in [("graphBaseUrl", graph), ("loginBaseUrl", login), ("tokenUrl", token)] {
                            if let Some(url) = url {
                                settings[name] = json!(url);
                            }
                        }
                        let config = ConnectionConfig::parse(&settings.to_string()).unwrap();
                        assert_eq!(config.hosts(), named_by_urls(&config), "{settings}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_setting_has_its_own_slot() {
        for (slot, name) in SETTING_NAMES.iter().enumerate() {
            assert_eq!(setting_slot(name), Some(slot), "{name}");
        }
        assert_eq!(setting_slot("Auth"), None);
        assert_eq!(setting_slot("hosts"), None);
        // A setting given twice counts once, as its last value (as a JSON object reads it).
        let config = ConnectionConfig::parse(r#"{"auth":"accessToken","accessToken":"first","accessToken":"sec0nd"}"#);
        assert!(matches!(config.unwrap().auth, AuthMode::AccessToken { token } if token == "sec0nd"));
    }

    #[test]
    fn every_problem_is_typed_with_the_field_it_concerns() {
        let object = json!({"auth": "password", "tenantId": "common", "username": "", "maxRetries": "many",
                            "graphBaseUrl": "https://u:p@graph.example/v1.0", "cloud": 3})
        .as_object()
        .unwrap()
        .clone();
        let problems = ConnectionConfig::check(&object).unwrap_err();
        assert_eq!(
            problems,
            vec![
                ConfigProblem::Empty { field: "username" },
                ConfigProblem::WrongType { field: "cloud", expected: "a string" },
                ConfigProblem::WrongType { field: "maxRetries", expected: "a whole number" },
                ConfigProblem::Missing { field: "username", auth: "password".into() },
                ConfigProblem::Missing { field: "password", auth: "password".into() },
                ConfigProblem::Missing { field: "clientId", auth: "password".into() },
                ConfigProblem::invalid(
                    "tenantId",
                    "`tenantId` `common` cannot be used with auth `password`; give the directory's GUID or domain"
                ),
                ConfigProblem::invalid("graphBaseUrl", "`graphBaseUrl` must not carry a user name or password"),
            ]
        );
        let fields: Vec<&str> = problems.iter().map(ConfigProblem::field).collect();
        assert!(fields.iter().all(|field| !field.is_empty()));
        assert_eq!(problems[3].to_string(), "`username` is required for auth `password`");
    }

    #[test]
    fn settings_that_are_not_an_object_are_named_and_never_shown() {
        let object =
            json!({"tenantId": "contoso.onmicrosoft.com", "clientId": "app", "clientSecret": "hunter2-secret"});
        for (text, kind) in [
            (Value::String(object.to_string()).to_string(), "a string"),
            (json!([object]).to_string(), "an array"),
            (json!(["hunter2-secret"]).to_string(), "an array"),
            ("\"hunter2-secret\"".to_string(), "a string"),
        ] {
            let error = ConnectionConfig::parse(&text).unwrap_err();
            assert_eq!(error.code, crate::ErrorCode::InvalidConfig);
            assert_eq!(error.message, format!("config must be a JSON object: expected a JSON object, found {kind}"));
        }
        let error = ConnectionConfig::parse("{\"clientSecret\": \"hunter2-secret\"").unwrap_err();
        assert!(!error.message.contains("hunter2"), "{}", error.message);
    }

    #[test]
    fn access_token_config_uses_global_defaults() {
        let config = ConnectionConfig::parse(r#"{"auth":"accessToken","accessToken":"t"}"#).unwrap();
        assert_eq!(config.graph_base(), "https://graph.microsoft.com/v1.0");
        assert_eq!(config.scope, "https://graph.microsoft.com/.default");
    }

    #[test]
    fn client_credentials_builds_the_tenant_token_url() {
        let config = ConnectionConfig::parse(
            r#"{"tenantId":"contoso.onmicrosoft.com","clientId":"c","clientSecret":"s","cloud":"usgov"}"#,
        )
        .unwrap();
        assert_eq!(config.token_url, "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token");
        assert_eq!(config.graph_base(), "https://graph.microsoft.us/v1.0");
        assert_eq!(config.scope, "https://graph.microsoft.us/.default");
    }

    #[test]
    fn every_bad_field_is_named_in_one_error() {
        let error = ConnectionConfig::parse(
            r#"{"auth":"clientCredentials","tenantId":"not a tenant","graphBaseUrl":"http://example.com"}"#,
        )
        .unwrap_err();
        assert_eq!(error.code, crate::error::ErrorCode::InvalidConfig);
        for field in ["clientSecret", "clientId", "tenantId", "graphBaseUrl"] {
            assert!(error.message.contains(field), "{field} missing from {}", error.message);
        }
    }

    fn problems_of(config: Value) -> String {
        let error = ConnectionConfig::parse(&config.to_string()).unwrap_err();
        assert_eq!(error.code, crate::error::ErrorCode::InvalidConfig);
        error.message
    }

    #[test]
    fn certificate_config_reads_both_pems_and_defaults_to_ps256() {
        use crate::graph::assertion::test_keys::*;
        let config = ConnectionConfig::parse(
            &json!({"auth": "certificate", "tenantId": "contoso.onmicrosoft.com", "clientId": "c",
                    "certificatePem": TEST_ONLY_CERTIFICATE_PEM, "privateKeyPem": TEST_ONLY_KEY_PKCS1_PEM})
            .to_string(),
        )
        .unwrap();
        let AuthMode::Certificate { certificate, algorithm } = &config.auth else { panic!("not certificate") };
        assert_eq!(*algorithm, AssertionAlgorithm::Ps256);
        assert_eq!(certificate.thumbprint_sha256(), TEST_ONLY_CERTIFICATE_X5T_S256);
        assert_eq!(config.describe()["auth"], "certificate");
        assert!(!format!("{config:?}").contains("PRIVATE"));
        assert!(!config.describe().to_string().contains("PRIVATE"));
    }

    #[test]
    fn certificate_config_names_every_missing_or_bad_field() {
        let message = problems_of(json!({"auth": "certificate", "tenantId": "common", "assertionAlgorithm": "ES256"}));
        for expected in [
            "`certificatePem` is required for auth `certificate`",
            "`privateKeyPem` is required for auth `certificate`",
            "`assertionAlgorithm` must be PS256 or RS256 (got `ES256`)",
            "`clientId` is required for auth `certificate`",
            "`tenantId` `common` cannot be used with auth `certificate`",
        ] {
            assert!(message.contains(expected), "{expected} missing from {message}");
        }
    }

    #[test]
    fn certificate_config_names_malformed_and_mismatched_pems() {
        use crate::graph::assertion::test_keys::*;
        let message = problems_of(json!({"auth": "certificate", "tenantId": "contoso.com", "clientId": "c",
                                         "certificatePem": "MIIC...", "privateKeyPem": TEST_ONLY_KEY_PKCS8_PEM,
                                         "graphBaseUrl": "http://graph.example"}));
        assert!(message.contains("`certificatePem` must be PEM text with a `CERTIFICATE` block"), "{message}");
        assert!(message.contains("`graphBaseUrl` must use https"), "{message}");
        assert!(!message.contains("privateKeyPem"), "{message}");
        let message = problems_of(json!({"auth": "certificate", "tenantId": "contoso.com", "clientId": "c",
                                         "certificatePem": TEST_ONLY_CERTIFICATE_PEM,
                                         "privateKeyPem": TEST_ONLY_OTHER_KEY_PEM}));
        assert!(message.contains("`privateKeyPem` is not the private key of the certificate in `certificatePem`"));
        assert!(!message.contains("BEGIN"), "the key must not be echoed: {message}");
    }

    #[test]
    fn password_config_names_every_problem() {
        let message = problems_of(json!({"auth": "password", "tenantId": "consumers", "clientId": "c",
                                         "password": " padded ", "tokenUrl": "ftp://login.example/token"}));
        for expected in [
            "`username` is required for auth `password`",
            "`password` has leading or trailing whitespace",
            "`tenantId` `consumers` cannot be used with auth `password`",
            "`tokenUrl` must use https",
        ] {
            assert!(message.contains(expected), "{expected} missing from {message}");
        }
        assert!(!message.contains("padded"), "{message}");
    }

    #[test]
    fn refresh_token_config_requires_the_token_and_accepts_common() {
        let message =
            problems_of(json!({"auth": "refreshToken", "tenantId": "common", "clientId": "c", "refreshToken": ""}));
        assert_eq!(message, "invalid connection settings: `refreshToken` must not be empty; `refreshToken` is required for auth `refreshToken`");
        let config = ConnectionConfig::parse(
            r#"{"auth":"refreshToken","tenantId":"common","clientId":"c","refreshToken":"r","clientSecret":"s"}"#,
        )
        .unwrap();
        assert!(config.auth.is_delegated());
        assert_eq!(config.token_url, "https://login.microsoftonline.com/common/oauth2/v2.0/token");
    }

    #[test]
    fn app_only_auth_needs_a_specific_tenant() {
        let message = problems_of(json!({"tenantId": "organizations", "clientId": "c", "clientSecret": "s"}));
        assert!(message.contains("`tenantId` `organizations` cannot be used with auth `clientCredentials`"));
        let config = ConnectionConfig::parse(
            r#"{"auth":"password","tenantId":"organizations","clientId":"c","username":"u","password":"p","loginBaseUrl":"http://localhost:8080"}"#,
        )
        .unwrap();
        assert_eq!(config.token_url, "http://localhost:8080/organizations/oauth2/v2.0/token");
    }

    #[test]
    fn graph_base_with_version_sets_the_version() {
        let config = ConnectionConfig::parse(
            r#"{"auth":"accessToken","accessToken":"t","graphBaseUrl":"http://127.0.0.1:8080/beta"}"#,
        )
        .unwrap();
        assert_eq!(config.graph_root, "http://127.0.0.1:8080");
        assert_eq!(config.api_version, "beta");
    }

    #[test]
    fn base_urls_with_a_fragment_or_userinfo_are_refused() {
        for field in ["graphBaseUrl", "loginBaseUrl", "tokenUrl"] {
            for (url, what) in [
                ("https://graph.example/v1.0#x", "fragment"),
                ("https://graph.example#", "fragment"),
                ("https://user:pass@graph.example/v1.0", "user name or password"),
                ("https://user@graph.example", "user name or password"),
            ] {
                let message = problems_of(json!({"auth": "accessToken", "accessToken": "t", field: url}));
                assert!(message.contains(&format!("`{field}` must not carry a {what}")), "{field} {url}: {message}");
                assert!(!message.contains("pass@"), "the userinfo must not be echoed: {message}");
            }
        }
    }

    /// The description written directly is the document a `Value` tree of the same members
    /// serializes to, byte for byte, whatever the settings hold (quotes, backslashes, control
    /// characters and non-ASCII in the texts it echoes).
    #[test]
    fn the_description_text_is_what_the_tree_of_its_members_serializes_to() {
        let settings = [
            json!({"auth": "accessToken", "accessToken": "t0ken-value"}),
            json!({"auth": "accessToken", "accessToken": "t", "graphBaseUrl": "http://127.0.0.1:8080/beta"}),
            json!({"tenantId": "contoso.onmicrosoft.com", "clientId": "a\"b\\c\u{0001}é", "clientSecret": "s",
                   "scope": "https://graph.microsoft.com/.default \"x\"", "cloud": "china"}),
            json!({"auth": "password", "tenantId": "contoso.onmicrosoft.com", "clientId": "app",
                   "username": "u@contoso.com", "password": "p", "tokenUrl": "http://localhost:9/token"}),
            json!({"auth": "refreshToken", "tenantId": "contoso.onmicrosoft.com", "clientId": "app",
                   "refreshToken": "r", "loginBaseUrl": "https://login.example/"}),
            // Nothing to escape, but a DEL and non-ASCII, which JSON writes as they are.
            json!({"tenantId": "contoso.onmicrosoft.com", "clientId": "app\u{7f}é ~", "clientSecret": "s",
                   "scope": "https://graph.microsoft.com/.default"}),
        ];
        for setting in settings {
            let config = ConnectionConfig::parse(&setting.to_string()).unwrap();
            let tree = json!({
                "hosts": config.hosts(),
                "connected": true,
                "auth": config.auth.name(),
                "delegated": config.auth.is_delegated(),
                "tenantId": config.tenant_id,
                "clientId": config.client_id,
                "cloud": config.cloud.name(),
                "graphBaseUrl": config.graph_base(),
                "tokenUrl": config.token_url,
                "scope": config.scope,
            });
            assert_eq!(config.describe_json(), serde_json::to_string(&tree).unwrap(), "{setting}");
            assert_eq!(config.describe(), tree);
        }
    }

    #[test]
    fn secrets_do_not_appear_in_debug_or_describe() {
        let config =
            ConnectionConfig::parse(r#"{"tenantId":"contoso.com","clientId":"c","clientSecret":"hunter2-secret"}"#)
                .unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(!config.describe().to_string().contains("hunter2"));
    }
}
