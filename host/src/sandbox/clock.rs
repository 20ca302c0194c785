//! Clocks given to a component: the real ones for live calls, and clocks derived from
//! tokio's [`Instant`] for replay, where time is paused and jumps ahead whenever the
//! component waits, so a `Retry-After: 30` costs nothing but still looks like 30 s to it.

use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Which clocks an instance sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeSource {
    /// The host's real clocks.
    #[default]
    Real,
    /// Clocks that follow tokio's (possibly paused) time; used by replay.
    Virtual,
}

/// A monotonic clock reading tokio's time, starting at zero when created.
#[derive(Debug, Clone, Copy)]
pub struct VirtualMonotonicClock {
    start: Instant,
}

impl VirtualMonotonicClock {
    /// A clock whose zero is tokio's current instant.
    pub fn new() -> Self {
        Self { start: Instant::now() }
    }
}

impl Default for VirtualMonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl HostMonotonicClock for VirtualMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A wall clock that starts at the real time of its creation and then advances with
/// tokio's time, so dates look plausible while waits stay virtual.
#[derive(Debug, Clone, Copy)]
pub struct VirtualWallClock {
    start: Instant,
    since_unix_epoch_at_start: Duration,
}

impl VirtualWallClock {
    /// A clock reading the real time now, advancing with tokio's time from here on.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            since_unix_epoch_at_start: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default(),
        }
    }
}

impl Default for VirtualWallClock {
    fn default() -> Self {
        Self::new()
    }
}

impl HostWallClock for VirtualWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.since_unix_epoch_at_start + self.start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn virtual_clocks_jump_with_paused_tokio_time() {
        let monotonic = VirtualMonotonicClock::new();
        let wall = VirtualWallClock::new();
        let wall_before = wall.now();
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(monotonic.now(), Duration::from_secs(120).as_nanos() as u64);
        assert_eq!(wall.now() - wall_before, Duration::from_secs(120));
    }
}
