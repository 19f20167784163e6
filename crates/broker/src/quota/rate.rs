//! A sampled rate, as Kafka's `Rate` over a `WindowedSum` (`SampledStat`):
//! `samples` windows of `window_ms` each; a value is added to the current
//! window, a new window starts once the current one is `window_ms` old, and
//! windows without an event for `samples * window_ms` are reset. The rate is
//! the sum over the kept windows divided by the elapsed span, counted as at
//! least `samples - 1` full windows so a new client's first burst is not
//! measured over a few milliseconds. Time is passed in (ms), never read.
//! Not thread-safe by itself: the quota manager keeps each behind a mutex.

/// `quota.window.num` and `quota.window.size.seconds`, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateConfig {
    pub samples: usize,
    pub window_ms: i64,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    value: f64,
    event_count: u64,
    start_ms: i64,
    last_event_ms: i64,
}

impl Sample {
    fn new(now_ms: i64) -> Sample {
        Sample { value: 0.0, event_count: 0, start_ms: now_ms, last_event_ms: now_ms }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SampledRate {
    /// At most `samples + 1`: one extra for a window overlapping the span's start.
    samples: Vec<Sample>,
    current: usize,
}

impl SampledRate {
    pub fn new() -> SampledRate {
        SampledRate::default()
    }

    /// Adds `value` (bytes, or percent-seconds of handler time) at `now_ms`.
    pub fn record(&mut self, config: RateConfig, value: f64, now_ms: i64) {
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now_ms));
        }
        if now_ms - self.samples[self.current].start_ms >= config.window_ms {
            self.current = (self.current + 1) % (config.samples + 1);
            if self.current >= self.samples.len() {
                self.samples.push(Sample::new(now_ms));
            } else {
                self.samples[self.current] = Sample::new(now_ms);
            }
        }
        let sample = &mut self.samples[self.current];
        sample.value += value;
        sample.event_count += 1;
        sample.last_event_ms = now_ms;
    }

    /// Resets windows that saw no event within the monitored span.
    fn purge(&mut self, config: RateConfig, now_ms: i64) {
        let expire_ms = config.samples as i64 * config.window_ms;
        for s in &mut self.samples {
            if now_ms - s.last_event_ms >= expire_ms {
                *s = Sample::new(now_ms);
            }
        }
    }

    /// The span the rate is measured over, in ms (Kafka's `Rate.windowSize`).
    pub fn window_size_ms(&mut self, config: RateConfig, now_ms: i64) -> i64 {
        self.purge(config, now_ms);
        let oldest = self.samples.iter().map(|s| s.start_ms).min().unwrap_or(now_ms);
        let mut elapsed = now_ms - oldest;
        let full_windows = elapsed / config.window_ms;
        let min_full_windows = config.samples as i64 - 1;
        if full_windows < min_full_windows {
            elapsed += (min_full_windows - full_windows) * config.window_ms;
        }
        elapsed.max(1)
    }

    /// The rate per second at `now_ms`.
    pub fn measure(&mut self, config: RateConfig, now_ms: i64) -> f64 {
        let span_ms = self.window_size_ms(config, now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (span_ms as f64 / 1000.0)
    }
}

/// How long a client over its quota must wait so that its rate, measured
/// over `span_ms`, comes back to `bound` if it sends nothing more: with
/// observed rate O and quota T over span W, O·W / (W + X) = T gives
/// X = (O − T) / T · W (Kafka's `QuotaUtils.throttleTime`), in ms, rounded.
pub fn throttle_time_ms(observed: f64, bound: f64, span_ms: i64) -> i64 {
    if observed <= bound || bound <= 0.0 {
        return 0;
    }
    ((observed - bound) / bound * span_ms as f64).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: RateConfig = RateConfig { samples: 11, window_ms: 1000 };

    #[test]
    fn a_new_rate_is_measured_over_at_least_samples_minus_one_windows() {
        let mut r = SampledRate::new();
        r.record(CONFIG, 10_000.0, 0);
        // 10 000 bytes at t=0, span counted as 10 windows = 10 s.
        assert_eq!(r.window_size_ms(CONFIG, 0), 10_000);
        assert!((r.measure(CONFIG, 0) - 1_000.0).abs() < 1e-9);
        // 500 ms later: elapsed 500, still short of 10 full windows.
        assert_eq!(r.window_size_ms(CONFIG, 500), 10_500);
    }

    #[test]
    fn windows_roll_and_expire() {
        let mut r = SampledRate::new();
        // One value per second for 20 s: only the last samples+1 windows are kept.
        for t in 0..20 {
            r.record(CONFIG, 1_000.0, t * 1000);
        }
        // 12 windows kept (11 + the overlap, 8 s..19 s); at 19.5 s the one of 8 s
        // is past the monitored 11 s and resets: 9 s..19 s remain, a 10.5 s span.
        assert_eq!(r.window_size_ms(CONFIG, 19_500), 10_500);
        assert!((r.measure(CONFIG, 19_500) - 11_000.0 / 10.5).abs() < 1e-6);
        // Silent for a full span: every window resets, the rate is 0.
        assert_eq!(r.measure(CONFIG, 19_000 + 11_000), 0.0);
    }

    #[test]
    fn negative_values_unrecord() {
        let mut r = SampledRate::new();
        r.record(CONFIG, 5_000.0, 100);
        r.record(CONFIG, -5_000.0, 200);
        assert_eq!(r.measure(CONFIG, 300), 0.0);
    }

    #[test]
    fn throttle_brings_the_rate_back_to_the_quota() {
        // Kafka's example: 2x the quota over 10 s waits 10 s more.
        assert_eq!(throttle_time_ms(2_000.0, 1_000.0, 10_000), 10_000);
        assert_eq!(throttle_time_ms(1_000.0, 1_000.0, 10_000), 0);
        assert_eq!(throttle_time_ms(900.0, 1_000.0, 10_000), 0);
        assert_eq!(throttle_time_ms(1_100.0, 1_000.0, 11_000), 1_100);
        // Check the identity O·W / (W + X) = T on a measured rate.
        let mut r = SampledRate::new();
        for t in 0..30 {
            r.record(CONFIG, 3_000.0, t * 500);
        }
        let now = 14_700;
        let (observed, span) = (r.measure(CONFIG, now), r.window_size_ms(CONFIG, now));
        let x = throttle_time_ms(observed, 4_000.0, span);
        let after = observed * span as f64 / (span + x) as f64;
        assert!((after - 4_000.0).abs() < 1.0, "{observed} {span} {x} {after}");
    }
}
