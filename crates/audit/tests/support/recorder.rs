//! A metrics recorder for the tests: keeps the last value of every counter
//! and gauge, keyed `name{label=value,...}`, so a test can read what the
//! device recorded through the `metrics` facade.

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString,
    Unit,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

type Values = Arc<Mutex<HashMap<String, f64>>>;

struct Cell {
    key: String,
    values: Values,
}

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        *self
            .values
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += value as f64;
    }
    fn absolute(&self, value: u64) {
        self.values
            .lock()
            .unwrap()
            .insert(self.key.clone(), value as f64);
    }
}

impl GaugeFn for Cell {
    fn increment(&self, value: f64) {
        *self
            .values
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += value;
    }
    fn decrement(&self, value: f64) {
        *self
            .values
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() -= value;
    }
    fn set(&self, value: f64) {
        self.values.lock().unwrap().insert(self.key.clone(), value);
    }
}

struct TestRecorder(Values);

impl TestRecorder {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        Arc::new(Cell {
            key: format!("{}{{{}}}", key.name(), labels.join(",")),
            values: self.0.clone(),
        })
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.cell(key))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// Install the recorder (once per test binary) and return its values.
pub fn values() -> Values {
    static VALUES: OnceLock<Values> = OnceLock::new();
    VALUES
        .get_or_init(|| {
            let values: Values = Arc::default();
            metrics::set_global_recorder(TestRecorder(values.clone()))
                .expect("a recorder is already installed");
            values
        })
        .clone()
}

/// The value of `name{device=<device>}`, if recorded.
pub fn get(name: &str, device: &str) -> Option<f64> {
    values()
        .lock()
        .unwrap()
        .get(&format!("{name}{{device={device}}}"))
        .copied()
}
