//! `meridian conformance`: checks any set of DynamoDB regional endpoints
//! (Meridian's, DynamoDB Local's, another emulator's, real AWS regions)
//! against what AWS documents about global tables, each check citing the
//! page it comes from (docs/conformance.md).
//!
//! The checks do not assume Meridian: every table is made through the
//! DynamoDB API as AWS makes one (CreateTable, then UpdateTable
//! `ReplicaUpdates`), faults go through a Toxiproxy-compatible API only when
//! one is given, and a check that would need what is not there says SKIP
//! with the reason rather than pass on a guess.
//!
//! ```no_run
//! # async fn f(args: meridian_conformance::Args) -> anyhow::Result<()> {
//! let json = args.json;
//! let report = meridian_conformance::run(args).await?;
//! let failed = report.print(json);
//! std::process::exit(if failed { 1 } else { 0 });
//! # }
//! ```

mod checks;
pub mod cluster;
mod credentials;
mod ctx;
mod error;
pub mod fault;
pub mod measure;
pub mod report;
mod tls;

use std::path::PathBuf;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use std::time::{Duration, Instant};

pub use cluster::Endpoint;
pub use error::ConfError;
pub use report::{CheckResult, Outcome, Report};

/// The command line of `meridian conformance` (and of the example binary).
// Its fields' doc comments are `--help` text (clap), plain text rather
// than rustdoc.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// A regional DynamoDB endpoint, NAME=URL (us-east-1=http://127.0.0.1:8101).
    /// Repeat for each region; the first is where tables are made.
    #[arg(long = "endpoint", value_name = "NAME=URL", value_parser = parse_endpoint_arg)]
    pub endpoints: Vec<Endpoint>,
    /// A Meridian cluster file instead: each [[region]]'s `name` and
    /// `dynamo`, and `[netsim] api` as the fault API.
    #[arg(long, value_name = "FILE", conflicts_with = "endpoints")]
    pub cluster: Option<PathBuf>,
    /// AWS regions by name, comma-separated (us-east-1,us-east-2,us-west-2):
    /// each is https://dynamodb.<region>.amazonaws.com. Writes real tables
    /// and costs money (docs/conformance.md).
    #[arg(long, value_name = "REGION,...", conflicts_with_all = ["endpoints", "cluster"])]
    pub aws: Option<String>,
    /// The profile of the shared AWS files to take credentials from, as the
    /// AWS CLI's --profile (outranks AWS_PROFILE and the environment's keys).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// A PEM file of the certificate authorities to trust for https, as the
    /// AWS CLI's --ca-bundle (outranks AWS_CA_BUNDLE and the profile's
    /// ca_bundle; replaces the system's roots).
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// A Toxiproxy-compatible fault API (http://127.0.0.1:8474, or https://) with one
    /// proxy per directed link named `A>B`. Without one, checks that need a
    /// fault are skipped.
    #[arg(long, value_name = "URL")]
    pub toxiproxy: Option<String>,
    /// Print the whole report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run only this check (repeatable); see docs/conformance.md for names.
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Size of the statistical checks (writes, pairs, transactions).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(10..=5000))]
    pub samples: u32,
    /// Also measure lag per directed pair and reordering, fit the
    /// replication profile and write it to FILE as TOML.
    #[arg(long, value_name = "FILE")]
    pub measure: Option<PathBuf>,
    /// Time allowed to each check (cleanup comes on top).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub timeout_secs: u64,
    /// Make `reordering-between-items` and `torn-transactions` fail when
    /// they see none (for a system meant to reorder as DynamoDB may).
    #[arg(long)]
    pub expect_reordering: bool,
    /// How long `ttl-delete-as-service` waits for an expired item to go.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=172_800))]
    pub ttl_deadline_secs: u64,
}

fn parse_endpoint_arg(s: &str) -> Result<Endpoint, String> {
    cluster::parse_endpoint(s).map_err(|e| e.to_string())
}

/// Every check's name, in the order they run.
pub fn check_names() -> Vec<&'static str> {
    checks::ALL.iter().map(|c| c.name).collect()
}

/// Runs the checks `args` asks for and returns what they saw. Errors only
/// for bad arguments or an unreadable cluster file: anything an endpoint
/// does is a check's verdict.
pub async fn run(args: Args) -> anyhow::Result<Report> {
    let target = Target::of(&args)?;
    let (trust, creds) = security(&args, &target)?;
    let mut report = Report {
        endpoints: target
            .endpoints
            .iter()
            .map(|e| format!("{}={}", e.name, e.url))
            .collect(),
        fault_api: target.fault_api.clone(),
        ..Report::default()
    };
    let (faults, proxies) = reach_faults(&target, trust.as_ref(), &mut report).await?;
    let run_id = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let regions: Vec<ctx::Region> = target
        .endpoints
        .iter()
        .map(|e| ctx::region_clients(e, creds.as_ref(), trust.as_ref()))
        .collect();
    for r in regions.iter().filter(|r| r.url.starts_with("https://")) {
        preflight(r, &run_id, trust.as_ref()).await?;
    }
    let ctx = ctx::Ctx {
        regions,
        faults,
        proxies,
        samples: args.samples as usize,
        timeout: Duration::from_secs(args.timeout_secs),
        expect_reordering: args.expect_reordering,
        ttl_deadline: Duration::from_secs(args.ttl_deadline_secs),
        ttl_interval_ms: target.ttl_interval_ms,
        run_id,
        collected: Default::default(),
    };
    run_checks(&ctx, &args, &mut report).await?;
    if let Some(f) = &ctx.faults {
        // Whatever happened, the network is left healed.
        let _ = f.reset().await;
    }
    Ok(report)
}

/// What a run is pointed at, from `--cluster`, `--aws` or `--endpoint`,
/// with the arguments checked.
struct Target {
    endpoints: Vec<Endpoint>,
    /// `--toxiproxy`, else the cluster file's `[netsim] api`.
    fault_api: Option<String>,
    /// The cluster file's `ttl_interval_ms`, when there is one.
    ttl_interval_ms: Option<u64>,
}

impl Target {
    fn of(args: &Args) -> anyhow::Result<Target> {
        let (endpoints, file_faults, ttl_interval_ms) = match (&args.cluster, &args.aws) {
            (Some(path), _) => {
                let c = cluster::read_cluster_file(path)?;
                (c.endpoints, c.fault_api, Some(c.ttl_interval_ms))
            }
            (None, Some(list)) => (cluster::parse_aws_regions(list)?, None, None),
            (None, None) => (args.endpoints.clone(), None, None),
        };
        if endpoints.is_empty() {
            anyhow::bail!(
                "give at least one --endpoint NAME=URL, --aws REGION,... or --cluster FILE"
            );
        }
        let mut names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
        names.sort();
        names.dedup();
        if names.len() != endpoints.len() {
            anyhow::bail!("a region is named twice among the endpoints");
        }
        for o in &args.only {
            if !check_names().contains(&o.as_str()) {
                anyhow::bail!(
                    "--only {o}: no such check; the checks are {}",
                    check_names().join(", ")
                );
            }
        }
        Ok(Target {
            endpoints,
            fault_api: args.toxiproxy.clone().or(file_faults),
            ttl_interval_ms,
        })
    }
}

/// TLS trust and real credentials, only when something is https, so a
/// local run never reads the AWS files.
fn security(
    args: &Args,
    target: &Target,
) -> anyhow::Result<(Option<tls::Trust>, Option<credentials::Creds>)> {
    let env = |k: &str| std::env::var(k).ok();
    let https = target.endpoints.iter().any(Endpoint::is_https);
    let trust = if https
        || target
            .fault_api
            .as_deref()
            .is_some_and(|f| f.starts_with("https://"))
    {
        let bundle =
            credentials::ca_bundle(args.ca_bundle.as_deref(), args.profile.as_deref(), &env)?;
        Some(tls::Trust::load(bundle)?)
    } else {
        None
    };
    let creds = if https {
        Some(credentials::resolve(args.profile.as_deref(), &env)?)
    } else {
        None
    };
    Ok((trust, creds))
}

/// The fault API and its proxies. One that does not answer makes fault
/// checks skip, saying so in the report, rather than fail the run.
async fn reach_faults(
    target: &Target,
    trust: Option<&tls::Trust>,
    report: &mut Report,
) -> anyhow::Result<(Option<fault::Faults>, Vec<String>)> {
    let faults = target
        .fault_api
        .as_deref()
        .map(|f| fault::Faults::new(f, trust))
        .transpose()?;
    Ok(match faults {
        Some(f) => match f.proxies().await {
            Ok(p) => (Some(f), p),
            Err(e) => {
                report.fault_api = Some(format!("{} (unreachable: {e})", f.base()));
                (None, vec![])
            }
        },
        None => (None, vec![]),
    })
}

/// Every check `args` asks for, in order, then the measurement when
/// `--measure` asks for one, each result into `report`.
async fn run_checks(ctx: &ctx::Ctx, args: &Args, report: &mut Report) -> anyhow::Result<()> {
    for c in checks::ALL {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == c.name) {
            continue;
        }
        report.results.push(run_one(ctx, c).await);
    }
    let Some(path) = &args.measure else {
        return Ok(());
    };
    let started = Instant::now();
    let (v, profile) = checks::measure(ctx).await;
    if let Some(text) = profile {
        std::fs::write(path, text)?;
        report.profile_file = Some(path.display().to_string());
    }
    report.results.push(CheckResult {
        name: "measure".into(),
        outcome: v.outcome,
        saw: v.saw,
        source: checks::SRC_BEST_PRACTICES.into(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        data: v.data,
    });
    Ok(())
}

/// One DescribeTable of a table no run makes, before any check, so that an
/// https endpoint's TLS or credential problem stops the run with one clear
/// error instead of failing every check. `ResourceNotFoundException` is
/// the good answer: it comes only after the TLS handshake and the
/// signature check. The name fits a policy scoped to `conformance-*`.
async fn preflight(
    r: &ctx::Region,
    run_id: &str,
    trust: Option<&tls::Trust>,
) -> anyhow::Result<()> {
    let table = format!("conformance-{run_id}-preflight");
    let res = r.ddb.describe_table().table_name(&table).send().await;
    let e = match res {
        Ok(_) => return Ok(()),
        Err(e) if ctx::code(&e) == "ResourceNotFoundException" => return Ok(()),
        Err(e) => e,
    };
    // The service's code and message, or the chain of causes (where a
    // refused certificate is named).
    let text = match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            ctx::code(&e),
            s.message().unwrap_or("(no message)")
        ),
        None => {
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        }
    };
    let hint = trust.and_then(|t| tls::certificate_hint(&text, t));
    anyhow::bail!(
        "{}={}: DescribeTable {table} did not get through: {}{}",
        r.name,
        r.url,
        hint.map(|h| format!("{h}. ")).unwrap_or_default(),
        text
    )
}

/// Runs one check under its deadline, then undoes its faults and tables
/// whatever happened, and notes a cleanup that failed.
async fn run_one(ctx: &ctx::Ctx, c: &checks::Check) -> CheckResult {
    let started = Instant::now();
    let mut scope = ctx::Scope::default();
    let limit = if c.name == "ttl-delete-as-service" {
        ctx.timeout.max(ctx.ttl_deadline + Duration::from_secs(60))
    } else {
        ctx.timeout
    };
    let verdict = match tokio::time::timeout(limit, (c.run)(ctx, &mut scope)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => ctx::Verdict::fail(format!("error: {e}")),
        Err(_) => ctx::Verdict::fail(format!("did not finish within {} s", limit.as_secs())),
    };
    ctx.heal(&mut scope).await;
    let mut saw = verdict.saw;
    for t in scope.tables.iter().rev() {
        if let Some(problem) = ctx.drop_table(t).await {
            saw.push_str(&format!(" [cleanup: {problem}]"));
        }
    }
    CheckResult {
        name: c.name.into(),
        outcome: verdict.outcome,
        saw,
        source: c.source.into(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        data: verdict.data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn arguments_parse_with_defaults() {
        let cli = Cli::try_parse_from([
            "x",
            "--endpoint",
            "us-east-1=http://127.0.0.1:8101",
            "--endpoint",
            "eu-west-1=http://127.0.0.1:8102",
            "--only",
            "replication",
            "--only",
            "lww-whole-item",
            "--json",
        ])
        .unwrap();
        let a = cli.args;
        assert_eq!(a.endpoints.len(), 2);
        assert_eq!(a.endpoints[1].name, "eu-west-1");
        assert_eq!(a.only, ["replication", "lww-whole-item"]);
        assert!(a.json && !a.expect_reordering);
        assert_eq!(
            (a.samples, a.timeout_secs, a.ttl_deadline_secs),
            (300, 120, 60)
        );
        assert!(a.toxiproxy.is_none() && a.measure.is_none() && a.cluster.is_none());
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(Cli::try_parse_from(["x", "--endpoint", "nourl"]).is_err());
        assert!(
            Cli::try_parse_from(["x", "--samples", "5"]).is_err(),
            "bounded below"
        );
        assert!(
            Cli::try_parse_from(["x", "--samples", "1000000"]).is_err(),
            "bounded above"
        );
        assert!(
            Cli::try_parse_from(["x", "--cluster", "c.toml", "--endpoint", "a=http://x"]).is_err(),
            "one source of endpoints"
        );
        let ok = Cli::try_parse_from([
            "x",
            "--cluster",
            "c.toml",
            "--toxiproxy",
            "http://127.0.0.1:8474",
            "--measure",
            "p.toml",
            "--expect-reordering",
        ])
        .unwrap();
        assert!(ok.args.expect_reordering);
    }

    #[test]
    fn check_names_are_unique_and_cited() {
        let names = check_names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for c in checks::ALL {
            assert!(
                c.source.starts_with("https://docs.aws.amazon.com/"),
                "{}",
                c.name
            );
        }
    }

    #[tokio::test]
    async fn unknown_only_and_no_endpoints_are_errors() {
        let cli =
            Cli::try_parse_from(["x", "--only", "nope", "--endpoint", "a=http://127.0.0.1:1"])
                .unwrap();
        assert!(
            run(cli.args)
                .await
                .unwrap_err()
                .to_string()
                .contains("no such check")
        );
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert!(run(cli.args).await.is_err());
        let cli = Cli::try_parse_from(["x", "--aws", "us-east-1,US-WEST-2"]).unwrap();
        let e = run(cli.args).await.unwrap_err().to_string();
        assert!(e.contains("\"US-WEST-2\" is not a region name"), "{e}");
        assert!(
            Cli::try_parse_from(["x", "--aws", "us-east-1", "--endpoint", "a=http://x:1"]).is_err(),
            "one source of endpoints"
        );
        assert!(Cli::try_parse_from(["x", "--aws", "us-east-1", "--cluster", "c.toml"]).is_err());
    }
}
