use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use applink_operator::cli::steer;
use applink_operator::controller::{self, Settings};
use applink_operator::leader;
use applink_operator::telemetry::{self, LogFormat};
use clap::{Args, Parser, Subcommand};
use tracing::{error, info};

#[derive(Parser)]
#[command(
    name = "applink-operator",
    version,
    about = "Manages Atlassian Application Links declaratively"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers (the default).
    Run(Box<RunArgs>),
    /// Write the CRD manifests (YAML) to a directory.
    Crdgen {
        /// Output directory.
        #[arg(long, default_value = "crds")]
        out: PathBuf,
    },
    /// Check an installation (the chart's `helm test`): the CRDs are served and the operator's
    /// Deployment has a ready replica.
    Check {
        /// Name of the operator's Deployment.
        #[arg(long)]
        deployment: String,
        /// Namespace of the Deployment (default: $POD_NAMESPACE, else `default`).
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        namespace: String,
    },
    /// Show each application with its links and ExternalApplications: both ends' health and
    /// auth levels, and why anything is not Ready, in full.
    Status {
        /// Namespace (default: the kubeconfig context's).
        #[arg(short, long)]
        namespace: Option<String>,
        /// Every namespace.
        #[arg(short = 'A', long, conflicts_with = "namespace")]
        all_namespaces: bool,
        /// Show only this application (instance name), link or ExternalApplication.
        name: Option<String>,
    },
    /// What the operator would do for the manifests in a directory, against the live
    /// applications (read only): exit code 0 nothing pending, 2 changes pending, 1 an error.
    Plan {
        /// Directory of manifests (every .yaml/.yml file in it, multi-document).
        #[arg(short = 'f', long = "filename")]
        dir: PathBuf,
        /// Namespace of objects that name none (default: the kubeconfig context's).
        #[arg(short, long)]
        namespace: Option<String>,
        /// Namespace of the Secrets of ClusterApplicationInstances (the operator's namespace).
        #[arg(
            long,
            env = "APPLINK_CLUSTER_RESOURCE_NAMESPACE",
            default_value = "applink-system"
        )]
        cluster_resource_namespace: String,
        /// Time for one request to an application.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        request_timeout: Duration,
        /// The operator's --watch-label-selector, when it serves a shard: only the objects it
        /// selects count as holding link ends.
        #[arg(short = 'l', long = "selector")]
        selector: Option<String>,
    },
    /// Ask the operator to re-verify objects now (annotation applinks.io/reconcile-requested-at)
    /// and wait until it has.
    Resync(SteerArgs),
    /// Stop all calls to the applications for objects (annotation applinks.io/paused).
    Pause(SteerArgs),
    /// Undo pause.
    Resume(SteerArgs),
}

#[derive(Args)]
struct SteerArgs {
    /// NAME or KIND/NAME (kinds: link, instance, clusterinstance, external).
    #[arg(required = true)]
    targets: Vec<String>,
    /// Namespace (default: the kubeconfig context's).
    #[arg(short, long)]
    namespace: Option<String>,
    /// For resync: do not wait for the operator to handle the request.
    #[arg(long)]
    no_wait: bool,
    /// For resync: how long to wait.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "APPLINK_NAMESPACE")]
    namespace: Option<String>,
    /// Reconcile only objects whose labels match this selector (e.g.
    /// `sharding.applinks.io/key=shard1`), the way Flux shards its controllers: several operator
    /// Deployments split one cluster's objects. Objects a shard does not select are invisible to
    /// it, including instances its links name: keep a link and its instances in one shard.
    #[arg(long, env = "APPLINK_WATCH_LABEL_SELECTOR")]
    watch_label_selector: Option<String>,
    /// Namespace of the Secrets and ConfigMaps that ClusterApplicationInstances name (their
    /// administrator credentials, CA bundles): the operator's own namespace, where tenants have
    /// no access (default: $POD_NAMESPACE, else `applink-system`).
    #[arg(long, env = "APPLINK_CLUSTER_RESOURCE_NAMESPACE")]
    cluster_resource_namespace: Option<String>,
    /// How often an ApplicationInstance's manifest and credentials are re-checked, unless the
    /// instance sets spec.checkInterval.
    #[arg(long, env = "APPLINK_INSTANCE_CHECK_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    instance_check_interval: Duration,
    /// How often every ApplicationLink is compared with both applications (drift repair).
    #[arg(long, env = "APPLINK_LINK_RESYNC_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    link_resync_interval: Duration,
    /// How long the applications may go on reporting a link as not working (or an object wait
    /// for something only a person can give) before it is marked Stalled (kstatus: Failed; Argo
    /// CD: Degraded). It is still checked again with backoff after that.
    #[arg(long, env = "APPLINK_STALLED_AFTER", default_value = "10m", value_parser = humantime::parse_duration)]
    stalled_after: Duration,
    /// Timeout of one request to an application.
    #[arg(long, env = "APPLINK_REQUEST_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
    /// Requests in flight to one application at once, over all links.
    #[arg(
        long,
        env = "APPLINK_MAX_REQUESTS_PER_APPLICATION",
        default_value_t = 4
    )]
    max_requests_per_application: usize,
    /// Reconciles of each kind running at once (0: no limit). Calls to one application are
    /// limited separately by --max-requests-per-application.
    #[arg(long, env = "APPLINK_CONCURRENCY", default_value_t = 8)]
    concurrency: u16,
    /// Reconcile ExternalApplications (incoming OAuth clients whose credentials the operator
    /// writes into Secrets). `false` runs without that controller, for installations that grant
    /// no Secret writes.
    #[arg(long, env = "APPLINK_EXTERNAL_APPLICATIONS", default_value_t = true, action = clap::ArgAction::Set)]
    external_applications: bool,
    /// Elect one active replica through a Lease (for more than one replica).
    #[arg(long, env = "APPLINK_LEADER_ELECTION")]
    leader_election: bool,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else `default`).
    #[arg(long, env = "APPLINK_LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(
        long,
        env = "APPLINK_LEADER_ELECTION_LEASE",
        default_value = "applink-operator"
    )]
    leader_election_lease: String,
    /// How long a standby waits, after it last saw the Lease change, before it takes it over.
    #[arg(long, env = "APPLINK_LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    leader_election_lease_duration: Duration,
    /// How long the leader may go without renewing the Lease; then it cancels its in-flight
    /// reconciles at once and exits. Must be shorter than the lease duration.
    #[arg(long, env = "APPLINK_LEADER_ELECTION_RENEW_DEADLINE", default_value = "10s", value_parser = humantime::parse_duration)]
    leader_election_renew_deadline: Duration,
    /// Pause between two attempts to take or renew the Lease.
    #[arg(long, env = "APPLINK_LEADER_ELECTION_RETRY_PERIOD", default_value = "2s", value_parser = humantime::parse_duration)]
    leader_election_retry_period: Duration,
    /// Serve /healthz, /readyz and /metrics on this address (e.g. 0.0.0.0:8080); off when unset.
    #[arg(long, env = "APPLINK_HEALTH_ADDR")]
    health_addr: Option<std::net::SocketAddr>,
    /// Log format.
    #[arg(long, env = "APPLINK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Errors are printed as one line that says what to do, not as a backtrace.
    let result = dispatch(Cli::parse()).await;
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let done = match cli.command {
        Some(Command::Crdgen { out }) => {
            for f in applink_operator::crdgen::write(&out)? {
                println!("wrote {}", out.join(f).display());
            }
            Ok(())
        }
        Some(Command::Run(args)) => run(*args).await,
        Some(Command::Check {
            deployment,
            namespace,
        }) => check(&deployment, &namespace).await,
        Some(Command::Status {
            namespace,
            all_namespaces,
            name,
        }) => {
            let client = kube_client().await?;
            let namespace = (!all_namespaces)
                .then(|| namespace.unwrap_or_else(|| client.default_namespace().to_string()));
            let scope = applink_operator::cli::Scope { namespace, name };
            print!("{}", applink_operator::cli::status(client, scope).await?);
            Ok(())
        }
        // Its own exit codes.
        Some(Command::Plan {
            dir,
            namespace,
            cluster_resource_namespace,
            request_timeout,
            selector,
        }) => {
            let opts = applink_operator::cli::plan::Options {
                dir,
                namespace: namespace.unwrap_or_default(),
                cluster_resource_namespace,
                request_timeout,
                label_selector: selector,
            };
            return plan(opts).await;
        }
        Some(Command::Resync(a)) => steer(steer::Action::Resync, a).await,
        Some(Command::Pause(a)) => steer(steer::Action::Pause, a).await,
        Some(Command::Resume(a)) => steer(steer::Action::Resume, a).await,
        None => run(cli.run).await,
    };
    done.map(|()| std::process::ExitCode::SUCCESS)
}

/// `plan`: prints the plan; the exit code says whether changes are pending (2) or not (0).
async fn plan(
    mut opts: applink_operator::cli::plan::Options,
) -> anyhow::Result<std::process::ExitCode> {
    let client = kube_client().await?;
    if opts.namespace.is_empty() {
        opts.namespace = client.default_namespace().to_string();
    }
    let (out, code) = applink_operator::cli::plan::plan(client, &opts).await?;
    print!("{out}");
    Ok(std::process::ExitCode::from(code))
}

async fn kube_client() -> anyhow::Result<kube::Client> {
    kube::Client::try_default().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot build a Kubernetes client (KUBECONFIG, ~/.kube/config or in-cluster): {e}"
        )
    })
}

async fn steer(action: steer::Action, args: SteerArgs) -> anyhow::Result<()> {
    let client = kube_client().await?;
    let namespace = args
        .namespace
        .unwrap_or_else(|| client.default_namespace().to_string());
    let wait = (action == steer::Action::Resync && !args.no_wait).then_some(args.timeout);
    for line in steer::run(client, &namespace, action, &args.targets, wait).await? {
        println!("{line}");
    }
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format);
    // Durations that would allow two leaders are refused before anything starts.
    let lease = args
        .leader_election
        .then(|| leader_config(&args))
        .transpose()?;
    // Usual rules: KUBECONFIG / ~/.kube/config, else the in-cluster service account.
    let client = kube::Client::try_default().await.map_err(|e| {
        error!(error = %e, "no Kubernetes configuration found");
        anyhow::anyhow!("cannot build a Kubernetes client: {e}")
    })?;
    let served = match applink_operator::preflight::check_crds(&client).await {
        Ok(served) => served,
        Err(e) => {
            error!(error = %e, "preflight failed");
            return Err(e.into());
        }
    };
    let settings = Settings {
        namespace: args.namespace.clone(),
        label_selector: args.watch_label_selector,
        cluster_resource_namespace: args
            .cluster_resource_namespace
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "applink-system".into()),
        // A namespaced installation has no right to cluster-scoped objects.
        shared_applications: served.shared_applications && args.namespace.is_none(),
        instance_check_interval: args.instance_check_interval,
        link_resync_interval: args.link_resync_interval,
        stalled_after: args.stalled_after,
        request_timeout: args.request_timeout,
        max_requests_per_application: args.max_requests_per_application,
        concurrency: args.concurrency,
        external_applications: args.external_applications && served.external_applications,
    };
    info!(
        namespace = settings.namespace.as_deref().unwrap_or("<all>"),
        selector = settings.label_selector.as_deref().unwrap_or("<all>"),
        "starting applink-operator {}",
        env!("CARGO_PKG_VERSION")
    );
    let metrics = Arc::new(applink_operator::health::Metrics::default());
    if let Some(addr) = args.health_addr {
        let m = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = applink_operator::health::serve(addr, m).await {
                error!(error = %e, %addr, "cannot serve the health endpoint");
                std::process::exit(1);
            }
        });
    }
    let Some(lease) = lease else {
        controller::run(client, settings, metrics, shutdown_signal()).await;
        return Ok(());
    };
    // Releasing on a graceful stop needs no election state: an elector of its own.
    let releaser = leader::Elector::new(&client, lease.clone());
    let mut elector = leader::Elector::new(&client, lease);
    let mut signal = Box::pin(shutdown_signal());
    // A standby is healthy and ready (a rolling update must be able to start it); it just waits.
    metrics.set_ready();
    let renewed = tokio::select! {
        sent = elector.acquire() => sent,
        _ = &mut signal => return Ok(()),
    };
    // Reconcile until asked to stop or until the lease is lost, whichever comes first.
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<&'static str>();
    let holder = tokio::spawn(async move {
        let why = elector.hold(renewed).await;
        let _ = lost_tx.send(why);
    });
    // SIGTERM stops the controllers gracefully (in-flight reconciles finish) while the lease is
    // still renewed; losing the lease must not wait for them.
    let controllers = controller::run(client.clone(), settings, metrics, signal);
    tokio::select! {
        biased;
        why = lost_rx => {
            // Leaving this select drops the controllers, which aborts every in-flight reconcile
            // before its next request: a standby may lead once the lease duration has passed.
            let why = why.unwrap_or("the lease holder stopped");
            error!(reason = why, "leadership lost; in-flight reconciles cancelled");
            anyhow::bail!("leadership lost ({why}); exiting so that only one replica reconciles");
        }
        _ = controllers => {}
    }
    holder.abort();
    releaser.release().await;
    Ok(())
}

/// The leader election settings, checked.
fn leader_config(args: &RunArgs) -> anyhow::Result<leader::Config> {
    let lease = leader::Config {
        namespace: args
            .leader_election_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".into()),
        name: args.leader_election_lease.clone(),
        identity: std::env::var("POD_NAME").unwrap_or_else(|_| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "applink-operator".into());
            format!("{host}-{}", std::process::id())
        }),
        lease_duration: args.leader_election_lease_duration,
        renew_deadline: args.leader_election_renew_deadline,
        retry_period: args.leader_election_retry_period,
    };
    lease.validate().map_err(|e| anyhow::anyhow!(e))?;
    Ok(lease)
}

async fn check(deployment: &str, namespace: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::apps::v1::Deployment;
    let client = kube::Client::try_default().await?;
    applink_operator::preflight::check_crds(&client).await?;
    println!("ok: the applinks.io/v1alpha1 CRDs are served");
    let d = kube::Api::<Deployment>::namespaced(client, namespace)
        .get(deployment)
        .await?;
    let ready = d.status.and_then(|s| s.ready_replicas).unwrap_or(0);
    if ready < 1 {
        anyhow::bail!("deployment {namespace}/{deployment} has no ready replica");
    }
    println!("ok: deployment {namespace}/{deployment} has {ready} ready replica(s)");
    Ok(())
}

/// SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    info!("shutdown requested; finishing in-flight reconciles");
}

/// `docs/reference/cli.md` is rendered from the argument definitions above, so every flag, its
/// environment variable and its default are documented as the binary has them.
#[cfg(test)]
mod reference {
    use clap::CommandFactory;

    fn render() -> String {
        let root = super::Cli::command();
        let mut out = String::from(
            "# Command line reference\n\n<!-- Generated from src/main.rs by `APPLINK_UPDATE_DOCS=1 cargo test --bin applink-operator reference`; do not edit. -->\n\n\
             `applink-operator` without a subcommand is `applink-operator run`. Flags with an environment \
             variable can be set either way (the flag wins). The guide to the operator's flags: \
             [flags](../flags.md); to the companion commands: [cli](../cli.md).\n",
        );
        for sub in root.get_subcommands() {
            out.push_str(&format!("\n## `applink-operator {}`\n\n", sub.get_name()));
            if let Some(about) = sub.get_about() {
                out.push_str(&format!("{}\n\n", about.to_string().replace('\n', " ")));
            }
            out.push_str("| Argument | Environment | Default | Description |\n|---|---|---|---|\n");
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                let name = match (arg.get_long(), arg.get_short()) {
                    (Some(l), Some(s)) => format!("`-{s}`, `--{l}`"),
                    (Some(l), None) => format!("`--{l}`"),
                    (None, Some(s)) => format!("`-{s}`"),
                    (None, None) => format!("`{}`", id.to_uppercase()),
                };
                let env = arg
                    .get_env()
                    .map(|e| format!("`{}`", e.to_string_lossy()))
                    .unwrap_or_default();
                let default: Vec<String> = arg
                    .get_default_values()
                    .iter()
                    .map(|v| format!("`{}`", v.to_string_lossy()))
                    .collect();
                let help = arg
                    .get_help()
                    .map(|h| h.to_string().replace('\n', " ").replace('|', "\\|"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "| {name} | {env} | {} | {help} |\n",
                    default.join(", ")
                ));
            }
        }
        out
    }

    #[test]
    fn cli_reference_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference/cli.md");
        let rendered = render();
        if std::env::var_os("APPLINK_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
            return;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == rendered,
            "docs/reference/cli.md is not what src/main.rs renders: regenerate it with \
             `APPLINK_UPDATE_DOCS=1 cargo test --bin applink-operator reference` and commit the result"
        );
    }
}
