//! The manifest: what each service of a deployment runs, sent by the tenant to the provider.
//!
//! Its JSON layout is Akash's `manifest/v2beta3` exactly, and [`manifest_version`] is Akash's
//! deployment version (sha256 of the key-sorted JSON with Go's escaping), so a manifest built here
//! and one built by Akash tooling hash the same.
//!
//! Every struct here (and in `resources`) declares its fields in the byte order of their JSON
//! keys, so serializing writes Go's sorted JSON directly; `manifest_version` relies on it and a
//! test checks it against the generic sort.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::gojson;
use crate::resources::{Endpoint, EndpointKind, Resources, null_as_empty};

/// A deployment's manifest: one group per placement, sorted by name.
pub type Manifest = Vec<ManifestGroup>;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestGroup {
    pub name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub services: Vec<Service>,
}

/// One service: image, command, environment, resources per replica, replica count, ports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// `None` is Go's nil slice (`null`); `Some(vec![])` an explicit empty list (`[]`).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    pub count: u32,
    #[serde(default)]
    pub credentials: Option<ImageCredentials>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub expose: Vec<ServiceExpose>,
    pub image: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<ServiceParams>,
    pub resources: Resources,
}

/// Transport protocol of an exposed port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
}

impl Protocol {
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// One exposed port of a service towards one destination (another service or the world).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceExpose {
    pub endpoint_sequence_number: u32,
    pub external_port: u32,
    pub global: bool,
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    #[serde(rename = "httpOptions")]
    pub http_options: HttpOptions,
    pub ip: String,
    pub port: u32,
    pub proto: Protocol,
    /// The service allowed to reach this port; empty for none or for global exposure.
    pub service: String,
}

impl ServiceExpose {
    /// The port the world sees: `as`, or the container port when `as` is 0.
    pub fn effective_external_port(&self) -> u32 {
        if self.external_port == 0 { self.port } else { self.external_port }
    }

    /// Global TCP on external port 80 goes through the shared HTTP ingress.
    pub fn is_ingress(&self) -> bool {
        self.proto == Protocol::Tcp && self.global && self.effective_external_port() == 80
    }

    /// The endpoints a global expose needs: its leased IP (if any) and a shared-HTTP or random
    /// port, by sequence number (stable: the IP's first when both are 0, as Akash orders them).
    pub fn endpoints(&self) -> Vec<Endpoint> {
        if !self.global {
            return Vec::new();
        }
        let mut eps = Vec::with_capacity(2);
        if !self.ip.is_empty() {
            eps.push(Endpoint { kind: EndpointKind::LeasedIp, sequence_number: self.endpoint_sequence_number });
        }
        let kind = if self.is_ingress() { EndpointKind::SharedHttp } else { EndpointKind::RandomPort };
        eps.push(Endpoint { kind, sequence_number: 0 });
        eps.sort_by_key(|e| e.sequence_number);
        eps
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpOptions {
    pub max_body_size: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_cases: Vec<String>,
    pub next_timeout: u32,
    pub next_tries: u32,
    /// Not defaulted in the manifest on purpose (Akash keeps old hashes stable); omitted when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub proxy_buffer_size: u32,
    pub read_timeout: u32,
    pub send_timeout: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<ImageCredentials>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<ServicePermissions>,
    #[serde(default)]
    pub storage: Option<Vec<StorageParams>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tee: Option<TeeParams>,
}

/// Where a volume of the service's resources is mounted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageParams {
    pub mount: String,
    pub name: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePermissions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeeParams {
    pub attestation: bool,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Private registry credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCredentials {
    #[serde(default)]
    pub email: String,
    pub host: String,
    pub password: String,
    pub username: String,
}

/// Akash's manifest version: sha256 over the manifest JSON with keys sorted and Go's escaping.
pub fn manifest_version(manifest: &[ManifestGroup]) -> [u8; 32] {
    Sha256::digest(gojson::to_go_vec_presorted(manifest)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lists_and_nil_lists_encode_differently() {
        let svc = Service { command: Some(vec![]), ..Service::default() };
        let json = serde_json::to_value(&svc).unwrap_or_default();
        assert_eq!(json["command"], serde_json::json!([]));
        assert_eq!(json["args"], serde_json::Value::Null);
        assert!(json.get("params").is_none());
    }

    /// The presorted fast path must equal Go's SortJSON of the same manifest.
    #[test]
    fn fields_are_declared_in_json_key_order() {
        let svc = Service {
            args: Some(vec!["a<b".into()]),
            command: None,
            count: 2,
            credentials: Some(ImageCredentials::default()),
            env: Some(vec![]),
            expose: vec![ServiceExpose { hosts: Some(vec!["x.com".into()]), ..ServiceExpose::default() }],
            image: "img".into(),
            name: "web".into(),
            params: Some(ServiceParams {
                credentials: Some(ImageCredentials::default()),
                permissions: Some(ServicePermissions { read: vec!["logs".into()] }),
                storage: Some(vec![StorageParams::default()]),
                tee: Some(TeeParams::default()),
            }),
            resources: Resources {
                id: 1,
                cpu: Some(crate::resources::Cpu::default()),
                memory: Some(crate::resources::Memory::default()),
                storage: vec![crate::resources::Storage {
                    attributes: vec![crate::attributes::Attribute::new("class", "beta3")],
                    ..Default::default()
                }],
                gpu: Some(crate::resources::Gpu::default()),
                endpoints: vec![crate::resources::Endpoint::default()],
            },
        };
        let manifest = vec![ManifestGroup { name: "g".into(), services: vec![svc] }];
        let generic = gojson::to_sorted_vec(&serde_json::to_value(&manifest).unwrap_or_default());
        assert_eq!(
            String::from_utf8(gojson::to_go_vec_presorted(&manifest)).unwrap_or_default(),
            String::from_utf8(generic).unwrap_or_default()
        );
    }

    #[test]
    fn version_changes_with_content() {
        let a = vec![ManifestGroup { name: "a".into(), services: vec![] }];
        let mut b = a.clone();
        b[0].name = "b".into();
        assert_ne!(manifest_version(&a), manifest_version(&b));
        assert_eq!(manifest_version(&a), manifest_version(&a.clone()));
    }
}
