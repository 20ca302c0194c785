//! `connector-host record`: a live run kept as a fixture, then replayed.

use crate::{json_argument, one_thread_runtime, ComponentArgs, JsonSource, LiveArgs, NetworkArgs};
use anyhow::{bail, Context as _};
use clap::{ArgGroup, Args};
use connector_host::record::scrub::ScrubOptions;
use connector_host::record::{build_fixture, record_scenario, ScenarioFile};
use connector_host::replay::report::render_outcome;
use connector_host::replay::{replay_file, ReplayOptions};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// What `record` runs and how it scrubs.
#[derive(Args)]
#[command(group(ArgGroup::new("what").required(true).args(["scenario", "action"])))]
pub struct RecordArgs {
    /// Connection settings: a JSON file (or inline JSON text).
    #[arg(long, value_name = "FILE")]
    config: String,
    /// The fixture file to write.
    #[arg(long, value_name = "FIXTURE.json")]
    out: PathBuf,
    /// The steps to run: a fixture without exchanges and expectations (name, steps with
    /// action and input).
    #[arg(long, value_name = "STEPS.json")]
    scenario: Option<PathBuf>,
    /// Record one action instead of a scenario.
    #[arg(long, value_name = "ID")]
    action: Option<String>,
    /// With --action: its input, JSON text or `@FILE`.
    #[arg(long, value_name = "JSON|@FILE", default_value = "{}", requires = "action")]
    input: String,
    /// With --action: the fixture's name (default: `<action> (recorded)`).
    #[arg(long, value_name = "TEXT", requires = "action")]
    name: Option<String>,
    /// Replace every e-mail address with `user<n>@...` (the same address always with the
    /// same n).
    #[arg(long)]
    scrub_email: bool,
    /// Replace what REGEX matches with REPLACEMENT (repeatable, applied in order before the
    /// default rules); `{n}` in REPLACEMENT numbers the distinct values matched.
    #[arg(long = "scrub", value_name = "REGEX=REPLACEMENT")]
    scrub: Vec<String>,
    /// A domain of the tenant besides the one `tenantId` may name and its initial
    /// `*.onmicrosoft.com` domain (repeatable); each becomes `contoso.onmicrosoft.com`
    /// (then `contoso2...`).
    #[arg(long = "tenant-domain", value_name = "DOMAIN")]
    tenant_domains: Vec<String>,
    /// Overwrite FIXTURE.json if it exists.
    #[arg(long)]
    force: bool,
}

/// Runs the scenario live, writes the fixture, replays it, and reports.
pub fn record(
    component: &ComponentArgs,
    network: &NetworkArgs,
    live: &LiveArgs,
    args: &RecordArgs,
) -> anyhow::Result<ExitCode> {
    if args.out.exists() && !args.force {
        bail!("{} exists; pass --force to overwrite it", args.out.display());
    }
    let config = json_argument(&args.config, JsonSource::FileUnlessInline)
        .context("reading the connection settings (--config)")?;
    let scenario = match (&args.scenario, &args.action) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            ScenarioFile::parse(&text).with_context(|| format!("reading {}", path.display()))?
        }
        (None, Some(action)) => {
            let input =
                json_argument(&args.input, JsonSource::InlineUnlessAt).context("reading the action input (--input)")?;
            let name = args.name.clone().unwrap_or_else(|| format!("{action} (recorded)"));
            ScenarioFile::single(&name, action, serde_json::from_str(&input)?)
        }
        (None, None) => bail!("give --scenario STEPS.json or --action ID"),
    };
    let runtime = component.runtime(None)?;
    let allowed = network.allowed_hosts()?;
    let live_http = live.live_http()?;
    let steps =
        one_thread_runtime()?.block_on(record_scenario(&runtime, &scenario, &config, allowed.clone(), live_http))?;
    let scrub = ScrubOptions {
        rules: args.scrub.clone(),
        emails: args.scrub_email,
        tenant: None,
        tenant_domains: args.tenant_domains.clone(),
    };
    let built = build_fixture(&scenario, &serde_json::from_str(&config)?, &steps, &scrub)?;
    let text = format!("{}\n", serde_json::to_string_pretty(&built.fixture)?);
    let mut file = std::fs::OpenOptions::new();
    file.write(true);
    if args.force {
        file.create(true).truncate(true);
    } else {
        // Created only if absent, so a file that appeared during the run is not replaced.
        file.create_new(true);
    }
    file.open(&args.out)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", args.out.display()))?;
    let exchanges: usize = steps.iter().map(|step| step.exchanges.len()).sum();
    crate::emit(&format!("recorded {} step(s), {exchanges} exchange(s) to {}\n", steps.len(), args.out.display()));
    for note in &built.notes {
        eprintln!("note: {note}");
    }

    let outcome = replay_file(&runtime, &args.out, &ReplayOptions { allowed_hosts: allowed, chaos: None });
    crate::emit(&render_outcome(&outcome));
    if outcome.passed() {
        crate::emit("the fixture replays\n");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("the recorded fixture does not replay (see above); do not commit it as it is");
        Ok(ExitCode::FAILURE)
    }
}
