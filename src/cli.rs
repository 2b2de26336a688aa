//! Command-line flags (clap). Parsing only: each subcommand's work lives in `command/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "dsctl",
    version,
    about = "Kubernetes-style DaemonSets for bare Linux hosts over SSH"
)]
pub struct Cli {
    /// More logging (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check DaemonSet specs (and an inventory, if given) offline; exit 2 on any error.
    Validate(ValidateArgs),
    /// Show, offline, where each DaemonSet runs and why.
    Explain(ExplainArgs),
    /// Print the units that would be written to a host, with their target paths.
    Render(RenderArgs),
    /// Converge every targeted host to the specs.
    Apply(ApplyArgs),
    /// Show what apply would change, per host (exit 0 in sync, 1 drift, >1 error).
    Diff(ApplyArgs),
    /// List DaemonSets or pods, read live from the hosts.
    Get(GetArgs),
    /// Remove DaemonSets (or one host's instance) from the hosts.
    Delete(DeleteArgs),
    /// Show one DaemonSet in detail, read live from the hosts: counts, strategy, pod template,
    /// placement per host with the reason, rollout state and recent events.
    Describe(DescribeArgs),
    /// Manage rollouts: status, history, undo, restart, resume.
    Rollout(RolloutArgs),
    /// Print the containers' logs from every host running a DaemonSet, merged in time order.
    Logs(LogsArgs),
    /// Run a command in the instance of a DaemonSet on a host (podman exec over SSH).
    ///
    /// `-i` is stdin here, as in kubectl exec; give the inventory as `--inventory` (or
    /// DSCTL_INVENTORY).
    #[command(mut_arg("inventory", |a| a.short(None)))]
    Exec(ExecArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion(CompletionArgs),
    /// Print the man page (or write one page per command into a directory).
    Man(ManArgs),
    /// Write Kubernetes YAML manifests as dsctl TOML, one file per object.
    Convert(ConvertArgs),
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The DaemonSet.
    pub daemonset: String,
    /// Only this container (init containers too); default: every container.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Only this host (same as `-l HOST`).
    #[arg(long, conflicts_with = "limit")]
    pub host: Option<String>,
    /// Follow: keep printing new lines from every host (a host that drops is picked up again).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only lines newer than this (5s, 2m, 3h).
    #[arg(long)]
    pub since: Option<String>,
    /// Last lines per host (-1: all; default all with --host, else 10 per host, as kubectl -l).
    #[arg(long, allow_negative_numbers = true)]
    pub tail: Option<i64>,
    /// Start each line with its RFC 3339 time.
    #[arg(long)]
    pub timestamps: bool,
    /// The previous terminated instance of each container (the one before a restart or crash).
    #[arg(short = 'p', long, conflicts_with = "follow")]
    pub previous: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
#[command(
    override_usage = "dsctl exec HOST DAEMONSET [-c CONTAINER] [-i] [-t] -- COMMAND...\n       \
                            dsctl exec -l SELECTOR DAEMONSET [-c CONTAINER] -- COMMAND..."
)]
pub struct ExecArgs {
    /// `HOST DAEMONSET`, or `DAEMONSET` with -l.
    #[arg(required = true, num_args = 1..=2)]
    pub target: Vec<String>,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
    /// The container (default: the first app container).
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Pass stdin to the command.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Give the command a terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write dsctl.1 and one dsctl-COMMAND.1 per command into this directory.
    #[arg(short = 'o', long)]
    pub out_dir: Option<PathBuf>,
}

/// Spec files or directories of them.
#[derive(Debug, Args, Clone)]
pub struct SpecArgs {
    /// A DaemonSet TOML or Kubernetes YAML file (`---` between objects), or a directory of
    /// *.toml/*.yaml/*.yml files (repeatable).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct InventoryArg {
    /// The inventory TOML.
    #[arg(
        short,
        long,
        default_value = "inventory/hosts.toml",
        env = "DSCTL_INVENTORY"
    )]
    pub inventory: PathBuf,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub specs: SpecArgs,
    /// Also validate this inventory.
    #[arg(short, long)]
    pub inventory: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// A Kubernetes YAML file, `---` between objects (repeatable).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Write one NAME.toml per object into this directory (created if missing). Without it,
    /// the TOML of the one object goes to stdout.
    #[arg(short = 'o', long = "output-dir")]
    pub output_dir: Option<PathBuf>,
    /// Replace files that already exist in the output directory.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub specs: SpecArgs,
    #[command(flatten)]
    pub inventory: InventoryArg,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    pub output: TableOrJson,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub specs: SpecArgs,
    #[command(flatten)]
    pub inventory: InventoryArg,
    /// Only this host (default: every host that should run a DaemonSet).
    #[arg(long)]
    pub host: Option<String>,
    /// Directory of handlebars templates overriding the embedded ones.
    #[arg(long, env = "DSCTL_TEMPLATES")]
    pub templates: Option<PathBuf>,
}

/// What every command that talks to hosts shares.
#[derive(Debug, Args, Clone)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub inventory: InventoryArg,
    /// Only hosts matching this label selector (e.g. `zone=a,disktype!=hdd`) or host name.
    #[arg(short = 'l', long = "limit")]
    pub limit: Option<String>,
    /// Hosts contacted at once.
    #[arg(long, default_value_t = 64)]
    pub parallel: usize,
    /// Seconds to wait for a TCP connection and SSH handshake.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
    /// Seconds one command on a host may run (observe, pull, host script) before the host is
    /// reported as hung; the other hosts go on.
    #[arg(long, default_value_t = 600)]
    pub exec_timeout: u64,
    /// Learn unknown host keys into known_hosts (never accepts a changed key).
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Seconds to wait for another dsctl's lock on a host.
    #[arg(long, default_value_t = 60)]
    pub lock_timeout: u64,
}

#[derive(Debug, Args, Clone)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub specs: SpecArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Observe and plan, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove DaemonSets the hosts hold but the specs no longer name.
    #[arg(long)]
    pub prune: bool,
    /// Directory of handlebars templates overriding the embedded ones.
    #[arg(long, env = "DSCTL_TEMPLATES")]
    pub templates: Option<PathBuf>,
    #[arg(short, long, value_enum, default_value_t = TextOrJson::Text)]
    pub output: TextOrJson,
    /// Print SSH connections and exec round trips per host.
    #[arg(long)]
    pub stats: bool,
    /// apply: start no disruptive wave when more than N (or P%) of the targeted hosts are
    /// unreachable (counted across the fleet); the unreachable hosts are named.
    #[arg(long, value_name = "N|P%")]
    pub max_unreachable: Option<crate::unreachable::MaxUnreachable>,
    /// apply: write node-exporter textfile metrics here (hosts in sync, drifted, unreachable,
    /// failed; the run's duration and time), atomically.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// apply: keep running: re-check every host each --interval over a kept connection, heal
    /// drift, reload changed spec and inventory files, log one line per change; SIGTERM stops.
    #[arg(long)]
    pub watch: bool,
    /// With --watch: how often each host is checked (5s, 500ms, 2m).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::interval::parse_interval)]
    pub interval: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[arg(value_enum)]
    pub what: GetWhat,
    /// Only this DaemonSet.
    pub name: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// text: kubectl's columns; wide: and its -o wide extras (and dsctl's); json.
    #[arg(short, long, value_enum, default_value_t = GetOutput::Text)]
    pub output: GetOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GetOutput {
    Text,
    Wide,
    Json,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    #[arg(value_enum)]
    pub what: DescribeWhat,
    /// The DaemonSet.
    pub name: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DescribeWhat {
    #[value(alias = "daemonsets", alias = "daemonset")]
    Ds,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GetWhat {
    #[value(alias = "daemonsets", alias = "daemonset")]
    Ds,
    #[value(alias = "pod")]
    Pods,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// `ds NAME…` or `pod HOST DS`; or use -f.
    pub target: Vec<String>,
    /// Delete the DaemonSets these specs name.
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[arg(short, long, value_enum, default_value_t = TextOrJson::Text)]
    pub output: TextOrJson,
}

#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[arg(value_enum)]
    pub action: RolloutAction,
    /// The DaemonSet.
    pub name: String,
    /// history: show this revision's spec.
    #[arg(long)]
    pub revision: Option<u64>,
    /// undo: go back to this revision (default: the one before the newest).
    #[arg(long)]
    pub to_revision: Option<u64>,
    /// status: give up after this many seconds (default: the progress deadline).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// status: report once instead of following the rollout.
    #[arg(long)]
    pub no_watch: bool,
    /// Directory of handlebars templates overriding the embedded ones.
    #[arg(long, env = "DSCTL_TEMPLATES")]
    pub templates: Option<PathBuf>,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[arg(short, long, value_enum, default_value_t = TextOrJson::Text)]
    pub output: TextOrJson,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RolloutAction {
    /// Follow the rollout: "X of Y updated hosts are available"; non-zero when it halted.
    Status,
    /// List the revisions the hosts keep (or one revision's spec with --revision).
    History,
    /// Roll back (a rolling update) to the previous revision or --to-revision.
    Undo,
    /// Restart every instance, within maxUnavailable and health-gated, with no spec change.
    Restart,
    /// Continue a partitioned, canary or paused rollout to every host.
    Resume,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableOrJson {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks (clashing short flags and the like), which otherwise
    /// panic only when the broken subcommand is first run.
    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
