//! `replay --chaos`: faults injected in front of the fixtures' responses are ridden out by
//! the Graph connector, deterministically, and a retry that differs from the original
//! request fails the fixture.

use crate::hostile_component::hostile_runtime;
use crate::support::{runtime, workspace};
use connector_host::replay::chaos::{ChaosOptions, ChaosTally};
use connector_host::replay::fixture::Fixture;
use connector_host::replay::report::{render_outcome, ReplayReport};
use connector_host::replay::{paused_runtime, replay_fixture_tallied, replay_paths_tallied, ReplayOptions};

fn chaos(seed: u64, fault_rate: f64) -> ReplayOptions {
    ReplayOptions { chaos: Some(ChaosOptions::new(seed, fault_rate).unwrap()), ..ReplayOptions::default() }
}

fn chaos_run(seed: u64) -> (ReplayReport, ChaosTally) {
    let folders = ["groups", "scenarios", "devices"].map(|folder| workspace().join("fixtures").join(folder));
    replay_paths_tallied(runtime(), &folders, &chaos(seed, 0.5))
}

#[test]
fn a_chaos_run_over_a_few_fixtures_passes_and_injects_faults() {
    let (report, tally) = chaos_run(11);
    assert!(report.success(), "\n{}", report.render());
    assert!(tally.faults_injected() > 0, "{tally:?}");
    assert!(tally.faults.len() > 3, "several kinds of fault: {tally:?}");
    assert_eq!(tally.retries, tally.faults_injected(), "every fault was followed by a retry");
    assert_eq!(tally.differing_retries, 0);
    assert!(!tally.waited.is_zero());
}

#[test]
fn the_same_seed_injects_the_same_faults() {
    let folder = [workspace().join("fixtures").join("groups")];
    let first = replay_paths_tallied(runtime(), &folder, &chaos(5, 0.3)).1;
    let again = replay_paths_tallied(runtime(), &folder, &chaos(5, 0.3)).1;
    let other = replay_paths_tallied(runtime(), &folder, &chaos(6, 0.3)).1;
    // The connector's backoff has random jitter, so only the waits may differ.
    assert_eq!((&first.faults, first.retries), (&again.faults, again.retries));
    assert_ne!(first.faults, other.faults);
}

#[test]
fn a_retry_that_differs_from_the_original_request_fails_the_fixture() {
    let fixture = Fixture::parse(
        r#"{"name":"retry elsewhere","connection":{},"steps":[{"action":"retry-elsewhere","input":{},
            "exchanges":[{"request":{"method":"GET","url":"https://api.test/first"},"response":{"status":200}}],
            "expect":{"output":{"status":200}}}]}"#,
    )
    .unwrap();
    let (plain, _) = paused_runtime().unwrap().block_on(replay_fixture_tallied(
        hostile_runtime(),
        &fixture,
        &ReplayOptions::default(),
    ));
    assert!(plain.passed(), "{}", render_outcome(&plain));

    let (outcome, tally) =
        paused_runtime().unwrap().block_on(replay_fixture_tallied(hostile_runtime(), &fixture, &chaos(1, 1.0)));
    let text = render_outcome(&outcome);
    assert!(!outcome.passed());
    assert_eq!((tally.faults_injected(), tally.retries, tally.differing_retries), (1, 1, 1), "{text}");
    assert!(text.contains("the retry differs from the request the fault answered"), "{text}");
    assert!(text.contains("url path: expected /first, found /second"), "{text}");
}

#[test]
fn the_cli_prints_the_chaos_figures() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args(["replay", "--chaos", "3", "--fault-rate", "0.3"])
        .arg(workspace().join("fixtures").join("devices"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("chaos: seed 3, fault rate 0.3\n  faults injected: "), "{stdout}");
    assert!(stdout.contains("retries seen: "), "{stdout}");
    assert!(stdout.contains("virtual time waited after faults: "), "{stdout}");

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args(["replay", "--chaos", "3", "--fault-rate", "1.5", "fixtures"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("fault rate must be a number from 0 to 1"));
}
