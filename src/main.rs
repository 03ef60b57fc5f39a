use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "applink-operator",
    version,
    about = "Manages Atlassian Application Links declaratively"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Write the CRD manifests (YAML) to a directory.
    Crdgen {
        /// Output directory.
        #[arg(long, default_value = "crds")]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Crdgen { out }) => {
            for f in applink_operator::crdgen::write(&out)? {
                println!("wrote {}", out.join(f).display());
            }
            Ok(())
        }
        None => Ok(()),
    }
}
