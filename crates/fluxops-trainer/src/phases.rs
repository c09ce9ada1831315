//! The phases of a run, each tracked once: announced to the progress display, traced in its
//! telemetry span with its duration metric, and timed for `metrics.json`, all under the one name
//! [`TrainerPhase`] gives it.

use std::time::{Duration, Instant};

use fluxops_telemetry::{Metrics, TrainerPhase};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// Progress callbacks, so the binary can draw a bar without the library knowing about terminals.
pub trait Progress: Sync {
    /// A phase started.
    fn phase(&self, phase: TrainerPhase);
    /// One shard of `n_shards` finished fitting.
    fn shard_fitted(&self, n_shards: usize);
}

/// Progress that reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn phase(&self, _phase: TrainerPhase) {}
    fn shard_fitted(&self, _n_shards: usize) {}
}

/// Runs the phases of one training run: [`Phases::run`] announces a phase to the progress
/// display, holds its telemetry span (which records its duration metric) and times it.
///
/// The binary runs its own phases (loading, writing, publishing) through the same value it
/// hands to [`crate::train`], so every phase is tracked the same way.
///
/// ```
/// use fluxops_telemetry::TrainerPhase;
/// use fluxops_trainer::Phases;
///
/// let mut phases = Phases::default();
/// let rows = phases.run(TrainerPhase::Load, || 1000);
/// assert_eq!(rows, 1000);
/// assert!(phases.timings().get(TrainerPhase::Load).is_some());
/// assert!(phases.timings().get(TrainerPhase::Fit).is_none());
/// ```
pub struct Phases<'a> {
    progress: &'a dyn Progress,
    metrics: Metrics,
    timings: PhaseTimings,
}

impl<'a> Phases<'a> {
    /// Phases shown on `progress` and recorded in `metrics` (a no-op [`Metrics::default`] when
    /// telemetry is off).
    pub fn new(progress: &'a dyn Progress, metrics: &Metrics) -> Self {
        Phases {
            progress,
            metrics: metrics.clone(),
            timings: PhaseTimings::default(),
        }
    }

    /// Runs `work` as `phase`: announced, inside the phase's span, and timed. A phase that fails
    /// is timed too.
    pub fn run<T>(&mut self, phase: TrainerPhase, work: impl FnOnce() -> T) -> T {
        tracing::debug!(phase = phase.name(), "trainer phase started");
        self.progress.phase(phase);
        let span = self.metrics.trainer_phase(phase);
        let started = Instant::now();
        let output = work();
        self.timings.record(phase, started.elapsed());
        drop(span);
        output
    }

    /// The progress display, for work inside a phase that reports finer steps.
    pub(crate) fn progress(&self) -> &'a dyn Progress {
        self.progress
    }

    /// The telemetry instruments.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// How long each phase run so far took.
    pub fn timings(&self) -> &PhaseTimings {
        &self.timings
    }
}

/// Phases shown nowhere and recorded nowhere: for library callers and tests.
impl Default for Phases<'static> {
    fn default() -> Self {
        Phases::new(&Silent, &Metrics::default())
    }
}

impl std::fmt::Debug for Phases<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Phases")
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

/// Wall-clock time of each phase run, in run order. Serialised as a map from the phase's name to
/// whole milliseconds, such as `{"load": 3, "split": 0, "fit": 41, ...}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseTimings {
    entries: Vec<(TrainerPhase, Duration)>,
}

impl PhaseTimings {
    /// How long `phase` took, if it ran (the total, if it ran more than once).
    pub fn get(&self, phase: TrainerPhase) -> Option<Duration> {
        self.entries
            .iter()
            .filter(|(ran, _)| *ran == phase)
            .map(|(_, took)| *took)
            .reduce(|total, took| total + took)
    }

    fn record(&mut self, phase: TrainerPhase, took: Duration) {
        match self.entries.iter_mut().find(|(ran, _)| *ran == phase) {
            Some((_, total)) => *total += took,
            None => self.entries.push((phase, took)),
        }
    }
}

impl Serialize for PhaseTimings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (phase, took) in &self.entries {
            map.serialize_entry(phase.name(), &took.as_millis())?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Remembers the phases it was told about.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<TrainerPhase>>);

    impl Progress for Recorded {
        fn phase(&self, phase: TrainerPhase) {
            self.0.lock().unwrap().push(phase);
        }
        fn shard_fitted(&self, _n_shards: usize) {}
    }

    #[test]
    fn each_phase_is_announced_timed_and_serialised_under_its_name() {
        let progress = Recorded::default();
        let mut phases = Phases::new(&progress, &Metrics::default());
        phases.run(TrainerPhase::Load, || {
            std::thread::sleep(Duration::from_millis(2))
        });
        let failed: Result<(), &str> = phases.run(TrainerPhase::Split, || Err("too few rows"));
        assert!(failed.is_err());
        assert_eq!(
            *progress.0.lock().unwrap(),
            vec![TrainerPhase::Load, TrainerPhase::Split]
        );
        assert!(phases.timings().get(TrainerPhase::Load).unwrap() >= Duration::from_millis(2));
        assert!(phases.timings().get(TrainerPhase::Split).is_some());
        let json = serde_json::to_value(phases.timings()).unwrap();
        let names: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(names, ["load", "split"]);
        assert!(json["load"].as_u64().unwrap() >= 2);
    }
}
