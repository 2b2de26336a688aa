//! A DaemonSet spec builder shared by the unit tests, the integration tests
//! (`tests/broken_inputs.rs`) and the fuzz seeds, so that none copies a TOML fixture. It
//! writes TOML text (the loaders' input, with real lines and columns) and parses it on demand.

use crate::daemonset::DaemonSet;

/// A minimal valid DaemonSet of one container, plus what a test adds.
#[derive(Debug, Clone)]
pub struct SpecBuilder {
    name: String,
    image: String,
    ports: Option<String>,
    host_network: bool,
    pod_lines: Vec<String>,
    container_lines: Vec<String>,
    tail: Vec<String>,
}

impl SpecBuilder {
    pub fn new(name: &str) -> SpecBuilder {
        SpecBuilder {
            name: name.to_string(),
            image: "localhost/dsctl-test-web:1".to_string(),
            ports: None,
            host_network: false,
            pod_lines: Vec::new(),
            container_lines: Vec::new(),
            tail: Vec::new(),
        }
    }

    /// The container's image, as a TOML string.
    pub fn image(mut self, image: &str) -> Self {
        self.image = image.to_string();
        self
    }

    /// The container's ports: inline tables separated by commas, as TOML.
    pub fn ports(mut self, ports: &str) -> Self {
        self.ports = Some(ports.to_string());
        self
    }

    pub fn host_network(mut self) -> Self {
        self.host_network = true;
        self
    }

    /// A `key = value` line of `[spec.template.spec]`.
    pub fn pod(mut self, line: &str) -> Self {
        self.pod_lines.push(line.to_string());
        self
    }

    /// A `key = value` line of the container's table.
    pub fn container(mut self, line: &str) -> Self {
        self.container_lines.push(line.to_string());
        self
    }

    /// Lines at the end of the file: sub-tables of the container (`[spec.template.spec.
    /// containers.resources.limits]`), or top-level tables (`[dsctl]`, `[spec.updateStrategy]`).
    pub fn tail(mut self, text: &str) -> Self {
        self.tail.push(text.to_string());
        self
    }

    pub fn toml(&self) -> String {
        let name = &self.name;
        let mut out = format!(
            "apiVersion = \"apps/v1\"\nkind = \"DaemonSet\"\n\n[metadata]\nname = {name:?}\n\n\
             [spec.selector.matchLabels]\napp = {name:?}\n\n\
             [spec.template.metadata.labels]\napp = {name:?}\n\n[spec.template.spec]\n"
        );
        if self.host_network {
            out.push_str("hostNetwork = true\n");
        }
        for line in &self.pod_lines {
            out.push_str(&format!("{line}\n"));
        }
        out.push_str(&format!(
            "\n[[spec.template.spec.containers]]\nname = \"web\"\nimage = {:?}\n",
            self.image
        ));
        if let Some(ports) = &self.ports {
            out.push_str(&format!("ports = [{ports}]\n"));
        }
        for line in &self.container_lines {
            out.push_str(&format!("{line}\n"));
        }
        for text in &self.tail {
            out.push_str(&format!("\n{}\n", text.trim_end()));
        }
        out
    }

    /// The spec as the model, unvalidated; panics on TOML the model cannot read (a test bug).
    pub fn build(&self) -> DaemonSet {
        let text = self.toml();
        toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_spec_is_valid() {
        let ds = SpecBuilder::new("sv-plain")
            .ports("{ containerPort = 80, hostPort = 8680 }")
            .pod("terminationGracePeriodSeconds = 5")
            .container("args = [\"-v\"]")
            .tail("[spec.template.spec.containers.resources.limits]\nmemory = \"64Mi\"")
            .build();
        let findings = crate::validate::validate_daemonset(&ds);
        assert!(
            findings
                .iter()
                .all(|f| f.severity != crate::diagnostic::Severity::Error),
            "{findings:#?}"
        );
        assert_eq!(ds.pod_spec().containers[0].ports[0].host_port(), Some(8680));
    }
}
