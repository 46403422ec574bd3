//! Entry point: parse flags, start logging, run `serve` (default), `check` or `ports`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use lotus_follow_exporter::collector::Collector;
use lotus_follow_exporter::config::{Config, Flags};
use lotus_follow_exporter::render;
use lotus_follow_exporter::server::{self, App};

/// Prometheus exporter for a Filecoin Lotus daemon, ipfs-cluster-follow peers and the host's port plan.
#[derive(Parser)]
#[command(name = "lotus-follow-exporter", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    flags: Flags,
}

#[derive(Subcommand)]
enum Command {
    /// Serve /metrics, /status and /healthz (the default).
    Serve,
    /// Run one collection, print a report, exit 0 when healthy and 1 when not.
    Check {
        /// Print the /status JSON document instead of the report.
        #[arg(long)]
        json: bool,
    },
    /// Print the host's port plan, conflicts first; exit 1 when there is a conflict.
    Ports,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.flags.log_level);
    let config = match Config::from_flags(cli.flags) {
        Ok(config) => config,
        Err(reason) => {
            eprintln!("lotus-follow-exporter: {reason}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lotus-follow-exporter: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(config)),
        Command::Check { json } => runtime.block_on(check(config, json)),
        Command::Ports => runtime.block_on(ports(config)),
    }
}

fn init_logging(level: &str) {
    let env = env_logger::Env::default().default_filter_or(level);
    env_logger::Builder::from_env(env)
        .format_timestamp_millis()
        .init();
}

async fn serve(config: Config) -> ExitCode {
    if let Some(path) = &config.web_config_file {
        eprintln!(
            "lotus-follow-exporter: --web.config.file {} is not supported yet (TLS and basic auth are planned); remove the flag",
            path.display()
        );
        return ExitCode::from(2);
    }
    if let Err(reason) = &config.lotus.target {
        log::error!(
            "the Lotus API cannot be used: {reason}; the Lotus check will fail until this is fixed"
        );
    }
    let mut listeners = Vec::new();
    for address in &config.listen_addresses {
        match server::bind(address).await {
            Ok(listener) => {
                if let Ok(local) = listener.local_addr() {
                    log::info!("listening on http://{local}{}", config.telemetry_path);
                }
                listeners.push(listener);
            }
            Err(reason) => {
                eprintln!("lotus-follow-exporter: {reason}");
                return ExitCode::from(2);
            }
        }
    }
    let app = Arc::new(App {
        collector: Collector::new(&config),
        telemetry_path: config.telemetry_path.clone(),
        collector_timeout: config.collector_timeout,
    });
    log::info!(
        "watching Lotus at {} ({})",
        app.collector.lotus_api_address(),
        config.lotus.api_source
    );
    server::serve(listeners, app, shutdown_signal()).await;
    log::info!("stopped");
    ExitCode::SUCCESS
}

async fn check(config: Config, json: bool) -> ExitCode {
    let collector = Collector::new(&config);
    let snapshot = collector.collect(config.collector_timeout).await;
    if json {
        println!("{:#}", render::status::render(&snapshot));
    } else {
        print!("{}", render::text::render(&snapshot));
    }
    if render::text::is_healthy(&snapshot) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn ports(config: Config) -> ExitCode {
    let collector = Collector::new(&config);
    let snapshot = collector.collect(config.collector_timeout).await;
    print!("{}", render::table::table(&snapshot.ports));
    if snapshot.ports.has_conflict() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(e) => {
            log::warn!("cannot listen for SIGTERM ({e}); only Ctrl-C stops the exporter");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => log::info!("SIGINT received, shutting down"),
        _ = terminate.recv() => log::info!("SIGTERM received, shutting down"),
    }
}
