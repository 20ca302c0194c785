// The figures of a list of call durations (µs), computed as `connector-host invoke --repeat`
// computes them (host/src/cli/repeat.rs): the median of an even count is the mean of the two
// middle calls, p90 and p99 are nearest-rank.

/** @param {number[]} durations microseconds, at least one */
export function summary(durations) {
  const sorted = [...durations].sort((a, b) => a - b);
  const count = sorted.length;
  const nearestRank = (fraction) => sorted[Math.min(count, Math.max(1, Math.ceil(fraction * count))) - 1];
  const median = count % 2 === 1 ? sorted[(count - 1) / 2] : (sorted[count / 2 - 1] + sorted[count / 2]) / 2;
  const tenth = (us) => Math.round(us * 10) / 10;
  return {
    mean_us: tenth(sorted.reduce((total, us) => total + us, 0) / count),
    median_us: tenth(median),
    p90_us: tenth(nearestRank(0.9)),
    p99_us: tenth(nearestRank(0.99)),
    min_us: tenth(sorted[0]),
  };
}
