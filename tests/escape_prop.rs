//! Property tests: every string that reaches a unit reaches the container's argv unchanged and
//! never starts a second unit line or a second command. Each rendered unit is read back with
//! `oracle` (ports of systemd's and Quadlet's own parsers), and, where `systemd-analyze` is
//! installed, checked by systemd itself.

mod oracle;

use std::collections::BTreeMap;

use dsctl::daemonset::{
    Container, DaemonSet, EnvVar, ExecAction, HostPathVolumeSource, Probe, SecurityContext, Volume,
    VolumeMount,
};
use dsctl::escape;
use dsctl::expansion;
use dsctl::host_facts::HostFacts;
use dsctl::inventory::UnitFlavor;
use dsctl::layout::{Instance, Role};
use dsctl::render::{self, ContainerPlan, RenderError, Templates, Word};
use oracle::{Dialect, Specifiers};
use proptest::prelude::*;

/// Characters that mean something to systemd, Quadlet, a shell or podman's option parsers.
const HOSTILE: &[&str] = &[
    "\"",
    "'",
    "\\",
    "$",
    "%",
    ";",
    " ",
    "\n",
    "\r",
    "\t",
    "{",
    "}",
    "#",
    "[",
    "]",
    "=",
    ",",
    "&",
    "|",
    "`",
    "(",
    ")",
    "$$",
    "%%",
    "%n",
    "%t",
    "${HOME}",
    "$HOME",
    "\\;",
    "\\x41",
    "\\n",
    "\\\n",
    "\u{1}",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "\u{2028}",
    "☃",
    "é",
    "a",
    "n",
    "x",
    "0",
    "-",
    "/",
    ".",
    "--rm",
    "ExecStart=/bin/sh",
    "[Service]",
];

fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(HOSTILE), 0..12).prop_map(|parts| parts.concat()),
        2 => any::<String>().prop_map(|s| s.replace('\0', "")),
        1 => prop::sample::select(vec!["", ";", " ; ", "\\;", "$", "%", "\"", "\\", "\n", "--", "-"]).prop_map(String::from),
    ]
}

/// Absolute paths without `:` (the one character podman's `-v` cannot carry).
fn hostile_path() -> impl Strategy<Value = String> {
    hostile().prop_map(|s| format!("/{}", s.replace(':', "")))
}

/// What validation lets through as a DaemonSet or container name: a DNS-1123 label.
fn dns_label() -> impl Strategy<Value = String> {
    "[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?"
}

fn non_empty_name() -> impl Strategy<Value = String> {
    hostile().prop_map(|s| format!("N{}", s.replace('=', "")))
}

fn env_spec(c: &str) -> Specifiers {
    Specifiers {
        unit: format!("{c}.service"),
    }
}

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn test_env() -> BTreeMap<Vec<u8>, Vec<u8>> {
    [("HOME", "/root"), ("N", "expanded"), ("x", "X")]
        .iter()
        .map(|(k, v)| (bytes(k), bytes(v)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// systemd splits an escaped command line back into exactly the argv, with no expansion.
    #[test]
    fn exec_line_round_trips(argv in prop::collection::vec(hostile(), 0..6)) {
        let line = format!("/bin/true {}", escape::exec_line(&argv).unwrap());
        prop_assert!(!line.contains('\n') && !line.contains('\r'));
        let commands = oracle::parse_exec(line.as_bytes(), &env_spec("t")).unwrap();
        prop_assert_eq!(commands.len(), 1);
        let argv_after_env = oracle::replace_env_argv(&commands[0].argv, &test_env());
        let want: Vec<Vec<u8>> = std::iter::once(bytes("/bin/true")).chain(argv.iter().map(|a| bytes(a))).collect();
        prop_assert_eq!(argv_after_env, want);
    }

    /// The same through a whole unit file: one line, one ExecStart=, one command.
    #[test]
    fn exec_line_is_one_unit_line(argv in prop::collection::vec(hostile(), 1..4)) {
        let unit = format!("[Service]\nExecStart=/bin/true {}\nType=oneshot\n", escape::exec_line(&argv).unwrap());
        let parsed = oracle::parse_service(unit.as_bytes(), "t.service").unwrap();
        let keys: Vec<&str> = parsed.assignments.iter().map(|a| a.key.as_str()).collect();
        prop_assert_eq!(keys, vec!["ExecStart", "Type"]);
        prop_assert_eq!(parsed.exec["ExecStart"].len(), 1);
        prop_assert_eq!(&parsed.exec["ExecStart"][0].argv[1..], &argv.iter().map(|a| bytes(a)).collect::<Vec<_>>()[..]);
    }

    /// Quadlet splits a word, re-joins it into the generated ExecStart=, and systemd splits that
    /// back into the same word.
    #[test]
    fn quadlet_words_round_trip(words in prop::collection::vec(hostile(), 1..5)) {
        let escaped: Result<Vec<String>, _> = words.iter().map(|w| escape::quadlet_word(w)).collect();
        match escaped {
            Err(_) => {
                let refusable = words.iter().any(|w| w.is_empty() || w == ";" || w.contains('\u{80}'));
                prop_assert!(refusable, "refused {:?}", words);
            }
            Ok(escaped) => {
                let container = format!("[Container]\nImage=img\nExec={}\n", escaped.join(" "));
                let service = oracle::quadlet_generate(&container, "t.container").unwrap();
                let parsed = oracle::parse_service(service.as_bytes(), "t.service").unwrap();
                let start = &parsed.exec["ExecStart"];
                prop_assert_eq!(start.len(), 1, "{}", service);
                let argv = &start[0].argv;
                let img = argv.iter().position(|w| w == b"img").unwrap();
                prop_assert_eq!(&argv[img + 1..], &words.iter().map(|a| bytes(a)).collect::<Vec<_>>()[..]);
            }
        }
    }

    /// `Environment=` assignments come back whole, with `$` untouched and no specifiers.
    #[test]
    fn environment_assignments_round_trip(name in non_empty_name(), value in hostile()) {
        let rvalue = escape::environment_assignment(&name, &value).unwrap();
        let parsed = oracle::parse_environment(rvalue.as_bytes(), &env_spec("t")).unwrap();
        prop_assert_eq!(parsed, vec![(bytes(&name), bytes(&value))]);
    }

    /// Comments and plain values never leave their line.
    #[test]
    fn plain_values_stay_on_their_line(value in hostile()) {
        let unit = format!("#{}\n[Unit]\nDescription={}\n", escape::comment_text(&value), escape::unit_value_plain(&value));
        let parsed = oracle::parse_unit_file(unit.as_bytes()).unwrap();
        prop_assert_eq!(parsed.len(), 1);
        prop_assert_eq!(&parsed[0].key, "Description");
    }
}

#[test]
fn nul_is_refused_everywhere() {
    assert!(escape::exec_word("a\0b").is_err());
    assert!(escape::quadlet_word("a\0b").is_err());
    assert!(escape::environment_assignment("A", "\0").is_err());
}

/// Every string field of a container that reaches a unit.
#[derive(Debug, Clone)]
struct Hostile {
    ds: String,
    container: String,
    revision: String,
    image: String,
    command: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    host_path: String,
    mount_path: String,
    working_dir: String,
    label: (String, String),
    probe: Vec<String>,
}

/// Images without the characters no image reference holds (those are refused: see
/// `hostile_images_are_refused_not_mangled`).
fn hostile_image() -> impl Strategy<Value = String> {
    hostile().prop_map(|s| {
        let kept: String = s
            .chars()
            .filter(|c| !(c.is_whitespace() || c.is_control() || "\"'\\".contains(*c)))
            .collect();
        format!("img{kept}")
    })
}

fn hostile_spec() -> impl Strategy<Value = Hostile> {
    (
        // Revisions are hex (revision.rs): they are part of every name, never free text.
        (dns_label(), dns_label(), "[0-9a-f]{1,10}", hostile_image()),
        (
            prop::collection::vec(hostile(), 0..3),
            prop::collection::vec(hostile(), 0..4),
        ),
        prop::collection::vec((non_empty_name(), hostile()), 0..3),
        (hostile_path(), hostile_path(), hostile_path()),
        (
            (non_empty_name(), hostile()),
            prop::collection::vec(hostile(), 1..3),
        ),
    )
        .prop_map(
            |(
                (ds, container, revision, image),
                (command, args),
                env,
                (host_path, mount_path, working_dir),
                (label, probe),
            )| Hostile {
                ds,
                container,
                revision,
                image,
                command,
                args,
                env,
                host_path,
                mount_path,
                working_dir,
                label,
                probe,
            },
        )
}

fn daemonset(h: &Hostile) -> DaemonSet {
    let mut ds: DaemonSet = toml::from_str(
        r#"
apiVersion = "apps/v1"
kind = "DaemonSet"
metadata = { name = "x" }
[spec]
selector = { matchLabels = { app = "x" } }
template = { metadata = { labels = { app = "x" } }, spec = { containers = [] } }
"#,
    )
    .unwrap();
    ds.metadata.name = h.ds.clone();
    ds.spec
        .template
        .metadata
        .labels
        .insert(h.label.0.clone(), h.label.1.clone());
    let pod = &mut ds.spec.template.spec;
    pod.volumes.push(Volume {
        name: "host".into(),
        host_path: Some(HostPathVolumeSource {
            path: h.host_path.clone(),
            kind: Some("DirectoryOrCreate".into()),
        }),
        empty_dir: None,
        config_map: None,
        secret: None,
        persistent_volume_claim: None,
        projected: None,
        downward_api: None,
    });
    pod.containers.push(Container {
        name: h.container.clone(),
        image: h.image.clone(),
        command: h.command.clone(),
        args: h.args.clone(),
        working_dir: Some(h.working_dir.clone()),
        env: h
            .env
            .iter()
            .map(|(n, v)| EnvVar {
                name: n.clone(),
                value: v.clone(),
                value_from: None,
            })
            .collect(),
        volume_mounts: vec![VolumeMount {
            name: "host".into(),
            mount_path: h.mount_path.clone(),
            read_only: true,
            sub_path: None,
            sub_path_expr: None,
            mount_propagation: None,
        }],
        security_context: Some(SecurityContext {
            privileged: Some(true),
            ..Default::default()
        }),
        liveness_probe: Some(Probe {
            http_get: None,
            tcp_socket: None,
            exec: Some(ExecAction {
                command: h.probe.clone(),
            }),
            grpc: None,
            initial_delay_seconds: 5,
            period_seconds: 10,
            timeout_seconds: 1,
            success_threshold: 1,
            failure_threshold: 3,
            termination_grace_period_seconds: None,
        }),
        ..Default::default()
    });
    ds
}

/// The argv `service_exec_start` promises: fixed words with their specifiers resolved, values raw.
fn resolved(words: &[Word], unit: &str) -> Vec<Vec<u8>> {
    let spec = env_spec(unit.trim_end_matches(".service"));
    words
        .iter()
        .map(|w| match w {
            Word::Fixed(s) => spec.resolve(s.as_bytes()).unwrap(),
            Word::Value(s) => bytes(s),
        })
        .collect()
}

fn has_pair(argv: &[Vec<u8>], flag: &str, value: &str) -> bool {
    argv.windows(2)
        .any(|w| w[0] == flag.as_bytes() && w[1] == value.as_bytes())
}

/// The host every hostile spec renders for.
fn host() -> HostFacts {
    HostFacts {
        node_name: "node-1".into(),
        ..Default::default()
    }
}

/// The env, command and args as `$(VAR)` expansion leaves them (the kubelet's rules; their own
/// table is in `expansion.rs`): what must reach the container unchanged.
struct Expanded {
    env: Vec<(String, String)>,
    command: Vec<String>,
    args: Vec<String>,
}

fn expanded(h: &Hostile) -> Expanded {
    let mut declared = std::collections::HashMap::new();
    let mut env = Vec::new();
    for (n, v) in &h.env {
        let value = expansion::expand(v, &[&declared]);
        declared.insert(n.clone(), value.clone());
        env.push((n.clone(), value));
    }
    let vars = expansion::env_map(&env);
    let all = |list: &[String]| {
        list.iter()
            .map(|s| expansion::expand(s, &[&vars]))
            .collect()
    };
    Expanded {
        command: all(&h.command),
        args: all(&h.args),
        env,
    }
}

/// What must hold of a podman argv whichever flavour wrote it.
fn check_podman_argv(argv: &[Vec<u8>], h: &Hostile, volume_flag: &str) {
    let image_at = argv
        .iter()
        .rposition(|w| w == h.image.as_bytes())
        .expect("image in argv");
    let want = expanded(h);
    let args: Vec<Vec<u8>> = want.args.iter().map(|a| bytes(a)).collect();
    assert_eq!(&argv[image_at + 1..], &args[..], "args follow the image");
    for (n, v) in &want.env {
        if want
            .env
            .iter()
            .rev()
            .find(|(n2, _)| n2 == n)
            .map(|(_, v2)| v2)
            == Some(v)
        {
            assert!(has_pair(argv, "--env", &format!("{n}={v}")), "env {n}");
        }
    }
    assert!(
        has_pair(
            argv,
            volume_flag,
            &format!("{}:{}:ro", h.host_path, h.mount_path)
        ),
        "volume"
    );
    assert!(has_pair(argv, "-w", &h.working_dir), "workingDir");
    assert!(
        has_pair(argv, "--label", &format!("{}={}", h.label.0, h.label.1))
            || h.label.0.starts_with("dsctl.")
    );
    assert!(has_pair(
        argv,
        "--label",
        &format!("dsctl.revision={}", h.revision)
    ));
    if !h.command.is_empty() {
        let at = argv
            .iter()
            .position(|w| w == b"--entrypoint")
            .expect("--entrypoint");
        let cmd: Vec<String> = serde_json::from_slice(&argv[at + 1]).unwrap();
        assert_eq!(cmd, want.command);
    }
    let at = argv
        .iter()
        .position(|w| w == b"--health-cmd")
        .expect("--health-cmd");
    let cmd: Vec<String> = serde_json::from_slice(&argv[at + 1]).unwrap();
    if cmd[0] == "CMD-SHELL" {
        assert_eq!(cmd.len(), 2);
        assert!(
            h.probe.len() == 1
                || ["CMD", "NONE", "CMD-SHELL"]
                    .iter()
                    .any(|s| h.probe[0].eq_ignore_ascii_case(s))
        );
    } else {
        assert_eq!(cmd, h.probe);
    }
}

/// The (section, key) sequence of a unit: hostile values must not change it.
fn shape(text: &str) -> Vec<(String, String)> {
    oracle::parse_unit_file(text.as_bytes())
        .unwrap()
        .into_iter()
        .map(|a| (a.section, a.key))
        .collect()
}

/// The same structure with harmless values. Plain volume paths go to Quadlet's `Volume=` and
/// others to `PodmanArgs=`, so the benign paths are plain exactly when the hostile ones are.
fn benign(h: &Hostile) -> Hostile {
    let word = |s: &String| {
        if s.is_empty() {
            String::new()
        } else {
            "w".to_string()
        }
    };
    let spec = format!("{}:{}:ro", h.host_path, h.mount_path);
    let plain = render::is_safe_fixed(&spec) && !spec.contains('%');
    Hostile {
        ds: h.ds.clone(),
        container: h.container.clone(),
        revision: "0a".into(),
        image: "img".into(),
        command: h.command.iter().map(word).collect(),
        args: h.args.iter().map(|_| "w".to_string()).collect(),
        // A repeated name stays repeated (the last one wins, as in the kubelet).
        env: h
            .env
            .iter()
            .map(|(name, _)| {
                let first = h.env.iter().position(|(n, _)| n == name).unwrap();
                (format!("N{first}"), "v".into())
            })
            .collect(),
        host_path: if plain { "/h" } else { "/h h" }.into(),
        mount_path: "/m".into(),
        working_dir: "/w".into(),
        label: ("l".into(), "v".into()),
        probe: h.probe.iter().map(|_| "p".to_string()).collect(),
    }
}

fn plan_of(h: &Hostile) -> ContainerPlan {
    render::plan_container(&daemonset(h), Role::App, 0, &h.revision, &host()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn service_units_carry_every_field_unchanged(h in hostile_spec()) {
        let ds = daemonset(&h);
        let templates = Templates::embedded();
        let units = render::render_daemonset(&ds, &h.revision, &host(), UnitFlavor::Service, &templates).unwrap();
        // The pod's unit, then the container's.
        prop_assert_eq!(units.len(), 2);
        let unit = &units[1];
        let benign_unit = &render::render_daemonset(&daemonset(&benign(&h)), "0a", &host(), UnitFlavor::Service, &templates).unwrap()[1];
        prop_assert_eq!(shape(&unit.content), shape(&benign_unit.content), "{}", unit.content);

        let parsed = oracle::parse_service(unit.content.as_bytes(), &unit.name).unwrap();
        let start = &parsed.exec["ExecStart"];
        prop_assert_eq!(start.len(), 1);
        prop_assert_eq!(&start[0].argv, &resolved(&render::service_exec_start(&plan_of(&h), &Instance::new(&h.ds, &h.revision).pod_id_file()), &unit.name));
        check_podman_argv(&start[0].argv, &h, "-v");
        // The stale cid-file cleanup, then the hostPath directory.
        let pre = &parsed.exec["ExecStartPre"];
        prop_assert_eq!(pre.len(), 2);
        prop_assert_eq!(pre[0].argv.clone(), vec![bytes("/bin/rm"), bytes("-f"), bytes(&format!("/run/{}.ctr-id", unit.name))]);
        prop_assert_eq!(pre[1].argv.clone(), vec![bytes("/bin/mkdir"), bytes("-p"), bytes(&h.host_path)]);
        for key in ["ExecStop", "ExecStopPost"] {
            prop_assert_eq!(parsed.exec[key].len(), 1);
        }
    }

    #[test]
    fn quadlet_units_carry_every_field_unchanged_or_refuse(h in hostile_spec()) {
        let ds = daemonset(&h);
        let templates = Templates::embedded();
        let refused = expanded(&h).args.iter().any(|a| a.is_empty() || a == ";")
            || h.image.ends_with(".image")
            || h.image.ends_with(".build")
            || [&h.image, &h.revision, &h.host_path, &h.mount_path, &h.working_dir, &h.label.0, &h.label.1]
                .iter()
                .chain(h.command.iter().chain(&h.probe).chain(h.env.iter().flat_map(|(n, v)| [n, v])).collect::<Vec<_>>().iter())
                .any(|s| s.contains('\u{80}'));
        match render::render_daemonset(&ds, &h.revision, &host(), UnitFlavor::Quadlet, &templates) {
            Err(RenderError::Value { .. }) if refused => {}
            Err(e) => prop_assert!(false, "unexpected refusal: {e}"),
            Ok(_) if refused => prop_assert!(false, "should refuse {:?}", h),
            Ok(units) => {
                let unit = &units[1];
                let benign_unit = &render::render_daemonset(&daemonset(&benign(&h)), "0a", &host(), UnitFlavor::Quadlet, &templates).unwrap()[1];
                prop_assert_eq!(shape(&unit.content), shape(&benign_unit.content), "{}", unit.content);
                let service = oracle::quadlet_generate(&unit.content, &unit.name).unwrap();
                let service_name = unit.name.replace(".container", ".service");
                let parsed = oracle::parse_service(service.as_bytes(), &service_name).unwrap();
                let start = &parsed.exec["ExecStart"];
                prop_assert_eq!(start.len(), 1, "{}", service);
                check_podman_argv(&start[0].argv, &h, "-v");
                prop_assert_eq!(&parsed.exec["ExecStartPre"][0].argv[2], &bytes(&h.host_path));
                let name = Instance::new(&h.ds, &h.revision).container_name(&h.container);
                prop_assert!(has_pair(&start[0].argv, "--name", &name), "--name {}", name);
            }
        }
    }
}

#[test]
fn hostile_images_are_refused_not_mangled() {
    for image in [
        "",
        "a b",
        "img\n[Service]",
        "img\"",
        "img'",
        "img\\",
        "img\t",
    ] {
        let h = Hostile {
            ds: "d".into(),
            container: "c".into(),
            revision: "0a".into(),
            image: image.into(),
            command: vec![],
            args: vec![],
            env: vec![],
            host_path: "/h".into(),
            mount_path: "/m".into(),
            working_dir: "/w".into(),
            label: ("l".into(), "v".into()),
            probe: vec!["p".into()],
        };
        for flavor in [UnitFlavor::Service, UnitFlavor::Quadlet] {
            let err = render::render_daemonset(
                &daemonset(&h),
                "0a",
                &host(),
                flavor,
                &Templates::embedded(),
            )
            .unwrap_err();
            assert!(err.to_string().contains("containers[0].image"), "{err}");
        }
    }
}

#[test]
fn oracle_reads_systemd_syntax_like_systemd() {
    // Table from systemd's own test-extract-word.c and systemd.syntax(7).
    let spec = env_spec("u");
    let split = |s: &str| {
        oracle::parse_exec(s.as_bytes(), &spec)
            .map(|cmds| cmds.into_iter().map(|c| c.argv).collect::<Vec<_>>())
    };
    let strs = |v: &[&str]| v.iter().map(|s| bytes(s)).collect::<Vec<_>>();
    assert_eq!(
        split(r#"/bin/a "b c" d\se 'f "g"'"#).unwrap(),
        vec![strs(&["/bin/a", "b c", "d e", "f \"g\""])]
    );
    // systemd-analyze verify: "Ignoring unknown escape sequences: "d\ e"".
    assert!(split(r#"/bin/a d\ e"#).is_err());
    assert_eq!(
        split(r#"/bin/a ; /bin/b x"#).unwrap(),
        vec![strs(&["/bin/a"]), strs(&["/bin/b", "x"])]
    );
    assert_eq!(
        split(r#"/bin/a \; ";" x;"#).unwrap(),
        vec![strs(&["/bin/a", ";", ";", "x;"])]
    );
    assert_eq!(
        split(r#"/bin/a "x\ty" %% %n"#).unwrap(),
        vec![strs(&["/bin/a", "x\ty", "%", "u.service"])]
    );
    assert_eq!(
        split(r#"/bin/a "\x41\101\u00e9""#).unwrap(),
        vec![strs(&["/bin/a", "AAé"])]
    );
    assert!(split(r#"/bin/a "unbalanced"#).is_err());
    assert!(split(r#"/bin/a "\q""#).is_err());
    assert!(split(r#"/bin/a %q"#).is_err());
    let env = test_env();
    // A word that starts with `$` is one variable name ("x$" here, unset, so the word goes).
    let argv = strs(&[
        "/bin/a", "$HOME", "${HOME}x", "$$HOME", "a$x", "$x$", "$UNSET",
    ]);
    assert_eq!(
        oracle::replace_env_argv(&argv, &env),
        strs(&["/bin/a", "/root", "/rootx", "$HOME", "a$x"])
    );
    // A line ending in a backslash continues; a comment in between is skipped.
    let unit = "[Service]\nExecStart=/bin/a \\\n# comment\n  b\n";
    let parsed = oracle::parse_service(unit.as_bytes(), "u.service").unwrap();
    assert_eq!(parsed.exec["ExecStart"][0].argv, strs(&["/bin/a", "b"]));
    // Quadlet's Go port writes \x escapes as runes, systemd as bytes.
    assert_eq!(
        oracle::split_words(
            br#""\xe9""#,
            oracle::UNQUOTE | oracle::CUNESCAPE,
            Dialect::Systemd
        )
        .unwrap(),
        vec![vec![0xe9]]
    );
    assert_eq!(
        oracle::split_words(
            br#""\xe9""#,
            oracle::UNQUOTE | oracle::CUNESCAPE,
            Dialect::QuadletGo
        )
        .unwrap(),
        vec![bytes("é")]
    );
}

#[test]
fn quadlet_would_turn_a_bare_semicolon_into_a_second_command() {
    // Why quadlet_word refuses ";": Quadlet's escapeWords leaves it unquoted.
    let service = oracle::quadlet_generate(
        "[Container]\nImage=img\nExec=\";\" /bin/rm\n",
        "t.container",
    )
    .unwrap();
    let parsed = oracle::parse_service(service.as_bytes(), "t.service").unwrap();
    assert_eq!(parsed.exec["ExecStart"].len(), 2);
}

/// systemd itself (where `systemd-analyze` is installed) reads hostile service units, and the
/// service Quadlet would generate from hostile `.container` files, without a single complaint.
#[test]
fn systemd_analyze_accepts_hostile_units() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let dir = tempfile::tempdir().unwrap();
    // The check can fail: systemd complains about a bad escape.
    let broken = "[Service]\nExecStart=/usr/bin/podman \"\\q\"\n";
    if let Some(complaints) = oracle::systemd_analyze_verify(dir.path(), "broken.service", broken) {
        assert!(
            complaints.iter().any(|c| c.contains("unknown escape")),
            "{complaints:?}"
        );
    }
    let mut runner = TestRunner::deterministic();
    let templates = Templates::embedded();
    for _ in 0..24 {
        let h = hostile_spec().new_tree(&mut runner).unwrap().current();
        let ds = daemonset(&h);
        let mut units =
            render::render_daemonset(&ds, &h.revision, &host(), UnitFlavor::Service, &templates)
                .unwrap();
        if let Ok(quadlet) =
            render::render_daemonset(&ds, &h.revision, &host(), UnitFlavor::Quadlet, &templates)
        {
            for q in quadlet {
                let name = dsctl::layout::service_name(&q.name);
                let content = match q.name.ends_with(".pod") {
                    true => oracle::quadlet_generate_pod(&q.content).unwrap(),
                    false => oracle::quadlet_generate(&q.content, &q.name).unwrap(),
                };
                units.push(render::UnitFile {
                    name,
                    path: String::new(),
                    content: content.into(),
                });
            }
        }
        for unit in units {
            let Some(complaints) =
                oracle::systemd_analyze_verify(dir.path(), &unit.name, &unit.content)
            else {
                eprintln!("systemd-analyze is not installed: skipped");
                return;
            };
            assert!(complaints.is_empty(), "{complaints:#?}\n{}", unit.content);
        }
    }
}
