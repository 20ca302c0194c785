//! `--peers`: other Graph clients, each a subprocess timed against the same local server as
//! the connector, printed as rows of the same table.
//!
//! Each peer (`host/benches/peers/`) is a program with one command line, `--client C --base URL
//! --op users.get|users.list --user-id ID --token T --ca FILE --calls N --warmup W`, that makes
//! one untimed first call, W untimed warm-up calls and N timed calls on one reused client, and
//! prints as its last stdout line one JSON object with its figures (`first_us`, `min_us`,
//! `median_us`, `p90_us`, `p99_us`, in µs), and on stderr a line `protocol: HTTP/…` naming the
//! protocol its first response came over, which the row's label shows (the h2 server offers
//! HTTP/1.1 too, and not every peer asks for h2). The server's accepted connections are counted
//! across the subprocess's whole run, start-up included.
//!
//! `host/benches/peers/run.sh` builds the Rust peer and the Python venv, then runs the bench
//! with `--peers`; where one is missing, the bench says so once and goes on without it.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One client the bench can run.
pub struct Peer {
    /// The table's label, with the client's version.
    label: String,
    /// The program and the arguments that pick the client.
    program: PathBuf,
    arguments: Vec<String>,
    /// The `peer` its JSON line must name.
    name: &'static str,
}

/// The peers found, and one line for each that was not.
pub struct Peers {
    pub available: Vec<Peer>,
    pub missing: Vec<String>,
}

/// Where `run.sh` leaves the peers: the Rust binary under `$CARGO_TARGET_DIR/peers` (else the
/// workspace's `target/peers`), the Python venv in `host/benches/peers/python/.venv`. The
/// variables `LIVE_PEER_RUST` and `LIVE_PEER_PYTHON` name other places.
pub fn discover() -> Peers {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let peers = manifest.join("benches").join("peers");
    let workspace = manifest.parent().map(Path::to_path_buf).unwrap_or_else(|| manifest.clone());
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
    let rust = std::env::var_os("LIVE_PEER_RUST")
        .map_or_else(|| target.join("peers").join("release").join("peer"), PathBuf::from);
    let python = std::env::var_os("LIVE_PEER_PYTHON")
        .map_or_else(|| peers.join("python").join(".venv").join("bin").join("python"), PathBuf::from);
    let script = peers.join("python").join("peer.py");

    let mut found = Peers { available: Vec::new(), missing: Vec::new() };
    if rust.is_file() {
        let lock = std::fs::read_to_string(peers.join("rust").join("Cargo.lock")).unwrap_or_default();
        // Each on tokio's multi-thread runtime (`#[tokio::main]`'s, as their users run them)
        // and on its current-thread runtime (the one the connector's rows run on).
        for (name, label) in [
            ("graph-rs-sdk", format!("graph-rs-sdk {}", locked(&lock, "graph-rs-sdk"))),
            ("reqwest", format!("raw reqwest {} + serde_json", locked(&lock, "reqwest"))),
        ] {
            for (runtime, short) in [("multi-thread", "mt"), ("current-thread", "ct")] {
                found.available.push(Peer {
                    label: format!("{label} ({short})"),
                    program: rust.clone(),
                    arguments: vec!["--client".into(), name.into(), "--runtime".into(), runtime.into()],
                    name,
                });
            }
        }
    } else {
        found.missing.push(format!(
            "graph-rs-sdk and raw reqwest peers: no binary at {}; build it with host/benches/peers/run.sh \
             (or cargo build --release --manifest-path host/benches/peers/rust/Cargo.toml)",
            rust.display()
        ));
    }
    if python.is_file() {
        let requirements = std::fs::read_to_string(peers.join("python").join("requirements.txt")).unwrap_or_default();
        for (name, label) in [
            ("httpx", format!("Python httpx {}, raw", pinned(&requirements, "httpx"))),
            ("msgraph-sdk", format!("Python msgraph-sdk {}", pinned(&requirements, "msgraph-sdk"))),
        ] {
            found.available.push(Peer {
                label,
                program: python.clone(),
                arguments: vec![script.display().to_string(), "--client".into(), name.into()],
                name,
            });
        }
    } else {
        found.missing.push(format!(
            "Python httpx and msgraph-sdk peers: no venv at {}; make it with host/benches/peers/run.sh \
             (or python3 -m venv host/benches/peers/python/.venv and its pip install --require-hashes \
             -r host/benches/peers/python/requirements.txt)",
            python.display()
        ));
    }
    found
}

/// The version of `name` in a Cargo.lock, or `?`.
fn locked(lock: &str, name: &str) -> String {
    // The closing quote keeps `reqwest` from matching `reqwest-middleware`.
    let package = format!("name = \"{name}\"");
    lock.split("[[package]]")
        .find(|entry| entry.trim_start().starts_with(&package))
        .and_then(|entry| entry.lines().find_map(|line| line.strip_prefix("version = \"")))
        .map_or_else(|| "?".to_string(), |version| version.trim_end_matches('"').to_string())
}

/// The version pinned for `name` (with or without extras) in a requirements file, or `?`.
fn pinned(requirements: &str, name: &str) -> String {
    requirements
        .lines()
        .find_map(|line| {
            let (package, version) = line.split_once("==")?;
            let package = package.split('[').next()?.trim();
            package.eq_ignore_ascii_case(name).then(|| version.trim_end_matches(['\\', ' ']).trim().to_string())
        })
        .unwrap_or_else(|| "?".to_string())
}

/// What one run of a peer asks of it.
pub struct Call<'a> {
    pub base: &'a str,
    pub op: &'a str,
    pub user_id: &'a str,
    pub token: &'a str,
    pub ca: &'a Path,
    pub calls: usize,
    pub warmup: usize,
}

impl Peer {
    /// Runs the peer once and prints its row: its label and protocol, the figures of its JSON
    /// line, its median over `floor_median`, and the connections `accepted` grew by while it
    /// ran. A peer that fails gets a row saying why, not a failed bench.
    pub fn run_and_print(&self, call: &Call<'_>, floor_median: f64, accepted: impl Fn() -> usize) {
        let before = accepted();
        let outcome = self.run(call);
        let connections = accepted() - before;
        match outcome {
            Ok((protocol, figures)) => println!(
                "{:<44} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8.2} {:>6}",
                format!("{}, {protocol}", self.label),
                figures[0],
                figures[1],
                figures[2],
                figures[3],
                figures[4],
                figures[2] / floor_median,
                connections
            ),
            Err(reason) => println!("{:<44} failed: {reason}", self.label),
        }
    }

    /// The protocol, and the first, min, median, p90 and p99 times of one run, in µs.
    fn run(&self, call: &Call<'_>) -> Result<(String, [f64; 5]), String> {
        let output = Command::new(&self.program)
            .args(&self.arguments)
            .args(["--base", call.base, "--op", call.op, "--user-id", call.user_id, "--token", call.token])
            .arg("--ca")
            .arg(call.ca)
            .args(["--calls", &call.calls.to_string(), "--warmup", &call.warmup.to_string()])
            .output()
            .map_err(|error| format!("{} did not start: {error}", self.program.display()))?;
        let last_line = |bytes: &[u8]| {
            String::from_utf8_lossy(bytes).lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("").to_string()
        };
        if !output.status.success() {
            let said = last_line(&output.stderr);
            return Err(if said.is_empty() {
                output.status.to_string()
            } else {
                format!("{said} ({})", output.status)
            });
        }
        let line = last_line(&output.stdout);
        let figures: Value =
            serde_json::from_str(&line).map_err(|error| format!("its last line is not JSON ({error}): {line:?}"))?;
        if figures["peer"] != self.name || figures["op"] != call.op || figures["n"] != call.calls {
            return Err(format!("its figures are for another run: {line}"));
        }
        let mut values = [0.0; 5];
        for (value, key) in values.iter_mut().zip(["first_us", "min_us", "median_us", "p90_us", "p99_us"]) {
            *value = figures[key].as_f64().ok_or_else(|| format!("no {key} in {line}"))?;
        }
        let protocol = String::from_utf8_lossy(&output.stderr)
            .lines()
            .find_map(|line| line.strip_prefix("protocol: "))
            .map_or_else(|| "protocol?".to_string(), |protocol| protocol.trim().replace("HTTP/2.0", "HTTP/2"));
        Ok((protocol, values))
    }
}
