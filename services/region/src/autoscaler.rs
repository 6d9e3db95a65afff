//! The auto scaling worker, `autoscaler`: target tracking of this
//! region's replica of each provisioned table that has auto scaling
//! settings (`meridian_core::autoscaling`, whose [`decide`] is the rule).
//! Once a period (`autoscaling_period_ms`, a minute by default as
//! DynamoDB's CloudWatch data points are) it takes the units the
//! replica's own buckets were charged (`crate::capacity`: its clients'
//! requests and the replicated writes it applied alike), adds a data
//! point per scaled direction, and scales the replica's units when the
//! rule says so. The units are this region's alone (`capacity::Scaled`):
//! each replica floats on its own traffic, as on AWS.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use meridian_core::autoscaling::{Window, decide};
use meridian_core::settings::{Billing, TableSettings};
use meridian_core::throughput::Op;
use meridian_core::{TableDef, Version};
use tokio::time::Instant;

use crate::Shared;
use crate::capacity::Scaled;
use crate::runner::{Next, Work};
use crate::worker::Worker;

pub(crate) struct Autoscaler {
    shared: Arc<Shared>,
    period: Duration,
    start: Instant,
    /// Per table and direction: the data points since the last action,
    /// and the units charged as of the last step.
    windows: HashMap<(String, Op), (Window, f64)>,
    /// When the last step ran.
    last: Option<Instant>,
}

impl Autoscaler {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let period = shared.config.autoscaling_period;
        Autoscaler {
            shared,
            period,
            start: Instant::now(),
            windows: HashMap::new(),
            last: None,
        }
    }

    /// The tables whose replica here has auto scaling settings, with
    /// their settings as the catalog gives them.
    async fn scaled_tables(&self) -> Result<Vec<(TableDef, Version, TableSettings)>, String> {
        let region = self.shared.config.name.clone();
        self.shared
            .storage
            .read(move |r| {
                let mut out = Vec::new();
                for name in r.list_tables("", usize::MAX >> 1)? {
                    let (Some((def, of)), Some(settings)) =
                        (r.table_def(&name)?, r.settings(&name)?)
                    else {
                        continue;
                    };
                    if def.has_replica(&region) && !settings.scaling.is_empty() {
                        out.push((def, of, settings));
                    }
                }
                Ok(out)
            })
            .await
            .map_err(|e| format!("reading the tables' auto scaling settings: {e}"))
    }

    /// One period: a data point per scaled table and direction, and the
    /// actions they call for.
    async fn step(&mut self) -> Result<(), String> {
        let now = Instant::now();
        let elapsed = self.last.map(|l| now.duration_since(l).as_secs_f64());
        self.last = Some(now);
        let at = now.duration_since(self.start).as_secs_f64();
        let tables = self.scaled_tables().await?;
        let mut seen = Vec::new();
        for (def, of, settings) in tables {
            self.step_table(&def, &of, &settings, elapsed, at, &mut seen);
        }
        // Tables and directions no longer scaled start afresh if scaled
        // again; the units they were scaled to stay, as on AWS when auto
        // scaling is turned off.
        self.windows.retain(|k, _| seen.contains(k));
        Ok(())
    }

    /// One provisioned table's step, `elapsed` seconds after the last one
    /// and `at` seconds after the start: a data point for each direction
    /// it scales (noted in `seen`, so its window is kept), and the units of
    /// its replica here changed when the rule says so.
    fn step_table(
        &mut self,
        def: &TableDef,
        of: &Version,
        settings: &TableSettings,
        elapsed: Option<f64>,
        at: f64,
        seen: &mut Vec<(String, Op)>,
    ) {
        let Billing::Provisioned { read, write } = settings.billing else {
            return;
        };
        let capacity = &self.shared.capacity;
        let region = &self.shared.config.name;
        let mut scaled = capacity
            .scaled(&def.name)
            .filter(|s| s.of == *of && s.base == (read, write))
            .unwrap_or(Scaled {
                of: of.clone(),
                base: (read, write),
                units: (read, write),
                last_increase: None,
                last_decrease: None,
            });
        let mut changed = false;
        for op in [Op::Read, Op::Write] {
            let policy = match op {
                Op::Write => settings.scaling.write.as_ref(),
                Op::Read => settings.scaling.read.get(region),
            };
            let Some(policy) = policy else {
                continue;
            };
            let key = (def.name.clone(), op);
            seen.push(key.clone());
            let total = capacity.consumed(&def.name, op);
            // A direction seen for the first time has its start only.
            let known = self.windows.contains_key(&key);
            let (window, before) = self
                .windows
                .entry(key)
                .or_insert_with(|| (Window::default(), total));
            if known && let Some(secs) = elapsed.filter(|s| *s > 0.0) {
                window.push((total - *before).max(0.0) / secs);
            }
            *before = total;
            let units = match op {
                Op::Read => &mut scaled.units.0,
                Op::Write => &mut scaled.units.1,
            };
            if let Some(to) = decide(policy, *units, window, at) {
                let micros = self.shared.real_clock.now_micros();
                if to > *units {
                    scaled.last_increase = Some(micros);
                } else {
                    scaled.last_decrease = Some(micros);
                }
                tracing::info!(%region, table = %def.name, ?op, from = *units, to, "auto scaling");
                window.scaled(*units, to, at);
                *units = to;
                changed = true;
            }
        }
        if changed {
            capacity.set_scaled(&def.name, Some(scaled));
        }
    }
}

impl Work for Autoscaler {
    type Error = String;

    /// The first step marks where consumption starts.
    const AT_START: bool = true;

    async fn work(&mut self, _: &Worker) -> Result<Next, String> {
        self.step().await.map(|()| Next::Idle)
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.period).await;
    }
}
