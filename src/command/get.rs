use serde_json::json;

use crate::cli::{GetArgs, GetOutput, GetWhat};
use crate::command::hosts;
use crate::status::{self, Columns};

pub fn run(args: GetArgs) -> anyhow::Result<i32> {
    let targets = match hosts::targets(&args.connect) {
        Ok(hosts) => hosts,
        Err(code) => return Ok(code),
    };
    let runs = hosts::observe(&args.connect, &targets);
    let (observed, unreachable) = hosts::observed(&targets, &runs);
    for (host, why) in &unreachable {
        crate::errln!("{host}: UNREACHABLE: {why}");
    }
    let only = args.name.as_deref();
    let columns = match args.output {
        GetOutput::Wide => Columns::Wide,
        _ => Columns::Normal,
    };
    match (args.what, args.output) {
        (GetWhat::Ds, GetOutput::Json) => crate::outln!(
            "{:#}",
            json!({ "daemonsets": status::daemonsets(&observed, only) })
        )?,
        (GetWhat::Ds, _) => crate::out!(
            "{}",
            status::daemonsets_table(&status::daemonsets(&observed, only), columns)
        )?,
        (GetWhat::Pods, GetOutput::Json) => {
            crate::outln!("{:#}", json!({ "pods": status::pods(&observed, only) }))?
        }
        (GetWhat::Pods, _) => crate::out!(
            "{}",
            status::pods_table(&status::pods(&observed, only), columns)
        )?,
    }
    Ok(i32::from(!unreachable.is_empty()))
}
