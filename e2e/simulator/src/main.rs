//! `applink-sim --config apps.yaml [--state-dir DIR] [--ready-file FILE]`

use std::path::PathBuf;

use applink_sim::{SimConfig, Simulator};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "applink-sim",
    about = "Simulated Atlassian applications speaking the applinks protocol"
)]
struct Cli {
    /// YAML (or JSON) file listing the applications to start.
    #[arg(long)]
    config: PathBuf,
    /// Directory where each app's links and allowlist are persisted across restarts.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Write the ready document (JSON) here once every app is listening; also printed on stdout.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Control port (overrides `control_port` of the config; 0 picks a free port).
    #[arg(long)]
    control_port: Option<u16>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("applink-sim: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let text = std::fs::read_to_string(&cli.config)
        .map_err(|e| format!("{}: {e}", cli.config.display()))?;
    let mut config = SimConfig::from_yaml(&text)?;
    if cli.control_port.is_some() {
        config.control_port = cli.control_port;
    }
    let sim = Simulator::start(config, cli.state_dir.clone())
        .await
        .map_err(|e| e.to_string())?;
    // One line, so that a script can read the first line of stdout as the ready document.
    let ready = serde_json::to_string(&sim.ready_json()).expect("JSON");
    if let Some(path) = &cli.ready_file {
        // Write then rename, so a script polling for the file never reads half of it.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &ready).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("{ready}");
    for app in sim.apps() {
        tracing::info!(app = app.name(), url = %app.base_url, id = %app.ident.id, "listening");
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    if let Some(path) = &cli.ready_file {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
