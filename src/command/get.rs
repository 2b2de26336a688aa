use serde_json::json;

use crate::apply::{self, Desired};
use crate::cli::{GetArgs, GetWhat, TextOrJson};
use crate::command::hosts;
use crate::status::{self, age, table};

pub fn run(args: GetArgs) -> anyhow::Result<i32> {
    let targets = match hosts::targets(&args.connect) {
        Ok(hosts) => hosts,
        Err(code) => return Ok(code),
    };
    let settings = hosts::settings(&args.connect, true, false, true);
    let runs = hosts::runtime().block_on(apply::run(
        &targets,
        &Desired::Nothing,
        &settings,
        hosts::connector(&args.connect),
    ));
    let mut failed = false;
    let mut observed = Vec::new();
    for (host, run) in targets.iter().zip(&runs) {
        match &run.observation {
            Some(obs) => observed.push((host, obs)),
            None => {
                failed = true;
                if let apply::Outcome::Unreachable(e) | apply::Outcome::Failed(e) = &run.outcome {
                    crate::errln!("{}: UNREACHABLE: {e}", run.host);
                }
            }
        }
    }
    let only = args.name.as_deref();
    match (args.what, args.output) {
        (GetWhat::Ds, TextOrJson::Json) => {
            crate::outln!(
                "{:#}",
                json!({ "daemonsets": status::daemonsets(&observed, only) })
            )?;
        }
        (GetWhat::Ds, TextOrJson::Text) => {
            let rows: Vec<Vec<String>> = status::daemonsets(&observed, only)
                .into_iter()
                .map(|r| {
                    vec![
                        r.name,
                        r.desired.to_string(),
                        r.current.to_string(),
                        r.ready.to_string(),
                        r.up_to_date.to_string(),
                        r.available.to_string(),
                        r.node_selector,
                        age(r.age_seconds),
                    ]
                })
                .collect();
            let header = [
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE",
            ];
            crate::out!("{}", table(&header, &rows))?;
        }
        (GetWhat::Pods, TextOrJson::Json) => {
            crate::outln!("{:#}", json!({ "pods": status::pods(&observed, only) }))?
        }
        (GetWhat::Pods, TextOrJson::Text) => {
            let rows: Vec<Vec<String>> = status::pods(&observed, only)
                .into_iter()
                .map(|p| {
                    vec![
                        p.host,
                        p.daemonset,
                        p.state,
                        p.revision.unwrap_or_else(|| "-".into()),
                        p.restarts.to_string(),
                        age(p.age_seconds),
                    ]
                })
                .collect();
            crate::out!(
                "{}",
                table(
                    &["HOST", "DAEMONSET", "STATE", "REVISION", "RESTARTS", "AGE"],
                    &rows
                )
            )?;
        }
    }
    Ok(i32::from(failed))
}
