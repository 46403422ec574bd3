//! Entry point: parse flags, start logging, run `serve` (default), `check`, `ports` or
//! `hash-password`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use lotus_follow_exporter::cli::{logging, version, Config, Flags};
use lotus_follow_exporter::exporter::collector::Collector;
use lotus_follow_exporter::exporter::snapshot::Snapshot;
use lotus_follow_exporter::render;
use lotus_follow_exporter::server::web::WebConfig;
use lotus_follow_exporter::server::{self, App};

/// How long an idle blocking-pool thread waits for more work: longer than the longest usual
/// scrape interval (tokio's default, 10 s, made every 15 s scrape start its threads anew).
const BLOCKING_THREAD_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(300);

/// Most blocking-pool threads at once (tokio's default is 512): far more than one scrape uses
/// (under ten), few enough that reads stuck in a hung mount cannot exhaust the host.
const MAX_BLOCKING_THREADS: usize = 64;

/// Prometheus exporter for a Filecoin Lotus daemon, ipfs-cluster-follow peers and the host's port plan.
#[derive(Parser)]
#[command(
    name = "lotus-follow-exporter",
    version = version::SHORT,
    long_version = version::LONG,
    about
)]
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
    /// Read a password (not echoed on a terminal) and print its bcrypt hash for `basic_auth_users`.
    HashPassword {
        /// bcrypt cost (10 takes about 70 ms per check, as exporter-toolkit suggests).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(4..=16))]
        cost: u32,
    },
}

/// `hash-password` on its own: the exporter's flags do not apply to it, so its help lists only
/// its own.
#[derive(Parser)]
#[command(
    name = "hash-password",
    bin_name = "lotus-follow-exporter hash-password",
    about = "Read a password (not echoed on a terminal) and print its bcrypt hash for `basic_auth_users`"
)]
struct HashPasswordCli {
    /// bcrypt cost (10 takes about 70 ms per check, as exporter-toolkit suggests).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(4..=16))]
    cost: u32,
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let word = |i: usize| args.get(i).and_then(|a| a.to_str());
    match (word(1), word(2)) {
        (Some("hash-password"), _) => {
            let cli = HashPasswordCli::parse_from(&args[1..]);
            return hash_password(cli.cost);
        }
        (Some("help"), Some("hash-password")) => {
            HashPasswordCli::parse_from(["hash-password", "--help"]);
        }
        _ => {}
    }
    let cli = Cli::parse();
    // `check` and `ports` print a report: only warnings and errors join it on stderr, unless
    // --log.level (or RUST_LOG) asks for more.
    let quiet = matches!(cli.command, Some(Command::Check { .. } | Command::Ports));
    let level = cli
        .flags
        .log_level
        .clone()
        .unwrap_or_else(|| if quiet { "warn" } else { "info" }.to_string());
    logging::init(&level, cli.flags.log_format);
    if let Some(Command::HashPassword { cost }) = cli.command {
        return hash_password(cost);
    }
    log::info!(
        version = version::VERSION,
        revision = version::REVISION,
        build_date = version::BUILD_DATE,
        rustc = version::RUSTC;
        "starting lotus-follow-exporter {}", version::VERSION
    );
    let config = match Config::from_flags(cli.flags) {
        Ok(config) => config,
        Err(reason) => {
            eprintln!("lotus-follow-exporter: {reason}");
            return ExitCode::from(2);
        }
    };
    // One thread runs every task, whatever the host's core count: a scrape is I/O bound, and
    // handing its work between worker threads cost more CPU than the work itself (issue 20's
    // profile: context switches were the largest single cost). Reads of files and /proc go to
    // the blocking pool, whose threads outlive the longest usual scrape interval, so a scrape
    // every 15 s, 30 s or 60 s reuses them instead of starting new ones; they are bounded, so
    // reads stuck in a hung mount cannot pile up threads without end (callers time out).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_keep_alive(BLOCKING_THREAD_KEEP_ALIVE)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
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
        Command::HashPassword { .. } => ExitCode::SUCCESS,
    }
}

async fn serve(config: Config) -> ExitCode {
    let web = match &config.web_config_file {
        None => WebConfig::default(),
        Some(path) => match WebConfig::load(path) {
            Ok(web) => web,
            Err(reason) => {
                eprintln!("lotus-follow-exporter: {reason}");
                return ExitCode::from(2);
            }
        },
    };
    match &config.checks.lotus.target {
        Ok(target) => log::info!(
            address = target.display.as_str(),
            address_source = config.checks.lotus.api_source.as_str();
            "watching Lotus at {} (address from {})",
            target.display,
            config.checks.lotus.api_source
        ),
        Err(reason) => {
            log::error!("cannot watch Lotus: {reason}; the Lotus check fails until this is fixed")
        }
    }
    if config.probe_enabled {
        match lotus_follow_exporter::checks::prober(&config.checks, config.probe_config_file.as_deref()) {
            Ok(prober) => log::warn!(
                "/probe is on (--web.enable-probe): anyone who can reach this exporter can make it call any URL; modules: {}",
                prober.modules().join(", ")
            ),
            Err(reason) => {
                eprintln!("lotus-follow-exporter: {reason}");
                return ExitCode::from(2);
            }
        }
    } else if config.probe_config_file.is_some() {
        log::warn!("--probe.config.file is ignored without --web.enable-probe");
    }
    let mut listeners = Vec::new();
    for address in &config.listen_addresses {
        match server::bind(address).await {
            Ok(listener) => {
                if let Ok(local) = listener.local_addr() {
                    log::info!("listening on {local}{}", config.telemetry_path);
                }
                listeners.push(listener);
            }
            Err(reason) => {
                eprintln!("lotus-follow-exporter: {reason}");
                return ExitCode::from(2);
            }
        }
    }
    let scheme = if web.tls.is_some() { "https" } else { "http" };
    let basic_auth = if web.basic_auth.is_some() {
        "on"
    } else {
        "off"
    };
    let app = Arc::new(App::new(&config, web));
    for line in app.collector.watching(config.collector_timeout).await {
        log::info!("{line}");
    }
    let tls = if scheme == "https" { "on" } else { "off" };
    let web_config = match &config.web_config_file {
        Some(path) => format!("--web.config.file {}", path.display()),
        None => "no --web.config.file".to_string(),
    };
    log::info!(
        tls = tls,
        basic_auth = basic_auth;
        "serving {scheme}: TLS {tls}, basic auth {basic_auth} ({web_config})"
    );

    server::serve(listeners, app, shutdown_signal()).await;
    log::info!("stopped");
    ExitCode::SUCCESS
}

/// One collection of every check, for the `check` and `ports` subcommands.
async fn collect_once(config: Config) -> Snapshot {
    let collector = Collector::new(lotus_follow_exporter::checks::registry(&config.checks));
    collector.collect(config.collector_timeout).await
}

async fn check(config: Config, json: bool) -> ExitCode {
    let snapshot = collect_once(config).await;
    if json {
        println!("{:#}", render::status::render(&snapshot));
    } else {
        print!("{}", render::text::render(&snapshot));
    }
    if snapshot.verdict().is_healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn ports(config: Config) -> ExitCode {
    let snapshot = collect_once(config).await;
    let (plan, conflict) = render::text::plan(&snapshot);
    print!("{plan}");
    if conflict {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// bcrypt uses only the first 72 bytes of a password.
const MAX_BCRYPT_PASSWORD_BYTES: usize = 72;

/// Read one line (the password) from stdin and print its bcrypt hash.
fn hash_password(cost: u32) -> ExitCode {
    let password = match read_password() {
        Ok(password) => password,
        Err(e) => {
            eprintln!("lotus-follow-exporter: cannot read the password from stdin: {e}");
            return ExitCode::FAILURE;
        }
    };
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!("lotus-follow-exporter: empty password; type it on stdin");
        return ExitCode::FAILURE;
    }
    if password.len() > MAX_BCRYPT_PASSWORD_BYTES {
        eprintln!(
            "lotus-follow-exporter: the password is {} bytes long; bcrypt reads only the first \
             {MAX_BCRYPT_PASSWORD_BYTES}, so any password sharing them would log in: use a shorter one",
            password.len()
        );
        return ExitCode::FAILURE;
    }
    match bcrypt::hash(password, cost) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lotus-follow-exporter: cannot hash: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One line from stdin; on a terminal, prompted and with echo turned off while it is typed.
fn read_password() -> std::io::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    let mut password = String::new();
    if stdin.is_terminal() {
        // Echo off first, then the prompt (as getpass does): what is typed after the prompt is
        // never echoed, and never dropped by the flush that turning echo off makes.
        let _quiet = EchoOff::new(libc::STDIN_FILENO)?;
        eprint!("Password: ");
        stdin.lock().read_line(&mut password)?;
        eprintln!();
    } else {
        stdin.lock().read_line(&mut password)?;
    }
    Ok(password)
}

/// A terminal's echo turned off until dropped (termios `ECHO`, as `getpass` does).
struct EchoOff {
    fd: libc::c_int,
    saved: libc::termios,
}

impl EchoOff {
    fn new(fd: libc::c_int) -> std::io::Result<EchoOff> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails without touching memory
        // beyond it.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: a valid termios for a terminal fd; TCSAFLUSH drops input typed before the prompt.
        if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(EchoOff { fd, saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new` on the same fd.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
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
