//! Certificate credentials: the signed `client_assertion` JWT of Microsoft's
//! certificate-credentials document, built from a PEM certificate and its RSA key.
//!
//! Header: `alg` `PS256` with `x5t#S256` (base64url SHA-256 of the certificate DER), the current
//! form; or `RS256` with `x5t` (base64url SHA-1), the older form Microsoft still accepts.
//! Claims: `aud` = the token endpoint URL, `iss` = `sub` = client id, `jti` = a fresh GUID,
//! `nbf` = `iat` = now, `exp` = now + 10 minutes.

use crate::error::{ConnectorError, Result};
use crate::graph::transport::Transport;
use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::rand_core::{CryptoRng, RngCore};
use rsa::sha2::{Digest, Sha256};
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::json;

/// How long an assertion is valid: Microsoft accepts 5 to 10 minutes after `nbf`.
pub const ASSERTION_LIFETIME_SECS: u64 = 600;

/// The `client_assertion_type` sent with a certificate assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The smallest RSA key Microsoft accepts for certificate credentials, in bits.
const MIN_KEY_BITS: usize = 2048;

/// The JWT signature algorithm of the assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256, and the SHA-256 thumbprint in `x5t#S256` (the current form).
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, and the SHA-1 thumbprint in `x5t` (the older form).
    Rs256,
}

impl AssertionAlgorithm {
    /// Reads the `assertionAlgorithm` setting (`PS256` or `RS256`).
    pub fn parse(name: &str) -> Option<AssertionAlgorithm> {
        match name {
            "PS256" => Some(AssertionAlgorithm::Ps256),
            "RS256" => Some(AssertionAlgorithm::Rs256),
            _ => None,
        }
    }

    /// The JWT `alg` value.
    pub fn name(self) -> &'static str {
        match self {
            AssertionAlgorithm::Ps256 => "PS256",
            AssertionAlgorithm::Rs256 => "RS256",
        }
    }
}

/// A certificate and its private key, checked to belong together.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    key: RsaPrivateKey,
    thumbprint_sha256: String,
    thumbprint_sha1: String,
    /// The key PEM as given, so error texts can be scrubbed of it.
    key_pem: String,
}

// The private key must never reach a log through `{:?}`.
impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientCertificate(x5t#S256={})", self.thumbprint_sha256)
    }
}

impl ClientCertificate {
    /// Reads `certificatePem` (a `CERTIFICATE` block) and `privateKeyPem` (PKCS#8 `PRIVATE KEY`
    /// or PKCS#1 `RSA PRIVATE KEY`), and checks that the key is the certificate's. Each problem is
    /// pushed to `problems`, naming the field.
    pub fn from_pem(certificate_pem: &str, key_pem: &str, problems: &mut Vec<String>) -> Option<ClientCertificate> {
        let certificate = read_certificate(certificate_pem).map_err(|p| problems.push(p)).ok();
        let key = read_private_key(key_pem).map_err(|p| problems.push(p)).ok();
        let ((der, public), key) = (certificate?, key?);
        if RsaPublicKey::from(&key) != public {
            problems.push("`privateKeyPem` is not the private key of the certificate in `certificatePem`".into());
            return None;
        }
        Some(ClientCertificate {
            key,
            thumbprint_sha256: Base64UrlUnpadded::encode_string(&Sha256::digest(&der)),
            thumbprint_sha1: Base64UrlUnpadded::encode_string(&sha1::Sha1::digest(&der)),
            key_pem: key_pem.to_string(),
        })
    }

    /// The base64url SHA-256 thumbprint of the certificate (`x5t#S256`).
    pub fn thumbprint_sha256(&self) -> &str {
        &self.thumbprint_sha256
    }

    /// The private key PEM as configured, and each of its base64 lines, for redaction.
    pub fn secret_texts(&self) -> Vec<&str> {
        let mut texts = vec![self.key_pem.as_str()];
        texts.extend(self.key_pem.lines().map(str::trim).filter(|line| line.len() >= 16 && !line.starts_with("-----")));
        texts
    }

    /// A signed client assertion for the token endpoint `audience`, valid from `now_secs`
    /// (seconds since the Unix epoch) for ten minutes.
    pub fn assertion(
        &self,
        algorithm: AssertionAlgorithm,
        client_id: &str,
        audience: &str,
        now_secs: u64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<String> {
        let header = match algorithm {
            AssertionAlgorithm::Ps256 => json!({"alg": "PS256", "typ": "JWT", "x5t#S256": self.thumbprint_sha256}),
            AssertionAlgorithm::Rs256 => json!({"alg": "RS256", "typ": "JWT", "x5t": self.thumbprint_sha1}),
        };
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let claims = json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": guid(id),
            "nbf": now_secs,
            "iat": now_secs,
            "exp": now_secs.saturating_add(ASSERTION_LIFETIME_SECS),
        });
        let signing_input = format!(
            "{}.{}",
            Base64UrlUnpadded::encode_string(header.to_string().as_bytes()),
            Base64UrlUnpadded::encode_string(claims.to_string().as_bytes())
        );
        let signed = match algorithm {
            AssertionAlgorithm::Ps256 => rsa::pss::BlindedSigningKey::<Sha256>::new(self.key.clone())
                .try_sign_with_rng(rng, signing_input.as_bytes())
                .map(|s| s.to_vec()),
            AssertionAlgorithm::Rs256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(self.key.clone())
                .try_sign_with_rng(rng, signing_input.as_bytes())
                .map(|s| s.to_vec()),
        };
        let signature = signed.map_err(|e| {
            ConnectorError::new(crate::error::ErrorCode::Internal, format!("signing the client assertion failed: {e}"))
        })?;
        Ok(format!("{signing_input}.{}", Base64UrlUnpadded::encode_string(&signature)))
    }
}

/// A version 4 GUID (RFC 4122 text form) from 16 random bytes.
fn guid(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// The certificate's DER bytes and its RSA public key.
fn read_certificate(pem: &str) -> std::result::Result<(Vec<u8>, RsaPublicKey), String> {
    const FIELD: &str = "certificatePem";
    let der = pem_block(pem, &["CERTIFICATE"], FIELD)?.1;
    let spki =
        subject_public_key_info(&der).ok_or_else(|| format!("`{FIELD}` does not hold a valid X.509 certificate"))?;
    let public = RsaPublicKey::from_public_key_der(spki)
        .map_err(|_| format!("`{FIELD}` must hold a certificate with an RSA public key"))?;
    Ok((der, public))
}

/// The DER `SubjectPublicKeyInfo` element of an X.509 certificate (RFC 5280 §4.1):
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
/// signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... }`.
/// Walked by hand: a full X.509 decoder (x509-cert) made the component much larger
/// for this one field. Microsoft checks the rest of the certificate when it is uploaded.
fn subject_public_key_info(certificate: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    let (tag, content, rest) = der_element(certificate)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (tag, mut tbs, _) = der_element(content)?;
    if tag != SEQUENCE {
        return None;
    }
    // The explicit `[0]` version is absent in v1 certificates.
    if tbs.first() == Some(&0xa0) {
        tbs = der_element(tbs)?.2;
    }
    // serialNumber INTEGER, signature, issuer, validity and subject SEQUENCEs.
    for expected in [0x02, SEQUENCE, SEQUENCE, SEQUENCE, SEQUENCE] {
        let (tag, _, rest) = der_element(tbs)?;
        if tag != expected {
            return None;
        }
        tbs = rest;
    }
    let (tag, _, rest) = der_element(tbs)?;
    (tag == SEQUENCE).then(|| &tbs[..tbs.len() - rest.len()])
}

/// Splits one DER element (single-byte tag, definite length) off the front of `input`:
/// its tag, its content, and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        (bytes.iter().fold(0usize, |length, &b| (length << 8) | usize::from(b)), rest)
    };
    if rest.len() < length {
        return None;
    }
    let (content, rest) = rest.split_at(length);
    Some((tag, content, rest))
}

/// The RSA private key of a PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY` block.
fn read_private_key(pem: &str) -> std::result::Result<RsaPrivateKey, String> {
    const FIELD: &str = "privateKeyPem";
    if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!("`{FIELD}` is encrypted; give the key without a passphrase"));
    }
    let (label, der) = pem_block(pem, &["PRIVATE KEY", "RSA PRIVATE KEY"], FIELD)?;
    // Both decoders check the key's consistency (`RsaPrivateKey::from_components` validates).
    let key = if label == "PRIVATE KEY" {
        RsaPrivateKey::from_pkcs8_der(&der).map_err(|_| format!("`{FIELD}` must hold an RSA key (PKCS#8)"))?
    } else {
        RsaPrivateKey::from_pkcs1_der(&der).map_err(|_| format!("`{FIELD}` does not hold a valid PKCS#1 RSA key"))?
    };
    if key.size() * 8 < MIN_KEY_BITS {
        return Err(format!("`{FIELD}` must be an RSA key of at least {MIN_KEY_BITS} bits"));
    }
    Ok(key)
}

/// The label and decoded bytes of the first PEM block with one of `labels`. Lenient about
/// surrounding text (a file holding key and certificate together works for both fields),
/// indentation, CRLF line ends, and `\n` escapes left in a pasted value.
fn pem_block(text: &str, labels: &[&'static str], field: &str) -> std::result::Result<(&'static str, Vec<u8>), String> {
    let unescaped;
    let text = if !text.contains('\n') && text.contains("\\n") {
        unescaped = text.replace("\\n", "\n");
        unescaped.as_str()
    } else {
        text
    };
    let found = labels.iter().filter_map(|label| {
        let begin = format!("-----BEGIN {label}-----");
        let start = text.find(&begin)? + begin.len();
        let end = text[start..].find(&format!("-----END {label}-----"))? + start;
        Some((start, *label, &text[start..end]))
    });
    let Some((_, label, body)) = found.min_by_key(|(start, _, _)| *start) else {
        let wanted = labels.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(" or ");
        return Err(format!("`{field}` must be PEM text with a {wanted} block"));
    };
    let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    match Base64::decode_vec(&base64) {
        Ok(der) if !der.is_empty() => Ok((label, der)),
        _ => Err(format!("`{field}` has a `{label}` block that is not valid base64")),
    }
}

/// A CSPRNG over the transport's random source (`wasi:random` in the component).
pub struct TransportRng<'a>(pub &'a mut dyn Transport);

impl RngCore for TransportRng<'_> {
    fn next_u32(&mut self) -> u32 {
        rsa::rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rsa::rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let bytes = self.0.random_bytes(dest.len());
        for (slot, byte) in dest.iter_mut().zip(bytes) {
            *slot = byte;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TransportRng<'_> {}

#[cfg(test)]
pub mod test_keys {
    //! Throwaway RSA-2048 key material made with openssl for the tests and fixtures of this
    //! crate. TEST DATA ONLY: trusted nowhere, it protects nothing.

    /// Self-signed certificate `CN=graph-connector TEST ONLY - do not trust`.
    pub const TEST_ONLY_CERTIFICATE_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIDRzCCAi+gAwIBAgIULHFFpJeOJgXWbFL29WE8YpEiLPgwDQYJKoZIhvcNAQEL
BQAwMzExMC8GA1UEAwwoZ3JhcGgtY29ubmVjdG9yIFRFU1QgT05MWSAtIGRvIG5v
dCB0cnVzdDAeFw0yNjExMjUxNTQ2MzRaFw0zNjExMjIxNTQ2MzRaMDMxMTAvBgNV
BAMMKGdyYXBoLWNvbm5lY3RvciBURVNUIE9OTFkgLSBkbyBub3QgdHJ1c3QwggEi
MA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQC1sNROS+tgu1hnzeuUxiMyrh5m
ip9SP4CB7KOUIO6u53bRDKbor0hm9Fz2GKUoDc8htONXCQkIzXaEZgmgAVzGEreX
iQSjPRxEGMUxIWEsaves1THZnGGj0BKasyl0tiSceaS7abmQigX/15DhvhFBe4jg
RDahV3Q9OC0Qdv1rxQP5lFEUWw1tHtIP/zXToTF0dkXqNVxki9Qj1i3SYHECCBFX
Lzssa39fqBRHyVm7tdj09YCTf3FzkYO6iD2R9mSTy4LZdvUTvV8Hywi+mCJY3HWV
gkcpZewSthLxzG93pU98NXvMBzAOFZD5uFuKwg8wlNUcdra+zz6DHF1usNNJAgMB
AAGjUzBRMB0GA1UdDgQWBBTtxM8nQdduTZcnU97TnLg32xfnGjAfBgNVHSMEGDAW
gBTtxM8nQdduTZcnU97TnLg32xfnGjAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3
DQEBCwUAA4IBAQA9BW8WuhW+xK8o28nsPTzVthDm6h8rlpp229otN3yanp21y+AJ
Ql64OQiRGqUOz/KAhbJsz2BzKUuzm8IdKhtge23m48MDHGIgcf+jZ0odQVBHt8eS
QD3AXrMdtenW7npHLSolJGQGfs9PAtb1qRspL/TlqblbtftAJdGJNF3opO1XQ2Pj
+I0+Bcz6LVDA19NIvWZkRCMOHHd4NpyHM2HA0uLeMrCFQvV06LttMjhDDRzvLh3F
SQlu32v9lg3KSdDjb+S8yNWPruUjBk4ZQ8pXnd3wAq3LdjRY6X10mAGk+pxtM3Gh
a/lA3gr5MpQoVfXQqBLGn3KJZAPSvziM7n9G
-----END CERTIFICATE-----
";
    /// The certificate's key, PKCS#8 (`PRIVATE KEY`).
    pub const TEST_ONLY_KEY_PKCS8_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC1sNROS+tgu1hn
zeuUxiMyrh5mip9SP4CB7KOUIO6u53bRDKbor0hm9Fz2GKUoDc8htONXCQkIzXaE
ZgmgAVzGEreXiQSjPRxEGMUxIWEsaves1THZnGGj0BKasyl0tiSceaS7abmQigX/
15DhvhFBe4jgRDahV3Q9OC0Qdv1rxQP5lFEUWw1tHtIP/zXToTF0dkXqNVxki9Qj
1i3SYHECCBFXLzssa39fqBRHyVm7tdj09YCTf3FzkYO6iD2R9mSTy4LZdvUTvV8H
ywi+mCJY3HWVgkcpZewSthLxzG93pU98NXvMBzAOFZD5uFuKwg8wlNUcdra+zz6D
HF1usNNJAgMBAAECgf9Zoa0ayG6LKeD9qfhYoeZ7T1Uaq7LX6xEvsdiAxZOkyqCI
QKrr3zeN6BR0KMmmbimLgfvP1AVA8nClStvfXiIGakq9LDsSzJ2aenMilEpRP0kw
BNIIKGgtXVh6430atpXDxmlzNepKrncx34ZPLGoW2SU30xmgPnnO5F0BjQc37QR+
T7l/fQgQBf1bpzHLgAVETZxZrcQL3xJmJ+ncvW3wB4KsFDZCLMt/AdOb0TVjhXAm
mCcYygJ40R86xJV4ttzCTPnMbJxemIGvXq4YwJm4wjzzauOT2XWSG0CVnsHy4Tdt
htrdZVKUFT80IfQH9m8iJ5f2RJVi2rV38FdEHFECgYEA4Xd5ylUPzNQNMW1VpV5z
xznvyRvBfuahF3UX8zcRF9Rkfat2SB7VUth6C/KtBR+GsnrcrapNIcXI/aWBfG15
vzeK5IXZyrrsSFu4DiVagBLujDVuIjLLI4xQVExOMxprHm1ODDlVMldEqWeYHUgo
J7H1cmAkdX6dU0dRVuRsMTECgYEAzku4R3NFHIOsbBaBl6hja+Iy82p0pLNFdh3a
kLg44bqaTpiJogwKykqZvcW+MIzacxJl6ZTE+Opa9PgcVQ3sN52h3QxyhxSTg7uc
q3FCTUYhWFqcc1pKo9yq2rkCOt+GYL8El74bRXkurAlKaKpSA629la6qgiRdTtV3
HsmK/ZkCgYEAwVkcxydE4mkiWzWgkay66qlDeRnlSDbtBFm0zSx26xGHj8FfMJ/I
XkAoAWD9gPw1HY+A+Sim9oRPRT0OGq8jDZjK8gfa6iB8Cd0lrHPZ9STHDtOu+4LF
c1mbdX7uPKK2I6SmnpL3/bCawA+HgezkCo5wpsHN4jhPICBzn2lJYrECgYBgrKtX
EHW6vxn2LTXd1FODIyWtXJ388OYETEk4uJwvbDsTyff1sJ793afefuR57AgTFPQd
WlJUM78cPYlJcpTYG07XQBYLp2DZwvnQfesMO2k09oGKrS19TNPkW/7niAh5HgsQ
8U3maLuuc0wjcG2uu6S0mH3fLxtq7i48h0ZTQQKBgQDBiTLznpxJegkZUx2+yQPZ
VlfAJv60gHHtt43ZpUgd47kmC8uuImstKIEcPMC702Ne4HcwEs51ySD3TdAsYDP0
6URp7YUkFapnai0J/jgnpE7JHwlXXRHzVaHO0S6xy6WJChGPUn8oOvpTk0XfAs3v
vjNH2fN5ivKeUiDbD/cANA==
-----END PRIVATE KEY-----
";
    /// The same key, PKCS#1 (`RSA PRIVATE KEY`).
    pub const TEST_ONLY_KEY_PKCS1_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEogIBAAKCAQEAtbDUTkvrYLtYZ83rlMYjMq4eZoqfUj+AgeyjlCDurud20Qym
6K9IZvRc9hilKA3PIbTjVwkJCM12hGYJoAFcxhK3l4kEoz0cRBjFMSFhLGr3rNUx
2Zxho9ASmrMpdLYknHmku2m5kIoF/9eQ4b4RQXuI4EQ2oVd0PTgtEHb9a8UD+ZRR
FFsNbR7SD/8106ExdHZF6jVcZIvUI9Yt0mBxAggRVy87LGt/X6gUR8lZu7XY9PWA
k39xc5GDuog9kfZkk8uC2Xb1E71fB8sIvpgiWNx1lYJHKWXsErYS8cxvd6VPfDV7
zAcwDhWQ+bhbisIPMJTVHHa2vs8+gxxdbrDTSQIDAQABAoH/WaGtGshuiyng/an4
WKHme09VGquy1+sRL7HYgMWTpMqgiECq6983jegUdCjJpm4pi4H7z9QFQPJwpUrb
314iBmpKvSw7EsydmnpzIpRKUT9JMATSCChoLV1YeuN9GraVw8ZpczXqSq53Md+G
TyxqFtklN9MZoD55zuRdAY0HN+0Efk+5f30IEAX9W6cxy4AFRE2cWa3EC98SZifp
3L1t8AeCrBQ2QizLfwHTm9E1Y4VwJpgnGMoCeNEfOsSVeLbcwkz5zGycXpiBr16u
GMCZuMI882rjk9l1khtAlZ7B8uE3bYba3WVSlBU/NCH0B/ZvIieX9kSVYtq1d/BX
RBxRAoGBAOF3ecpVD8zUDTFtVaVec8c578kbwX7moRd1F/M3ERfUZH2rdkge1VLY
egvyrQUfhrJ63K2qTSHFyP2lgXxteb83iuSF2cq67EhbuA4lWoAS7ow1biIyyyOM
UFRMTjMaax5tTgw5VTJXRKlnmB1IKCex9XJgJHV+nVNHUVbkbDExAoGBAM5LuEdz
RRyDrGwWgZeoY2viMvNqdKSzRXYd2pC4OOG6mk6YiaIMCspKmb3FvjCM2nMSZemU
xPjqWvT4HFUN7Dedod0McocUk4O7nKtxQk1GIVhanHNaSqPcqtq5AjrfhmC/BJe+
G0V5LqwJSmiqUgOtvZWuqoIkXU7Vdx7Jiv2ZAoGBAMFZHMcnROJpIls1oJGsuuqp
Q3kZ5Ug27QRZtM0sdusRh4/BXzCfyF5AKAFg/YD8NR2PgPkopvaET0U9DhqvIw2Y
yvIH2uogfAndJaxz2fUkxw7TrvuCxXNZm3V+7jyitiOkpp6S9/2wmsAPh4Hs5AqO
cKbBzeI4TyAgc59pSWKxAoGAYKyrVxB1ur8Z9i013dRTgyMlrVyd/PDmBExJOLic
L2w7E8n39bCe/d2n3n7keewIExT0HVpSVDO/HD2JSXKU2BtO10AWC6dg2cL50H3r
DDtpNPaBiq0tfUzT5Fv+54gIeR4LEPFN5mi7rnNMI3BtrruktJh93y8bau4uPIdG
U0ECgYEAwYky856cSXoJGVMdvskD2VZXwCb+tIBx7beN2aVIHeO5JgvLriJrLSiB
HDzAu9NjXuB3MBLOdckg903QLGAz9OlEae2FJBWqZ2otCf44J6ROyR8JV10R81Wh
ztEusculiQoRj1J/KDr6U5NF3wLN774zR9nzeYrynlIg2w/3ADQ=
-----END RSA PRIVATE KEY-----
";
    /// Another key (PKCS#8) that does not belong to the certificate.
    pub const TEST_ONLY_OTHER_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDiT1Sq2tKvRy8J
UFVj6Jzqg3KOkLaTRz/sSlaeXdJ33+4FtrtpVoyA2LZ2RVXSzLs49bqFFE7UkXI4
qYvcvrz5zNT4uGRdrjyMUtSldUWzNHTmeu473xOWIoxw+UpJXRCIGCoIL/vaF9Mp
BVLrk+b6KJxrD0Ew2jVOEotnICmvCs/mOhQWals2NGM1/CH+lzkkqV2UdAbTvFjK
7GGCeIo9bwGJURF/VgPCZPfsfgyDyHm0RQUduEhwR/5yLj4KHen1d7iVUJroOXK+
1s9tlV+1I9Onrn92GZC7dZLq2nORSAzKBs1AJ4JDFT/CEoDInmrOMphO/bRTV1+g
IWOgmFXtAgMBAAECggEAApsh68sT8gDCgeZIQBua8vhghqkT8SOOO4z/l63s5oR6
8TCRfT0J5nyYXUmfG2D60Zptc2rbHYeEkTJ38dV1x5/xiTZWXDMixLA6J/hEZ96K
xLyq/ErX/DqZnhNrejzKxpvAoCeCoZhJ+NxJgCehLpruci0oIFqNkpXpal6XHEo2
CfWD8Za9Dm5HQ9FgR4tCc7iyziqOLLjdQ9B1YrEfWxaFXHeIkS8FQvR1NFz+wjqm
oGBIBWzy8ut39OXpYKLplm5z+D9gV00OlibirGxUwBuLwK0WXbXuKAALmql2uylv
zn94jK2GxaccG5qgaf8D46nYYClbXtD+Lu+FJZ/RAQKBgQD1SmQkP6kMGyeNR0fg
lmG4n2jLgxABR2i5Gls6XBVL4cEaEk0JyGuAVi6FroS1LzL1M5k1Gqa/Qdh5qb5g
hf/HFxb82pUimL4YsVTBjAc+BXinEoPIcLZU5ZTSETIa1PfLke5utRJRdfPEWMcJ
7/5ksNp72w+IBsHnmtLehhQPhQKBgQDsMMrjens11St4DFaY1y2Wk4/FHDyOYwqV
DoMtUWjhkN2x/CPK3QyCwKlGiwXZ2uPtUDGOwSgGD0/JaF5bv0UvE7wv9Uzo7cOI
AMvzbhrZn0kSufhh8dadVDn9cbgoIKqcmvDj659T6BUgCAcpSswpY8QyYw9ZeFVb
GRUM21IVSQKBgH1MC81sa2jQsip7v96cUryhSUGz6EgO9xKewP0Vrpc9cYtkz89w
fmFnJIqK9CUtQAV63wb+XzERbIfxSls598b2J3rwGQA8L9ajNt1LLyPiXZhSX9jS
ooDJaXTI7eRA53coSzhn7DyKWQPyKXINEtDSejiMVOmyMfih4Jdku/iVAoGBAOZ2
xcIppUfl9UByaZ1BeY5P9h1TbBNTuOOxAXaa1UgkXu5pJVOxVZ/P9lyLEu58k6Lg
eTreZvtivWu9lzTW8d751srFBILUXdK7VEb3zONEdbz8Ec0geVWS9fLDn/onxdKB
rUP4icMJ1nMm4jX8cjKA0tSHrFaVAFSfqNaeuv1hAoGAK9JI6nZ5NEZWIrv6Q6Cw
VxS7LeFWAZodthtu5LWqBeAYSfsr5IDmFvqXzrxuZzMzSNDzOV8mjDBO4hP6sXfl
uBObn2h5yPjQ49n/fcooGyDLAZ8UxlOb4zAn5pumHXCl8SiNjzHzTa8Imj5dgJ7b
Eu1TsDzLh7qGzCf6asm7Uts=
-----END PRIVATE KEY-----
";
    /// `x5t#S256` of the certificate, as `openssl x509 -outform der | openssl dgst -sha256` gives it.
    pub const TEST_ONLY_CERTIFICATE_X5T_S256: &str = "mMjShxn8BkZNxFiiwD5nVD_Ch6MGXp_g9GrG6BOqa_8";
    /// `x5t` (SHA-1) of the certificate.
    pub const TEST_ONLY_CERTIFICATE_X5T: &str = "V2j71XwyF-z_CM-Ks3reMb7J4_g";
}

#[cfg(test)]
mod tests {
    use super::test_keys::*;
    use super::*;
    use crate::graph::transport::scripted::ScriptedTransport;
    use rsa::signature::Verifier;
    use serde_json::Value;

    fn certificate() -> ClientCertificate {
        let mut problems = Vec::new();
        let certificate =
            ClientCertificate::from_pem(TEST_ONLY_CERTIFICATE_PEM, TEST_ONLY_KEY_PKCS8_PEM, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        certificate.unwrap()
    }

    fn decode_part(part: &str) -> Value {
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(part).unwrap()).unwrap()
    }

    const AUDIENCE: &str = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token";
    const CLIENT: &str = "535fb089-9ff3-47b6-9bfb-4f1264799865";

    #[test]
    fn ps256_assertion_has_every_header_and_claim_and_a_valid_signature() {
        let certificate = certificate();
        let mut transport = ScriptedTransport::new();
        let jwt = certificate
            .assertion(AssertionAlgorithm::Ps256, CLIENT, AUDIENCE, 1_764_000_000, &mut TransportRng(&mut transport))
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode_part(parts[0]),
            json!({"alg": "PS256", "typ": "JWT", "x5t#S256": TEST_ONLY_CERTIFICATE_X5T_S256})
        );
        let claims = decode_part(parts[1]);
        let jti = claims["jti"].as_str().unwrap().to_string();
        assert!(crate::graph::odata::is_guid(&jti) && jti.as_bytes()[14] == b'4', "{jti}");
        assert_eq!(
            claims,
            json!({"aud": AUDIENCE, "iss": CLIENT, "sub": CLIENT, "jti": jti,
                   "nbf": 1_764_000_000u64, "iat": 1_764_000_000u64, "exp": 1_764_000_600u64})
        );
        let public = read_certificate(TEST_ONLY_CERTIFICATE_PEM).unwrap().1;
        let signature_bytes = Base64UrlUnpadded::decode_vec(parts[2]).unwrap();
        assert_eq!(signature_bytes.len(), 256);
        let signature = rsa::pss::Signature::try_from(signature_bytes.as_slice()).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        rsa::pss::VerifyingKey::<Sha256>::new(public.clone()).verify(signed.as_bytes(), &signature).unwrap();
        // A changed claim no longer verifies.
        let forged = format!("{}.{}x", parts[0], parts[1]);
        assert!(rsa::pss::VerifyingKey::<Sha256>::new(public).verify(forged.as_bytes(), &signature).is_err());
    }

    #[test]
    fn each_assertion_gets_a_fresh_jti() {
        let certificate = certificate();
        let mut transport = ScriptedTransport::new();
        let mut jti = || {
            let jwt = certificate
                .assertion(AssertionAlgorithm::Ps256, CLIENT, AUDIENCE, 1, &mut TransportRng(&mut transport))
                .unwrap();
            decode_part(jwt.split('.').nth(1).unwrap())["jti"].clone()
        };
        assert_ne!(jti(), jti());
    }

    #[test]
    fn rs256_assertion_uses_the_sha1_thumbprint_and_pkcs1_v15() {
        let mut problems = Vec::new();
        let certificate =
            ClientCertificate::from_pem(TEST_ONLY_CERTIFICATE_PEM, TEST_ONLY_KEY_PKCS1_PEM, &mut problems).unwrap();
        let mut transport = ScriptedTransport::new();
        let jwt = certificate
            .assertion(AssertionAlgorithm::Rs256, CLIENT, AUDIENCE, 1_764_000_000, &mut TransportRng(&mut transport))
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(decode_part(parts[0]), json!({"alg": "RS256", "typ": "JWT", "x5t": TEST_ONLY_CERTIFICATE_X5T}));
        let public = RsaPublicKey::from(&certificate.key);
        let signature =
            rsa::pkcs1v15::Signature::try_from(Base64UrlUnpadded::decode_vec(parts[2]).unwrap().as_slice()).unwrap();
        rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .unwrap();
    }

    #[test]
    fn pkcs1_and_pkcs8_forms_of_the_key_are_the_same_key() {
        let mut problems = Vec::new();
        let pkcs1 = ClientCertificate::from_pem(TEST_ONLY_CERTIFICATE_PEM, TEST_ONLY_KEY_PKCS1_PEM, &mut problems);
        assert_eq!(pkcs1.map(|c| c.key), Some(certificate().key));
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let mut problems = Vec::new();
        assert!(
            ClientCertificate::from_pem(TEST_ONLY_CERTIFICATE_PEM, TEST_ONLY_OTHER_KEY_PEM, &mut problems).is_none()
        );
        assert_eq!(problems, vec!["`privateKeyPem` is not the private key of the certificate in `certificatePem`"]);
    }

    #[test]
    fn malformed_pems_name_their_field() {
        let mut problems = Vec::new();
        assert!(ClientCertificate::from_pem("not pem", TEST_ONLY_CERTIFICATE_PEM, &mut problems).is_none());
        assert_eq!(problems.len(), 2);
        assert!(problems[0].starts_with("`certificatePem` must be PEM text with a `CERTIFICATE` block"));
        assert!(problems[1].starts_with("`privateKeyPem` must be PEM text"));

        let mut problems = Vec::new();
        let broken = "-----BEGIN CERTIFICATE-----\nMIIB!!!\n-----END CERTIFICATE-----\n";
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        ClientCertificate::from_pem(broken, encrypted, &mut problems);
        assert_eq!(
            problems,
            vec![
                "`certificatePem` has a `CERTIFICATE` block that is not valid base64",
                "`privateKeyPem` is encrypted; give the key without a passphrase"
            ]
        );

        let mut problems = Vec::new();
        let not_a_certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        ClientCertificate::from_pem(not_a_certificate, TEST_ONLY_KEY_PKCS8_PEM, &mut problems);
        assert_eq!(problems, vec!["`certificatePem` does not hold a valid X.509 certificate"]);
    }

    #[test]
    fn one_pem_file_with_key_and_certificate_serves_both_fields_even_with_escaped_newlines() {
        let combined = format!("{TEST_ONLY_KEY_PKCS8_PEM}{TEST_ONLY_CERTIFICATE_PEM}").replace('\n', "\\n");
        let mut problems = Vec::new();
        let certificate = ClientCertificate::from_pem(&combined, &combined, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(certificate.unwrap().thumbprint_sha256(), TEST_ONLY_CERTIFICATE_X5T_S256);
    }

    #[test]
    fn the_public_key_is_found_in_the_certificate_and_damaged_certificates_are_refused() {
        let der = pem_block(TEST_ONLY_CERTIFICATE_PEM, &["CERTIFICATE"], "c").unwrap().1;
        let spki = subject_public_key_info(&der).unwrap();
        assert_eq!(RsaPublicKey::from_public_key_der(spki).unwrap(), RsaPublicKey::from(&certificate().key));
        for length in 0..der.len() {
            assert!(subject_public_key_info(&der[..length]).is_none(), "truncated at {length}");
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(subject_public_key_info(&trailing).is_none());
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let text = format!("{:?}", certificate());
        assert!(text.contains(TEST_ONLY_CERTIFICATE_X5T_S256) && !text.contains("PRIVATE"));
    }

    #[test]
    fn guids_are_version_4() {
        assert_eq!(guid([0xff; 16]), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(guid([0; 16]), "00000000-0000-4000-8000-000000000000");
    }
}
