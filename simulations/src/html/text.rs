//! How values read on the page: times into the drill, durations,
//! latencies, and a directed link's name.

pub(super) fn link_name(from: &str, to: &str) -> String {
    format!("{from} → {to}")
}

/// Milliseconds with a precision that suits their size; "–" when unknown.
pub(super) fn fmt_ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            if v < 10.0 {
                format!("{v:.2} ms")
            } else if v < 1000.0 {
                format!("{v:.1} ms")
            } else {
                format!("{:.2} s", v / 1000.0)
            }
        }
        _ => "–".into(),
    }
}

pub(super) fn fmt_dur(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.2} s", ms as f64 / 1000.0)
    }
}

pub(super) fn fmt_secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}
