//! Ownership by record, not by name (issue 12, item 2), on one Debian 13 and one Debian 12
//! host: DaemonSet `node` with container `exporter-agent` and DaemonSet `node-exporter` with
//! container `main` once shared the unit prefix `dsctl-node-exporter-`; they coexist across
//! applies, and deleting either leaves the other serving.

use crate::harness::*;

const NODE: &str = "node";
const EXPORTER: &str = "node-exporter";
const NODE_PORT: u16 = 8690;
const EXPORTER_PORT: u16 = 8691;

/// The test web image as DaemonSet `name` with its one container named `container`.
fn spec(name: &str, container: &str, port: u16) -> String {
    web_spec(name, "1", port, &[]).replace("name = \"web\"", &format!("name = \"{container}\""))
}

/// Does every host serve on `port`?
fn all_serve(hosts: &[FleetHost], port: u16) -> bool {
    hosts
        .iter()
        .all(|h| http_get(&h.address, port, "/").is_some_and(|(status, _)| status == 200))
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn daemonsets_whose_names_once_shared_a_prefix_coexist_across_applies_and_deletes() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let mut hosts = fleet.of_suite("trixie", 1);
    hosts.extend(fleet.of_suite("bookworm", 1));
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&[NODE, EXPORTER]);
    let node = scene.spec("node.toml", &spec(NODE, "exporter-agent", NODE_PORT));
    let exporter = scene.spec("exporter.toml", &spec(EXPORTER, "main", EXPORTER_PORT));
    let both = ["apply", "-f", path_str(&node), "-f", path_str(&exporter)];

    let out = scene.dsctl(&both);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(all_serve(&hosts, NODE_PORT) && all_serve(&hosts, EXPORTER_PORT));
    // Applied again, and then each alone: nothing of either is touched.
    for args in [
        both.to_vec(),
        vec!["apply", "-f", path_str(&node)],
        vec!["apply", "-f", path_str(&exporter)],
    ] {
        // Quiet for cron: an apply that changes nothing prints nothing.
        let out = scene.dsctl(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), "", "{args:?}");
        assert!(all_serve(&hosts, NODE_PORT) && all_serve(&hosts, EXPORTER_PORT));
    }

    // A delete of either leaves the other serving, and the next apply of it changes nothing.
    for (gone, gone_port, kept, kept_spec, kept_port) in [
        (EXPORTER, EXPORTER_PORT, NODE, &node, NODE_PORT),
        (NODE, NODE_PORT, EXPORTER, &exporter, EXPORTER_PORT),
    ] {
        let out = scene.dsctl(&["delete", "ds", gone]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            hosts
                .iter()
                .all(|h| http_get(&h.address, gone_port, "/").is_none()),
            "{gone} still serves"
        );
        assert!(all_serve(&hosts, kept_port), "{kept} went with {gone}");
        let out = scene.dsctl(&["apply", "-f", path_str(kept_spec)]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), "", "{kept} changed after {gone} was deleted");
        // Put back for the second round.
        if gone == EXPORTER {
            let out = scene.dsctl(&["apply", "-f", path_str(&exporter)]);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        }
    }
}
