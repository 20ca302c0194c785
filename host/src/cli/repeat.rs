//! `connector-host invoke --repeat N --warmup W`: one process, one instance, W untimed and then
//! N timed invocations of the same action, and the latency of the N timed ones.
//!
//! Printed on stdout: a line with the call count and the loop's duration, a line with min,
//! median, p90, p99 and mean, and as the last line one JSON object for scripts comparing
//! clients: `{"peer": "ours", "op": ACTION, "n": N, "warmup": W, "loop_s": ..., "mean_us":
//! ..., "median_us": ..., "p90_us": ..., "p99_us": ..., "min_us": ...}`. A progress bar goes
//! to stderr while the calls run, only when stderr is a terminal.

use super::{prepare_invocation, ComponentArgs, LiveArgs, NetworkArgs, Prepared};
use clap::Args;
use connector_host::sandbox::clock::TimeSource;
use connector_host::sandbox::runtime::InvokeOptions;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Repeated invocations of one action, timed.
#[derive(Args)]
pub struct RepeatArgs {
    /// Invoke the action N times on one instance (after the warm-up calls) and print the
    /// latency of those N calls instead of the output: min, median, p90, p99 and, as the
    /// last line, one JSON object.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub repeat: Option<u64>,
    /// With --repeat: how many untimed calls come first.
    #[arg(long, value_name = "W", default_value_t = 0, requires = "repeat")]
    pub warmup: u64,
}

/// The latency of the timed calls, in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The fastest call.
    pub min_us: f64,
    /// The middle call (the mean of the two middle ones for an even count).
    pub median_us: f64,
    /// The 90th percentile (nearest rank).
    pub p90_us: f64,
    /// The 99th percentile (nearest rank).
    pub p99_us: f64,
    /// The mean.
    pub mean_us: f64,
}

impl Summary {
    /// The summary of at least one call's duration.
    pub fn of(durations: &[Duration]) -> Self {
        let mut micros: Vec<f64> = durations.iter().map(|duration| duration.as_secs_f64() * 1e6).collect();
        micros.sort_by(f64::total_cmp);
        let count = micros.len().max(1);
        let nearest_rank = |fraction: f64| {
            let rank = (fraction * count as f64).ceil() as usize;
            micros.get(rank.clamp(1, count) - 1).copied().unwrap_or(0.0)
        };
        let median = match micros.len() {
            0 => 0.0,
            n if n % 2 == 1 => micros[n / 2],
            n => (micros[n / 2 - 1] + micros[n / 2]) / 2.0,
        };
        Self {
            min_us: micros.first().copied().unwrap_or(0.0),
            median_us: median,
            p90_us: nearest_rank(0.90),
            p99_us: nearest_rank(0.99),
            mean_us: micros.iter().sum::<f64>() / count as f64,
        }
    }
}

/// Rounds to a tenth of a microsecond for printing.
fn tenth(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// The JSON object of the last stdout line.
pub fn json_line(action: &str, count: u64, warmup: u64, loop_time: Duration, summary: &Summary) -> serde_json::Value {
    serde_json::json!({
        "peer": "ours",
        "op": action,
        "n": count,
        "warmup": warmup,
        "loop_s": (loop_time.as_secs_f64() * 1e6).round() / 1e6,
        "mean_us": tenth(summary.mean_us),
        "median_us": tenth(summary.median_us),
        "p90_us": tenth(summary.p90_us),
        "p99_us": tenth(summary.p99_us),
        "min_us": tenth(summary.min_us),
    })
}

/// `invoke` with `--repeat`: connects one instance, runs the warm-up and timed calls, prints
/// the summary. A call that fails stops the run with its typed error on stderr (exit code 1).
#[allow(clippy::too_many_arguments)]
pub fn invoke_repeated(
    component: &ComponentArgs,
    network: &NetworkArgs,
    live: &LiveArgs,
    config: &str,
    action: &str,
    input: &str,
    options: InvokeOptions,
    repeat: &RepeatArgs,
) -> anyhow::Result<ExitCode> {
    let count = repeat.repeat.unwrap_or(1);
    let Prepared { runtime, outbound, config, input } =
        prepare_invocation(component, network, live, config, input, &options)?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(repeat.warmup + count), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} {elapsed}") {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let outcome = super::one_thread_runtime()?.block_on(async {
        let mut instance = runtime.instantiate(outbound, TimeSource::Real).await?;
        if let Err(error) = instance.connect(&config).await? {
            return Ok(Err(error));
        }
        bar.set_message("warm-up");
        for _ in 0..repeat.warmup {
            if let Err(error) = instance.invoke_with(action, &input, options).await? {
                return Ok(Err(error));
            }
            bar.inc(1);
        }
        bar.set_message(action.to_string());
        let mut durations = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        let started = Instant::now();
        for _ in 0..count {
            let call = Instant::now();
            let result = instance.invoke_with(action, &input, options).await?;
            durations.push(call.elapsed());
            if let Err(error) = result {
                return Ok(Err(error));
            }
            bar.inc(1);
        }
        Ok::<_, connector_host::HostError>(Ok((durations, started.elapsed())))
    });
    bar.finish_and_clear();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => match error.as_connector_error() {
            Some(typed) => Err(typed),
            None => return Err(error.into()),
        },
    };
    let (durations, loop_time) = match outcome {
        Ok(timed) => timed,
        Err(error) => {
            eprintln!("{}", serde_json::to_string_pretty(&error.to_json())?);
            return Ok(ExitCode::FAILURE);
        }
    };
    let summary = Summary::of(&durations);
    super::emit(&format!(
        "{action}: {count} calls after {} warm-up, one instance, in {:.3} s\n\
         min {:.1} µs  median {:.1} µs  p90 {:.1} µs  p99 {:.1} µs  mean {:.1} µs\n{}\n",
        repeat.warmup,
        loop_time.as_secs_f64(),
        summary.min_us,
        summary.median_us,
        summary.p90_us,
        summary.p99_us,
        summary.mean_us,
        json_line(action, count, repeat.warmup, loop_time, &summary),
    ));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_takes_nearest_rank_percentiles_and_the_middle_median() {
        let durations: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let summary = Summary::of(&durations);
        assert_eq!(summary.min_us, 1.0);
        assert_eq!(summary.median_us, 50.5);
        assert_eq!(summary.p90_us, 90.0);
        assert_eq!(summary.p99_us, 99.0);
        assert_eq!(summary.mean_us, 50.5);
        let odd = Summary::of(&[Duration::from_micros(30), Duration::from_micros(10), Duration::from_micros(20)]);
        assert_eq!((odd.median_us, odd.p90_us, odd.p99_us), (20.0, 30.0, 30.0));
    }

    #[test]
    fn the_json_line_names_every_figure() {
        let summary = Summary::of(&[Duration::from_nanos(1_234_560)]);
        let line = json_line("users.get", 1, 2, Duration::from_millis(1500), &summary);
        assert_eq!(
            line,
            serde_json::json!({"peer": "ours", "op": "users.get", "n": 1, "warmup": 2, "loop_s": 1.5,
                "mean_us": 1234.6, "median_us": 1234.6, "p90_us": 1234.6, "p99_us": 1234.6, "min_us": 1234.6})
        );
    }
}
