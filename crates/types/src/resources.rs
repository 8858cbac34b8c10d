//! Compute resources of one replica, in Akash's `resources/v1beta4` shape.
//!
//! Field names and the JSON layout match Akash's Go structs exactly, because the manifest JSON is
//! hashed into the on-ledger deployment version and must agree byte for byte with Akash tooling.
//! Fields are declared in the byte order of their JSON keys (see `manifest`).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::attributes::Attribute;

/// An integer resource amount, serialized as `{"val":"<decimal>"}` like Cosmos' `math.Int`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct ResourceValue(pub u64);

impl Serialize for ResourceValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire {
            val: String,
        }
        Wire { val: self.0.to_string() }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ResourceValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ResourceValue, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            val: String,
        }
        let wire = Wire::deserialize(deserializer)?;
        wire.val
            .parse()
            .map(ResourceValue)
            .map_err(|_| serde::de::Error::custom(format!("resource value {:?} is not an unsigned integer", wire.val)))
    }
}

/// CPU in thousandths of a core (millicpu).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Cpu {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub units: ResourceValue,
}

/// Memory in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Memory {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    #[serde(rename = "size")]
    pub quantity: ResourceValue,
}

/// One storage volume in bytes. Attributes `persistent` and `class` say what kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Storage {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub name: String,
    #[serde(rename = "size")]
    pub quantity: ResourceValue,
}

impl Storage {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|a| a.key == key).map(|a| a.value.as_str())
    }

    /// True for volumes that outlive a container restart (`persistent: true`).
    pub fn is_persistent(&self) -> bool {
        self.attribute("persistent").is_some_and(|v| v == "true")
    }

    /// The storage class, if any (`default`, `beta1`..`beta3`, `ram`).
    pub fn class(&self) -> Option<&str> {
        self.attribute("class")
    }

    /// True for memory-backed volumes (`class: ram`, typically mounted at `/dev/shm`).
    pub fn is_ram(&self) -> bool {
        self.class() == Some("ram")
    }
}

/// GPUs: a count and, when units > 0, the acceptable models as
/// `vendor/<v>/model/<m>[/ram/<n>Gi][/interface/<i>]` attribute keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Gpu {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub units: ResourceValue,
}

/// How a service port is reached from outside the deployment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
pub enum EndpointKind {
    /// Port 80 TCP behind the provider's shared HTTP ingress.
    #[default]
    SharedHttp,
    /// Any other global port: mapped to a random host port.
    RandomPort,
    /// A dedicated IP address leased from the provider.
    LeasedIp,
}

impl EndpointKind {
    pub const fn code(self) -> u8 {
        match self {
            EndpointKind::SharedHttp => 0,
            EndpointKind::RandomPort => 1,
            EndpointKind::LeasedIp => 2,
        }
    }

    pub const fn from_code(code: u8) -> Option<EndpointKind> {
        match code {
            0 => Some(EndpointKind::SharedHttp),
            1 => Some(EndpointKind::RandomPort),
            2 => Some(EndpointKind::LeasedIp),
            _ => None,
        }
    }

    fn is_shared_http(&self) -> bool {
        *self == EndpointKind::SharedHttp
    }
}

impl Serialize for EndpointKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for EndpointKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<EndpointKind, D::Error> {
        let code = <u8 as Deserialize>::deserialize(deserializer)?;
        EndpointKind::from_code(code).ok_or_else(|| serde::de::Error::custom(format!("unknown endpoint kind {code}")))
    }
}

/// An endpoint a replica needs. `sequence_number` ties leased IPs to their SDL endpoint name.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
pub struct Endpoint {
    /// Omitted when 0 (shared HTTP), as proto JSON does.
    #[serde(default, skip_serializing_if = "EndpointKind::is_shared_http")]
    pub kind: EndpointKind,
    pub sequence_number: u32,
}

/// Everything one replica of a resource unit needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub endpoints: Vec<Endpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<Gpu>,
    pub id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage: Vec<Storage>,
}

impl Resources {
    pub fn cpu_millis(&self) -> u64 {
        self.cpu.as_ref().map_or(0, |c| c.units.0)
    }

    pub fn memory_bytes(&self) -> u64 {
        self.memory.as_ref().map_or(0, |m| m.quantity.0)
    }

    pub fn gpu_units(&self) -> u64 {
        self.gpu.as_ref().map_or(0, |g| g.units.0)
    }

    /// Compares what the provider must reserve (CPU, GPU, memory, storage), ignoring endpoints,
    /// like Akash's manifest cross-check does.
    pub fn same_compute_as(&self, other: &Resources) -> bool {
        self.cpu == other.cpu && self.gpu == other.gpu && self.memory == other.memory && self.storage == other.storage
    }
}

/// Accepts `null` for a list, as Go encodes nil slices.
pub fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}
