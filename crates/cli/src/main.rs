//! The `brook` binary. `brook server` runs a broker; with no flags it is the
//! embedded single-node default: node 1, data in ./brook-data, 127.0.0.1:9092.

use std::path::PathBuf;

use anyhow::Context;
use brook_broker::config::{self, BrokerConfig};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod bench;
mod commands;
mod progress;

use commands::Output;

#[derive(Parser)]
#[command(name = "brook", version, about = "Brook: a Kafka-compatible commit log in one binary")]
struct Cli {
    /// Broker(s) to talk to, host:port[,host:port].
    #[arg(long, global = true, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Human)]
    output: Output,
    /// Client properties file with Kafka's names (security.protocol=SSL,
    /// ssl.truststore.location or ssl.ca.location, ssl.keystore.location or
    /// ssl.certificate.location + ssl.key.location, ...).
    #[arg(long, global = true)]
    command_config: Option<PathBuf>,
    /// No progress bars or live status on stderr (they are only drawn on a
    /// terminal anyway; BROOK_NO_PROGRESS=1 does the same).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker.
    Server(ServerArgs),
    /// Create, list, describe, delete topics and change their configs.
    #[command(subcommand)]
    Topic(commands::topic::TopicCommand),
    /// Produce lines from stdin or a file.
    Produce(commands::produce::ProduceArgs),
    /// Consume records and print them.
    Consume(commands::consume::ConsumeArgs),
    /// Cluster information.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Consumer groups.
    #[command(subcommand)]
    Group(commands::group::GroupCommand),
    /// Transactions: list, describe, abort a hanging one.
    #[command(subcommand)]
    Txn(commands::txn::TxnCommand),
    /// Benchmarks and load generators.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Client quotas: set and describe (users, client ids, defaults).
    #[command(subcommand)]
    Quota(commands::quota::QuotaCommand),
    /// Test certificates: a self-signed CA and certificates it signs (PEM).
    #[command(subcommand)]
    Tls(commands::tls::TlsCommand),
    /// Access control lists (like kafka-acls.sh): add, list, remove.
    #[command(subcommand)]
    Acl(commands::acl::AclCommand),
    /// SCRAM users: add (or change a password), list, remove.
    #[command(subcommand)]
    User(commands::user::UserCommand),
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Cluster id, controller and brokers.
    Info,
    /// Move a partition's replicas to other brokers (or cancel a move).
    Reassign(commands::reassign::ReassignArgs),
    /// Ongoing reassignments.
    Reassignments,
    /// Move every replica off a broker (before taking it away).
    Drain {
        /// The broker to empty.
        broker: i32,
        #[command(flatten)]
        wait: commands::reassign::WaitArgs,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Log append throughput of the storage engine, next to dd on the same directory.
    Append(bench::append::AppendArgs),
    /// Producer throughput and latency (like kafka-producer-perf-test).
    Produce(bench::produce::ProduceBenchArgs),
    /// Consumer throughput (like kafka-consumer-perf-test).
    Consume(bench::consume::ConsumeBenchArgs),
    /// Produce-to-consume latency at a fixed rate.
    E2e(bench::e2e::E2eBenchArgs),
}

#[derive(clap::Args)]
struct ServerArgs {
    /// A Kafka-style properties file (NAME=VALUE lines).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set a property, e.g. --set log.retention.ms=60000 (repeatable; wins over file and env).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Print every supported property with its default and exit.
    #[arg(long)]
    print_config: bool,
}

fn main() {
    let cli = Cli::parse();
    let (bootstrap, output) = (cli.bootstrap_server, cli.output);
    progress::set_quiet(cli.quiet);
    if let Some(path) = &cli.command_config {
        if let Err(e) = apply_command_config(path) {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
    let result = match cli.command {
        Command::Server(args) => server(args),
        Command::Bench(BenchCommand::Append(args)) => bench::append::run(args),
        Command::Tls(cmd) => commands::tls::run(cmd),
        client_command => client(async move {
            match client_command {
                Command::Topic(cmd) => commands::topic::run(&admin(&bootstrap).await?, cmd, output).await,
                Command::Produce(args) => commands::produce::run(&bootstrap, args, output).await,
                Command::Consume(args) => commands::consume::run(&bootstrap, args).await,
                Command::Cluster(ClusterCommand::Info) => {
                    commands::cluster::info(&admin(&bootstrap).await?, output).await
                }
                Command::Cluster(ClusterCommand::Reassign(args)) => {
                    commands::reassign::reassign(&admin(&bootstrap).await?, args, output).await
                }
                Command::Cluster(ClusterCommand::Reassignments) => {
                    commands::reassign::list(&admin(&bootstrap).await?, output).await
                }
                Command::Cluster(ClusterCommand::Drain { broker, wait }) => {
                    commands::reassign::drain(&admin(&bootstrap).await?, broker, wait, output).await
                }
                Command::Group(cmd) => commands::group::run(&admin(&bootstrap).await?, cmd, output).await,
                Command::Txn(cmd) => commands::txn::run(&admin(&bootstrap).await?, cmd, output).await,
                Command::Acl(cmd) => commands::acl::run(&admin(&bootstrap).await?, cmd, output).await,
                Command::User(cmd) => commands::user::run(&admin(&bootstrap).await?, cmd, output).await,
                Command::Bench(BenchCommand::Produce(args)) => bench::produce::run(&bootstrap, args, output).await,
                Command::Bench(BenchCommand::Consume(args)) => bench::consume::run(&bootstrap, args, output).await,
                Command::Bench(BenchCommand::E2e(args)) => bench::e2e::run(&bootstrap, args, output).await,
                Command::Quota(cmd) => commands::quota::run(&admin(&bootstrap).await?, cmd, output).await,
                Command::Server(_) | Command::Bench(BenchCommand::Append(_)) | Command::Tls(_) => {
                    unreachable!("handled above")
                }
            }
        }),
    };
    if let Err(e) = result {
        // One line, no backtrace: the chain of causes joined.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn admin(bootstrap: &str) -> anyhow::Result<brook_client::admin::Admin> {
    brook_client::admin::Admin::new(bootstrap).await.with_context(|| format!("connecting to {bootstrap}"))
}

/// Runs a client command on a small runtime; logs only warnings.
fn client(work: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("BROOK_LOG").unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(work)
}

fn load_config(args: &ServerArgs) -> anyhow::Result<BrokerConfig> {
    let mut settings = Vec::new();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        settings.extend(config::parse_properties(&text).with_context(|| format!("in {}", path.display()))?);
    }
    settings.extend(config::from_env(std::env::vars())?);
    for item in &args.set {
        let (name, value) = item.split_once('=').with_context(|| format!("--set expects NAME=VALUE, got '{item}'"))?;
        settings.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(BrokerConfig::from_settings(&settings)?)
}

fn server(args: ServerArgs) -> anyhow::Result<()> {
    if args.print_config {
        for (name, default, doc) in config::property_table() {
            println!("{name}={default}\t# {doc}");
        }
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("BROOK_LOG").unwrap_or_else(|_| EnvFilter::new("info,openraft=warn")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = load_config(&args).context("invalid configuration")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        // The admin listener answers /health/live (and "not ready") while the node starts.
        let admin = brook_broker::admin_http::AdminState::new();
        if let Some(listener) = brook_broker::admin_http::bind(&config.admin_http).await? {
            tokio::spawn(brook_broker::admin_http::serve(listener, admin.clone()));
        }
        let broker = tokio::select! {
            started = brook_broker::Node::start(config) => started.context("starting the node")?,
            _ = shutdown_signal() => return Ok(()),
        };
        admin.set_node(broker.clone());
        let listener = if broker.config.is_broker {
            Some(brook_broker::server::bind(&broker).await.context("binding the listener")?)
        } else {
            None
        };
        brook_broker::server::run(broker, listener, shutdown_signal()).await.map_err(|e| anyhow::anyhow!(e))?;
        Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

/// Reads `--command-config` and makes its security settings every client's default.
fn apply_command_config(path: &std::path::Path) -> anyhow::Result<()> {
    use brook_security::client_properties::{parse_properties_file, ClientSecurity};
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let pairs = parse_properties_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let security = ClientSecurity::from_properties(&pairs).with_context(|| format!("{}", path.display()))?;
    if security.protocol.uses_sasl() {
        // sasl.mechanism, sasl.jaas.config or sasl.username/sasl.password.
        let sasl = brook_security::sasl::client_config::SaslClientConfig::from_properties(&pairs)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        brook_client::cluster::set_default_sasl(sasl);
    }
    if let Some(tls) = security.tls_config().with_context(|| format!("{}", path.display()))? {
        brook_client::cluster::set_default_tls(tls);
    }
    Ok(())
}
