//! The host side's one owner of names and paths: every unit, pod, container, volume and state
//! path dsctl creates on a host is built here and nowhere else.
//!
//! Names are injective. A DaemonSet name is a DNS-1123 subdomain (`[a-z0-9.-]`), a container
//! name a DNS-1123 label (`[a-z0-9-]`), a revision lowercase hex: none of them can hold `_`, so
//! `_` separates the parts and no two (DaemonSet, revision, container, role) tuples give one
//! name. `validate` checks the names before anything here is called; [`is_name`] is the check
//! for names that come back from a host.

use crate::inventory::UnitFlavor;

/// Where dsctl keeps what it knows about each DaemonSet on a host.
pub const STATE_DIR: &str = "/var/lib/dsctl";
/// The per-host lock every host script takes (`flock`).
pub const LOCK: &str = "/var/lib/dsctl/lock";
/// Who holds the lock, for the message of the run that waits.
pub const LOCK_HOLDER: &str = "/var/lib/dsctl/lock.holder";
/// The observe script's cache (podman's version per binary, unit files' sha256 per inode and
/// mtime): on a tmpfs, so a reboot empties it.
pub const OBSERVE_CACHE_DIR: &str = "/run/dsctl";
/// Renamed into place (a new inode) at the end of every host script: observe's cache of
/// systemd's unit states is keyed on it, so what a script restarted is read from systemd again.
pub const SCRIPT_RAN: &str = "/run/dsctl/script-ran";
/// Where systemd keeps `invocation:UNIT`, a link that exists while the unit has a current
/// invocation (started, not yet stopped or failed).
pub const SYSTEMD_INVOCATIONS: &str = "/run/systemd/units";
/// One directory per DaemonSet: its record (revision, units, spec, history).
pub const DAEMONSETS_DIR: &str = "/var/lib/dsctl/daemonsets";
/// Registry credentials (podman auth files from imagePullSecrets), one per DaemonSet: root's
/// alone (0700, files 0600), kept apart from the DaemonSet's record (which every apply
/// rebuilds) and not under `$XDG_RUNTIME_DIR`, podman's default, which a reboot empties.
pub const AUTH_DIR: &str = "/var/lib/dsctl/auth";
/// One directory per instance (pod): its emptyDir volumes.
pub const PODS_DIR: &str = "/var/lib/dsctl/pods";
/// One directory per host script in flight (`detached.rs`): the script, its output and exit
/// code, kept until the run that sent it (or the next one) has read them.
pub const RUNS_DIR: &str = "/var/lib/dsctl/runs";
/// Who last changed the host under the lock, named to a run whose plan it made stale.
pub const CHANGED_BY: &str = "/var/lib/dsctl/changed.by";
/// Where systemd services are written.
pub const SERVICE_DIR: &str = "/etc/systemd/system";
/// Where Quadlet reads `.pod` and `.container` files for the system manager.
pub const QUADLET_DIR: &str = "/etc/containers/systemd";
/// Where podman lives on Debian (and Fedora, RHEL, Ubuntu).
pub const PODMAN: &str = "/usr/bin/podman";
/// Where `seccompProfile.localhostProfile` paths are relative to: the kubelet's default
/// (`--root-dir`/seccomp), so a host that ran a kubelet keeps its profiles where they were.
pub const SECCOMP_ROOT: &str = "/var/lib/kubelet/seccomp";

/// Every name dsctl gives a unit, pod or container starts with this.
pub const PREFIX: &str = "dsctl_";
/// The podman label that carries the DaemonSet's name.
pub const LABEL_DAEMONSET: &str = "dsctl.daemonset";
/// The podman label that carries the revision.
pub const LABEL_REVISION: &str = "dsctl.revision";
/// The podman label that carries the container's name in the pod spec.
pub const LABEL_CONTAINER: &str = "dsctl.container";

/// A DaemonSet's record directory.
pub fn daemonset_dir(daemonset: &str) -> String {
    format!("{DAEMONSETS_DIR}/{daemonset}")
}

/// The applied unit files in a DaemonSet's record (a container unit's file stem is its
/// container's name, in both layouts).
pub fn record_units_dir(daemonset: &str) -> String {
    format!("{}/units", daemonset_dir(daemonset))
}

/// A DaemonSet's podman auth file (`--authfile`), written from its imagePullSecrets.
pub fn auth_file(daemonset: &str) -> String {
    format!("{AUTH_DIR}/{daemonset}.json")
}

/// The applied spec (JSON) in a DaemonSet's record.
pub fn spec_file(daemonset: &str) -> String {
    format!("{}/spec.json", daemonset_dir(daemonset))
}

/// One instance of a DaemonSet on a host: the pod of one revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instance<'a> {
    pub daemonset: &'a str,
    pub revision: &'a str,
}

/// What a container is to its pod: an app container, or an init container that runs to
/// completion before the app containers start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    App,
    Init,
}

impl<'a> Instance<'a> {
    pub fn new(daemonset: &'a str, revision: &'a str) -> Instance<'a> {
        debug_assert!(is_name(daemonset), "{daemonset:?} is not a validated name");
        debug_assert!(is_revision(revision), "{revision:?} is not a revision");
        Instance {
            daemonset,
            revision,
        }
    }

    /// `dsctl_<ds>_<rev>`: the podman pod's name.
    pub fn pod_name(&self) -> String {
        format!("{PREFIX}{}_{}", self.daemonset, self.revision)
    }

    /// `dsctl_<ds>_<rev>_<container>`: the podman container's name. Init and app containers
    /// share one namespace of names in a pod spec, as in Kubernetes.
    pub fn container_name(&self, container: &str) -> String {
        format!("{}_{container}", self.pod_name())
    }

    /// `dsctl_<ds>_<rev>-infra`: the pod's infra container (the name Quadlet ≥ 5.4 gives it
    /// too), which holds the shared namespaces.
    pub fn infra_name(&self) -> String {
        format!("{}-infra", self.pod_name())
    }

    /// The pod's systemd service: Quadlet names it `<file stem>-pod.service`; the service
    /// flavour uses the same name so that both flavours read alike.
    pub fn pod_service(&self) -> String {
        format!("{}-pod.service", self.pod_name())
    }

    /// A container's systemd service.
    pub fn container_service(&self, container: &str) -> String {
        format!("{}.service", self.container_name(container))
    }

    /// The pod's unit file (name and path) in this flavour.
    pub fn pod_unit_file(&self, flavor: UnitFlavor) -> UnitPath {
        match flavor {
            UnitFlavor::Quadlet => {
                UnitPath::in_dir(QUADLET_DIR, format!("{}.pod", self.pod_name()))
            }
            UnitFlavor::Service => UnitPath::in_dir(SERVICE_DIR, self.pod_service()),
        }
    }

    /// A container's unit file (name and path) in this flavour.
    pub fn container_unit_file(&self, container: &str, flavor: UnitFlavor) -> UnitPath {
        match flavor {
            UnitFlavor::Quadlet => UnitPath::in_dir(
                QUADLET_DIR,
                format!("{}.container", self.container_name(container)),
            ),
            UnitFlavor::Service => UnitPath::in_dir(SERVICE_DIR, self.container_service(container)),
        }
    }

    /// The instance's own directory (its emptyDir volumes live below it).
    pub fn pod_dir(&self) -> String {
        format!("{PODS_DIR}/{}", self.pod_name())
    }

    /// An emptyDir volume: a plain directory, so that it starts empty (a podman named volume
    /// would be filled with the image's files), is shared by the pod's containers, survives
    /// their restarts and goes with the instance.
    pub fn empty_dir(&self, volume: &str) -> String {
        format!("{}/volumes/{volume}", self.pod_dir())
    }

    /// A downwardAPI volume: a directory of the instance whose files dsctl writes before the
    /// containers start.
    pub fn downward_api_dir(&self, volume: &str) -> String {
        format!("{}/volumes/{volume}", self.pod_dir())
    }

    /// Where the host script writes the instance's ConfigMap and Secret data: root's alone
    /// (0700), so no other user of the host reads a Secret; the containers see only the
    /// directories mounted from below it.
    pub fn objects_dir(&self) -> String {
        format!("{}/objects", self.pod_dir())
    }

    /// A configMap, secret or projected volume: written as the kubelet's AtomicWriter does
    /// (`..<timestamp>/` holding the files, `..data` linking to it, one link per top entry).
    pub fn object_volume_dir(&self, volume: &str) -> String {
        format!("{}/volumes/{volume}", self.objects_dir())
    }

    /// A container's Secret env values, as one podman env file (`ENV_FILE` in the directory).
    pub fn env_file_dir(&self, container: &str) -> String {
        format!("{}/env/{container}", self.objects_dir())
    }

    pub fn env_file(&self, container: &str) -> String {
        format!("{}/{ENV_FILE}", self.env_file_dir(container))
    }

    /// Run-time files of the service flavour's pod (`%t` is /run for the system manager).
    pub fn pod_id_file(&self) -> String {
        format!("%t/{}.pod-id", self.pod_name())
    }

    pub fn pod_pid_file(&self) -> String {
        format!("%t/{}.pid", self.pod_name())
    }
}

/// The file name of an env file inside its projected directory.
pub const ENV_FILE: &str = "env";

/// A unit file's name and absolute path on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    pub name: String,
    pub path: String,
}

impl UnitPath {
    fn in_dir(dir: &str, name: String) -> UnitPath {
        UnitPath {
            path: format!("{dir}/{name}"),
            name,
        }
    }
}

/// Where a unit file of this name lives: Quadlet files and services have fixed directories.
pub fn unit_path(file_name: &str) -> String {
    if file_name.ends_with(".container") || file_name.ends_with(".pod") {
        format!("{QUADLET_DIR}/{file_name}")
    } else {
        format!("{SERVICE_DIR}/{file_name}")
    }
}

/// The systemd service a unit file yields: `x.container` → `x.service`, `x.pod` →
/// `x-pod.service` (Quadlet's rule), a `.service` is itself.
pub fn service_name(file_name: &str) -> String {
    match file_name.rsplit_once('.') {
        Some((stem, "pod")) => format!("{stem}-pod.service"),
        Some((stem, _)) => format!("{stem}.service"),
        None => format!("{file_name}.service"),
    }
}

/// The DaemonSet a unit file belongs to, read from its name: `dsctl_<ds>_…`. Names of the
/// earlier layout (`dsctl-<ds>-<container>`) are ambiguous and give `None`; they are owned only
/// through a host's record.
pub fn owner_of_unit_file(file_name: &str) -> Option<&str> {
    let rest = file_name.strip_prefix(PREFIX)?;
    let (daemonset, _) = rest.split_once('_')?;
    is_name(daemonset).then_some(daemonset)
}

/// The revision a unit file of the current layout runs: `dsctl_<ds>_<rev>…`.
pub fn revision_of_unit_file(file_name: &str) -> Option<&str> {
    let rest = file_name.strip_prefix(PREFIX)?;
    let (_, rest) = rest.split_once('_')?;
    let end = rest
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(rest.len());
    let revision = &rest[..end];
    is_revision(revision).then_some(revision)
}

/// What podman runs for a service of the current layout, read from the service's name, so
/// that a unit being removed takes its pod or container with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodmanObject {
    Pod(String),
    Container(String),
}

/// `dsctl_<ds>_<rev>-pod.service` runs the pod `dsctl_<ds>_<rev>`; `dsctl_<ds>_<rev>_<c>.service`
/// the container of that name; a legacy `dsctl-<ds>-<c>.service` the container `dsctl-<ds>-<c>`.
pub fn podman_object_of_service(service: &str) -> Option<PodmanObject> {
    let stem = service.strip_suffix(".service")?;
    if let Some(pod) = stem.strip_suffix("-pod")
        && owner_of_unit_file(pod).is_some()
        && pod.matches('_').count() == 2
    {
        return Some(PodmanObject::Pod(pod.to_string()));
    }
    (owner_of_unit_file(stem).is_some() || legacy::is_legacy_unit_file(service))
        .then(|| PodmanObject::Container(stem.to_string()))
}

/// The instance (pod name, `dsctl_<ds>_<rev>`) a unit file of the current layout belongs to.
pub fn instance_of_unit_file(file_name: &str) -> Option<Instance<'_>> {
    Some(Instance::new(
        owner_of_unit_file(file_name)?,
        revision_of_unit_file(file_name)?,
    ))
}

/// The systemd unit-file globs observe lists: the current layout and the earlier one.
pub const UNIT_FILE_GLOBS: [&str; 5] = [
    "/etc/systemd/system/dsctl_*.service",
    "/etc/containers/systemd/dsctl_*.container",
    "/etc/containers/systemd/dsctl_*.pod",
    "/etc/systemd/system/dsctl-*.service",
    "/etc/containers/systemd/dsctl-*.container",
];

/// Is this a name dsctl may build paths from: a DNS-1123 subdomain of at most 253 characters
/// (`..` and a leading `.` or `-` can never pass)?
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Is this a revision as `revision.rs` makes them (lowercase hex)?
pub fn is_revision(revision: &str) -> bool {
    !revision.is_empty()
        && revision.len() <= 64
        && revision
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A host script's run directory.
pub fn run_dir(id: &str) -> String {
    debug_assert!(is_run_id(id), "{id:?} is not a run id");
    format!("{RUNS_DIR}/{id}")
}

/// The transient systemd service a detached host script runs in. `dsctl-script-` can never
/// be an instance's name (those begin with [`PREFIX`]) nor a record's unit (no record holds a
/// transient unit).
pub fn script_unit(id: &str) -> String {
    format!("dsctl-script-{id}.service")
}

/// Run ids are dsctl's own (`[0-9a-z-]`, at most 64): one read back from a host that is not
/// one never reaches a path.
pub fn is_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The unit names of the earlier layout (one `dsctl-<ds>-<container>` unit per container, no
/// pod), which hosts deployed before pods still hold until they converge.
pub mod legacy {
    /// Is this file name of the earlier layout?
    pub fn is_legacy_unit_file(file_name: &str) -> bool {
        file_name.starts_with("dsctl-")
            && (file_name.ends_with(".service") || file_name.ends_with(".container"))
    }

    /// The podman named volume an emptyDir was in the earlier layout.
    pub fn empty_dir_volume_prefix(daemonset: &str) -> String {
        format!("dsctl-{daemonset}_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_an_instance() {
        let i = Instance::new("node-exporter", "0a1b2c3d4e");
        assert_eq!(i.pod_name(), "dsctl_node-exporter_0a1b2c3d4e");
        assert_eq!(
            i.container_name("main"),
            "dsctl_node-exporter_0a1b2c3d4e_main"
        );
        assert_eq!(
            i.pod_service(),
            "dsctl_node-exporter_0a1b2c3d4e-pod.service"
        );
        assert_eq!(i.infra_name(), "dsctl_node-exporter_0a1b2c3d4e-infra");
        assert_eq!(
            i.pod_unit_file(UnitFlavor::Quadlet).path,
            "/etc/containers/systemd/dsctl_node-exporter_0a1b2c3d4e.pod"
        );
        assert_eq!(
            i.pod_unit_file(UnitFlavor::Service).path,
            "/etc/systemd/system/dsctl_node-exporter_0a1b2c3d4e-pod.service"
        );
        assert_eq!(
            i.container_unit_file("main", UnitFlavor::Quadlet).name,
            "dsctl_node-exporter_0a1b2c3d4e_main.container"
        );
        assert_eq!(
            i.empty_dir("cache"),
            "/var/lib/dsctl/pods/dsctl_node-exporter_0a1b2c3d4e/volumes/cache"
        );
    }

    /// The names that clashed in the earlier layout (`dsctl-node-exporter-*`) are distinct.
    #[test]
    fn names_are_injective() {
        let a = Instance::new("node-exporter", "0a1b2c3d4e");
        let b = Instance::new("node", "0a1b2c3d4e");
        assert_ne!(a.container_name("main"), b.container_name("exporter-main"));
        let names = [
            a.container_service("main"),
            b.container_service("exporter-main"),
            a.pod_service(),
            b.pod_service(),
        ];
        let distinct: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
        for (file, owner) in [
            (
                "dsctl_node-exporter_0a1b2c3d4e_main.container",
                "node-exporter",
            ),
            ("dsctl_node_0a1b2c3d4e_exporter-main.service", "node"),
            ("dsctl_a.b_0a1b2c3d4e.pod", "a.b"),
        ] {
            assert_eq!(owner_of_unit_file(file), Some(owner), "{file}");
        }
        assert_eq!(owner_of_unit_file("dsctl-node-exporter-main.service"), None);
        let pod = instance_of_unit_file("dsctl_a.b_0a1b2c3d4e-pod.service").unwrap();
        assert_eq!((pod.daemonset, pod.revision), ("a.b", "0a1b2c3d4e"));
        assert!(instance_of_unit_file("dsctl_../x_0a1b2c3d4e-pod.service").is_none());
        assert_eq!(
            revision_of_unit_file("dsctl_a.b_0a1b2c3d4e-pod.service"),
            Some("0a1b2c3d4e")
        );
    }

    #[test]
    fn service_names_of_unit_files() {
        for (file, service) in [
            ("dsctl_a_0a1b2c3d4e.pod", "dsctl_a_0a1b2c3d4e-pod.service"),
            (
                "dsctl_a_0a1b2c3d4e_c.container",
                "dsctl_a_0a1b2c3d4e_c.service",
            ),
            (
                "dsctl_a_0a1b2c3d4e-pod.service",
                "dsctl_a_0a1b2c3d4e-pod.service",
            ),
            ("dsctl-a-c.container", "dsctl-a-c.service"),
        ] {
            assert_eq!(service_name(file), service, "{file}");
            assert!(unit_path(file).ends_with(file));
        }
    }

    #[test]
    fn podman_objects_of_services() {
        use PodmanObject::*;
        for (service, want) in [
            ("dsctl_a_0a1b-pod.service", Some(Pod("dsctl_a_0a1b".into()))),
            (
                "dsctl_a_0a1b_c-pod.service",
                Some(Container("dsctl_a_0a1b_c-pod".into())),
            ),
            (
                "dsctl_a_0a1b_c.service",
                Some(Container("dsctl_a_0a1b_c".into())),
            ),
            ("dsctl-a-c.service", Some(Container("dsctl-a-c".into()))),
            ("sshd.service", None),
        ] {
            assert_eq!(podman_object_of_service(service), want, "{service}");
        }
        let i = instance_of_unit_file("dsctl_a.b_0a1b_c.container").unwrap();
        assert_eq!(i.pod_name(), "dsctl_a.b_0a1b");
        assert!(instance_of_unit_file("dsctl-a-c.service").is_none());
    }

    #[test]
    fn names_from_hosts_are_checked() {
        for bad in [
            "",
            "../../etc",
            "..",
            ".a",
            "a..b",
            "-a",
            "A",
            "a_b",
            "a/b",
            "a b",
        ] {
            assert!(!is_name(bad), "{bad:?}");
        }
        for good in ["a", "node-exporter", "a.b", "x1"] {
            assert!(is_name(good), "{good:?}");
        }
        assert!(is_revision("0a1b2c3d4e"));
        assert!(!is_revision("0A1B"));
        assert!(!is_revision("../x"));
    }
}
