//! `dsctl rollout status|history|undo|restart|resume NAME`: everything is read from the hosts'
//! records, so no spec file is needed and two laptops see the same history.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::apply::{self, DEFAULT_PROGRESS_DEADLINE_SECS, Desired, HostRun, Settings};
use crate::cli::{RolloutAction, RolloutArgs, TextOrJson};
use crate::command::hosts;
use crate::daemonset::DaemonSet;
use crate::inventory::Host;
use crate::observe::Observation;
use crate::report;
use crate::status::{self, table};
use crate::trusted_spec::{self, Pick};

pub fn run(args: RolloutArgs) -> anyhow::Result<i32> {
    let targets = match hosts::targets(&args.connect) {
        Ok(hosts) => hosts,
        Err(code) => return Ok(code),
    };
    let runtime = hosts::runtime();
    let full = matches!(args.action, RolloutAction::History | RolloutAction::Undo);
    let observe = |targets: &[Host]| {
        let settings = hosts::settings(&args.connect, true, false, full);
        runtime.block_on(apply::run(
            targets,
            &Desired::Nothing,
            &settings,
            hosts::connector(&args.connect),
        ))
    };
    match args.action {
        RolloutAction::Status => status(&args, &targets, observe),
        RolloutAction::History => history(&args, &targets, &observe(&targets)),
        RolloutAction::Undo | RolloutAction::Restart | RolloutAction::Resume => {
            let runs = observe(&targets);
            let spec = target_spec(&args, &targets, &runs)?;
            let mut settings = hosts::settings(&args.connect, false, false, false);
            settings.progress = crate::progress::for_output(args.output == TextOrJson::Json).into();
            match args.action {
                RolloutAction::Restart => settings.restart = Some(args.name.clone()),
                _ => settings.lift_halt = Some(args.name.clone()),
            }
            roll(&args, &targets, spec, &settings, &runtime)
        }
    }
}

fn observed<'a>(targets: &'a [Host], runs: &'a [HostRun]) -> Vec<(&'a Host, &'a Observation)> {
    targets
        .iter()
        .zip(runs)
        .filter_map(|(h, r)| Some((h, r.observation.as_ref()?)))
        .collect()
}

fn unreachable(runs: &[HostRun]) -> Vec<String> {
    runs.iter()
        .filter(|r| r.observation.is_none())
        .map(|r| match &r.outcome {
            apply::Outcome::Unreachable(e) | apply::Outcome::Failed(e) => {
                format!("{}: {e}", r.host)
            }
            _ => r.host.clone(),
        })
        .collect()
}

/// Follows the rollout until every desired host runs the newest revision and is available.
fn status(
    args: &RolloutArgs,
    targets: &[Host],
    observe: impl Fn(&[Host]) -> Vec<HostRun>,
) -> anyhow::Result<i32> {
    let started = Instant::now();
    loop {
        let runs = observe(targets);
        let observed = observed(targets, &runs);
        let Some(row) = status::daemonsets(&observed, Some(&args.name)).pop() else {
            bail!("daemonset {:?} is on none of the targeted hosts", args.name);
        };
        let halted: Vec<String> = observed
            .iter()
            .filter_map(|(h, o)| {
                Some(format!(
                    "{}: {}",
                    h.name,
                    o.daemonsets.get(&args.name)?.halted.as_deref()?.trim()
                ))
            })
            .collect();
        if !halted.is_empty() {
            crate::outln!(
                "daemon set {:?} rollout halted:\n  {}",
                args.name,
                halted.join("\n  ")
            )?;
            return Ok(1);
        }
        let down = unreachable(&runs);
        if row.up_to_date == row.desired && row.available == row.desired && down.is_empty() {
            crate::outln!(
                "daemon set {:?} successfully rolled out ({} hosts)",
                args.name,
                row.desired
            )?;
            return Ok(0);
        }
        crate::outln!(
            "Waiting for daemon set {:?} rollout to finish: {} of {} updated hosts are available...",
            args.name,
            row.available.min(row.up_to_date),
            row.desired
        )?;
        for host in &down {
            crate::outln!("  unreachable: {host}")?;
        }
        let limit = args.timeout.unwrap_or_else(|| {
            status::newest_spec(&observed, &args.name)
                .and_then(|s| s.dsctl.and_then(|x| x.progress_deadline_seconds))
                .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECS)
        });
        if args.no_watch
            || crate::output::reader_gone()
            || started.elapsed() >= Duration::from_secs(limit)
        {
            return Ok(1);
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn history(args: &RolloutArgs, targets: &[Host], runs: &[HostRun]) -> anyhow::Result<i32> {
    let observed = observed(targets, runs);
    let rows = status::history(&observed, &args.name);
    if rows.is_empty() {
        bail!(
            "daemonset {:?} has no recorded revisions on the targeted hosts",
            args.name
        );
    }
    if let Some(number) = args.revision {
        let row = rows
            .iter()
            .find(|r| r.number == number)
            .with_context(|| format!("no revision {number}"))?;
        let json = row
            .spec_json
            .as_deref()
            .context("no host keeps that revision's spec")?;
        let ds: DaemonSet = serde_json::from_str(json)?;
        crate::outln!(
            "daemonset/{} with revision #{number} ({})",
            args.name,
            row.revision
        )?;
        crate::out!("{}", toml::to_string(&ds.spec.template)?)?;
        return Ok(0);
    }
    if args.output == TextOrJson::Json {
        crate::outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(0);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let cause = match (r.cause.is_empty(), r.objects.is_empty()) {
                (true, true) => "<none>".to_string(),
                (false, true) => r.cause.clone(),
                (true, false) => r.objects.join(", "),
                (false, false) => format!("{} ({})", r.cause, r.objects.join(", ")),
            };
            vec![
                r.number.to_string(),
                r.revision.clone(),
                r.hosts.to_string(),
                cause,
            ]
        })
        .collect();
    crate::outln!("daemonset/{}", args.name)?;
    crate::out!(
        "{}",
        table(&["REVISION", "HASH", "HOSTS", "CHANGE-CAUSE"], &cells)
    )?;
    Ok(i32::from(!unreachable(runs).is_empty()))
}

/// The spec the rollout goes to: a kept revision (undo), or the newest one (restart, resume),
/// with dsctl's partition, canary and pause lifted for resume.
fn target_spec(
    args: &RolloutArgs,
    targets: &[Host],
    runs: &[HostRun],
) -> anyhow::Result<DaemonSet> {
    let observed = observed(targets, runs);
    let records: Vec<(&str, &crate::observe::RecordedDaemonSet)> = observed
        .iter()
        .filter_map(|(h, o)| Some((h.name.as_str(), o.daemonsets.get(&args.name)?)))
        .collect();
    if records.is_empty() {
        bail!("daemonset {:?} is on none of the targeted hosts", args.name);
    }
    // Specs come back from hosts: applied only once valid, matching their revision and agreed.
    let trusted = |pick| trusted_spec::trusted_spec(&records, &args.name, pick);
    let newest = trusted(Pick::Newest)?.daemonset;
    match args.action {
        RolloutAction::Undo => {
            let rows = status::history(&observed, &args.name);
            let current = rows.iter().map(|r| r.number).max().unwrap_or(0);
            let row = match args.to_revision {
                Some(n) => rows.iter().find(|r| r.number == n),
                None => rows.iter().rev().find(|r| r.number < current),
            }
            .context("no earlier revision is kept on the hosts (revisionHistoryLimit)")?;
            let mut ds = trusted(Pick::Number(row.number))?.daemonset;
            // Go back in the template only: strategy and extensions stay as they are now.
            ds.spec.update_strategy = newest.spec.update_strategy.clone();
            ds.dsctl = newest.dsctl.clone();
            ds.metadata.annotations.insert(
                crate::intent::CHANGE_CAUSE.to_string(),
                format!("rollout undo to revision {}", row.number),
            );
            Ok(ds)
        }
        RolloutAction::Resume => {
            let mut ds = newest;
            if let Some(ext) = ds.dsctl.as_mut() {
                ext.partition = None;
                ext.canary_selector = None;
                ext.paused = false;
            }
            Ok(ds)
        }
        _ => Ok(newest),
    }
}

fn roll(
    args: &RolloutArgs,
    targets: &[Host],
    spec: DaemonSet,
    settings: &Settings,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<i32> {
    let templates = match hosts::templates(args.templates.as_deref()) {
        Ok(templates) => templates,
        Err(code) => return Ok(code),
    };
    let specs = [spec];
    let desired = Desired::Specs {
        specs: &specs,
        templates: &templates,
    };
    let runs = runtime.block_on(apply::run(
        targets,
        &desired,
        settings,
        hosts::connector(&args.connect),
    ));
    Ok(report::print(&runs, args.output, false)?)
}
