//! `profiles.compute.<name>.resources`: CPU, memory, storage volumes and GPUs (Akash `resources.go`,
//! `cpu.go`, `memory.go`, `storage.go`, `gpu.go`).

use stratus_types::attributes::{Attribute, AttributeError, validate_attributes};
use stratus_types::resources::{Cpu, Gpu, Memory, ResourceValue, Resources, Storage};

use crate::decode::{Decoder, Slot};
use crate::diag::{Path, Pos};
use crate::model::string_map;
use crate::units::{gpu_memory_key, parse_bytes, parse_cpu_millis, parse_gpu_memory};

#[derive(Debug, Default)]
pub(crate) struct ComputeResources {
    pub pos: Pos,
    pub cpu: Option<CpuDecl>,
    pub memory: Option<MemoryDecl>,
    pub gpu: Option<GpuDecl>,
    /// `None` when absent or empty: Akash then rejects the group ("storage cannot be nil").
    pub storage: Option<Vec<Volume>>,
}

#[derive(Debug, Default)]
pub(crate) struct CpuDecl {
    pub pos: Pos,
    pub millis: u64,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Default)]
pub(crate) struct MemoryDecl {
    pub pos: Pos,
    pub bytes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct GpuDecl {
    pub pos: Pos,
    pub units: u64,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Volume {
    pub pos: Pos,
    pub name: String,
    pub bytes: u64,
    /// `None` when the volume has no `attributes` key at all.
    pub attributes: Option<Vec<Attribute>>,
}

impl Volume {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.as_ref()?.iter().find(|a| a.key == key).map(|a| a.value.as_str())
    }
}

impl ComputeResources {
    /// The resources of one replica, without id and endpoints (the group builder adds those).
    pub fn to_resources(&self) -> Resources {
        Resources {
            id: 0,
            cpu: self.cpu.as_ref().map(|c| Cpu { units: ResourceValue(c.millis), attributes: c.attributes.clone() }),
            memory: self.memory.as_ref().map(|m| Memory { quantity: ResourceValue(m.bytes), attributes: Vec::new() }),
            storage: self
                .storage
                .iter()
                .flatten()
                .map(|v| Storage {
                    name: v.name.clone(),
                    quantity: ResourceValue(v.bytes),
                    attributes: v.attributes.clone().unwrap_or_default(),
                })
                .collect(),
            // Akash always sets GPU, with 0 units when the profile has none.
            gpu: Some(self.gpu.as_ref().map_or_else(Gpu::default, |g| Gpu {
                units: ResourceValue(g.units),
                attributes: g.attributes.clone(),
            })),
            endpoints: Vec::new(),
        }
    }

    pub fn gpu_units(&self) -> u64 {
        self.gpu.as_ref().map_or(0, |g| g.units)
    }
}

pub(crate) fn decode_resources(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Option<ComputeResources> {
    let f = d.fields(slot, path, &["cpu", "memory", "storage", "gpu"])?;
    let mut r = ComputeResources { pos: slot.pos, ..ComputeResources::default() };
    if let Some(s) = f.get("cpu") {
        r.cpu = decode_cpu(d, s, &path.key("cpu"));
    }
    if let Some(s) = f.get("memory") {
        let mem_path = path.key("memory");
        if let Some(f) = d.fields(s, &mem_path, &["size"]) {
            let mut m = MemoryDecl { pos: s.pos, bytes: 0 };
            if let Some(size) = f.get("size") {
                m.pos = size.pos;
                m.bytes = quantity(d, size, &mem_path.key("size"), parse_bytes);
            }
            r.memory = Some(m);
        }
    }
    if let Some(s) = f.get("storage") {
        r.storage = decode_storage(d, s, &path.key("storage"));
    }
    if let Some(s) = f.get("gpu") {
        r.gpu = decode_gpu(d, s, &path.key("gpu"));
    }
    Some(r)
}

/// Parses a quantity from the scalar's raw text; null is 0, as Go leaves the field unset.
fn quantity(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>, parse: fn(&str) -> Result<u64, String>) -> u64 {
    let Some(text) = d.raw_text(slot) else { return 0 };
    match parse(text) {
        Ok(v) => v,
        Err(e) => {
            d.sink.error(slot.pos, path, e);
            0
        }
    }
}

fn decode_cpu(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Option<CpuDecl> {
    let f = d.fields(slot, path, &["units", "attributes"])?;
    let mut cpu = CpuDecl { pos: slot.pos, ..CpuDecl::default() };
    if let Some(units) = f.get("units") {
        cpu.pos = units.pos;
        cpu.millis = quantity(d, units, &path.key("units"), parse_cpu_millis);
    }
    if let Some(attrs) = f.get("attributes") {
        let attrs_path = path.key("attributes");
        if !d.is_null(attrs.id) {
            // Akash walks the node's children in pairs and accepts only `arch`.
            let content = d.content(attrs.id);
            for pair in content.chunks_exact(2) {
                let key = d.node_text(pair[0]);
                if key == "arch" {
                    let value = d.string(d.slot(pair[1]), &attrs_path.key("arch")).unwrap_or_default();
                    cpu.attributes.push(Attribute::new(key, value));
                } else {
                    d.sink.error(
                        d.pos(pair[0]),
                        attrs_path.key(key),
                        format!("unsupported cpu attribute {key:?}: only `arch` is allowed"),
                    );
                }
            }
            cpu.attributes.sort_by(|a, b| a.key.cmp(&b.key));
        }
    }
    Some(cpu)
}

/// `storage:` is either one volume (a mapping, always named `default`) or a list of volumes.
fn decode_storage(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Option<Vec<Volume>> {
    if d.is_null(slot.id) {
        return None;
    }
    let mut volumes = Vec::new();
    if d.is_map(slot.id) {
        let mut v = decode_volume(d, slot, path);
        v.name = "default".to_string();
        volumes.push(v);
    } else if let Some(items) = d.seq(slot, path) {
        for (i, item) in items.iter().enumerate() {
            let item_path = path.index(i);
            let mut v = decode_volume(d, d.slot(*item), &item_path);
            if v.name.is_empty() {
                v.name = "default".to_string();
            }
            volumes.push(v);
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for v in &volumes {
        if names.contains(&v.name.as_str()) {
            d.sink.error(v.pos, path, format!("duplicated volume name {:?}: give each volume its own `name`", v.name));
        }
        names.push(&v.name);
    }
    sort_volumes(&mut volumes);
    if volumes.is_empty() { None } else { Some(volumes) }
}

fn decode_volume(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Volume {
    let mut v = Volume { pos: slot.pos, ..Volume::default() };
    let Some(f) = d.fields(slot, path, &["name", "size", "attributes"]) else { return v };
    if let Some(s) = f.get("name") {
        v.name = d.string(s, &path.key("name")).unwrap_or_default();
    }
    if let Some(s) = f.get("size") {
        v.bytes = quantity(d, s, &path.key("size"), parse_bytes);
    }
    if let Some(s) = f.get("attributes")
        && !d.is_null(s.id)
    {
        v.attributes = Some(storage_attributes(d, s, &path.key("attributes")));
    }
    v
}

/// Storage attributes: only `persistent` and `class`; `persistent` defaults to false; a persistent
/// volume without a class gets `default`; `ram` volumes cannot be persistent; an ephemeral volume
/// cannot name a class other than `ram`.
fn storage_attributes(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Vec<Attribute> {
    let mut map = string_map(d, slot, path);
    let get = |map: &[Attribute], k: &str| map.iter().find(|a| a.key == k).map(|a| a.value.clone());
    if get(&map, "persistent").is_none() {
        map.push(Attribute::new("persistent", "false"));
    }
    let persistent = get(&map, "persistent").unwrap_or_default();
    match get(&map, "class").unwrap_or_default().as_str() {
        "" => {
            if persistent == "true" {
                map.retain(|a| a.key != "class");
                map.push(Attribute::new("class", "default"));
            }
        }
        "ram" => {
            if persistent != "false" {
                d.sink.error(slot.pos, path, "ram storage class cannot be persistent: set persistent: false");
            }
        }
        class => {
            if persistent == "false" {
                d.sink.error(
                    slot.pos,
                    path,
                    format!("ephemeral storage should not set attribute class ({class:?}): add persistent: true, or remove the class"),
                );
            }
        }
    }
    for attr in &mut map {
        match attr.key.as_str() {
            "persistent" => match attr.value.as_str() {
                "true" | "on" | "yes" => attr.value = "true".into(),
                "false" | "off" | "no" => attr.value = "false".into(),
                other => d.sink.error(
                    slot.pos,
                    path.key("persistent"),
                    format!("invalid value {other:?} for attribute \"persistent\": expected true or false"),
                ),
            },
            "class" => {
                if !matches!(attr.value.as_str(), "default" | "beta1" | "beta2" | "beta3" | "ram") {
                    d.sink.error(
                        slot.pos,
                        path.key("class"),
                        format!("invalid storage class {:?}: use default, beta1, beta2, beta3 or ram", attr.value),
                    );
                }
            }
            other => d.sink.error(
                slot.pos,
                path.key(other),
                format!("unsupported storage attribute {other:?}: only `persistent` and `class` are allowed"),
            ),
        }
    }
    map.sort_by(|a, b| a.key.cmp(&b.key));
    map
}

/// Akash orders volumes with `sort.SliceStable` and this comparison: smaller size first; then by
/// the `persistent` attribute's text (its "class" step reads `persistent`); then non-persistent
/// first; then name. The comparison is not a strict order, so we replay Go's insertion sort (used
/// for up to 20 elements) to land on the same order.
fn sort_volumes(volumes: &mut [Volume]) {
    let less = |a: &Volume, b: &Volume| -> bool {
        if a.bytes != b.bytes {
            return a.bytes < b.bytes;
        }
        let a_text = a.attr("persistent").filter(|v| !v.is_empty());
        let b_text = b.attr("persistent").filter(|v| !v.is_empty());
        match (a_text, b_text) {
            (None, Some(_)) => return true,
            (Some(x), Some(y)) if x < y => return true,
            (Some(_), None) => return false,
            _ => {}
        }
        let as_bool = |v: Option<&str>| matches!(v, Some("1" | "t" | "T" | "true" | "TRUE" | "True"));
        if !as_bool(a.attr("persistent")) {
            return true;
        }
        if !as_bool(b.attr("persistent")) {
            return false;
        }
        a.name < b.name
    };
    for i in 1..volumes.len() {
        let mut j = i;
        while j > 0 && less(&volumes[j], &volumes[j - 1]) {
            volumes.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// `gpu:` takes only `units` and `attributes`; units > 0 need attributes with a vendor.
fn decode_gpu(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Option<GpuDecl> {
    if d.is_null(slot.id) {
        return None;
    }
    let mut gpu = GpuDecl { pos: slot.pos, ..GpuDecl::default() };
    let content = d.content(slot.id);
    if !content.len().is_multiple_of(2) {
        d.sink.error(slot.pos, path, "expected a mapping with `units` and `attributes`");
        return Some(gpu);
    }
    let mut has_attributes = false;
    for pair in content.chunks_exact(2) {
        let key = d.node_text(pair[0]);
        let value = Slot { id: pair[1], pos: d.pos(pair[0]) };
        match key {
            "units" => {
                gpu.pos = value.pos;
                gpu.units = quantity(d, value, &path.key("units"), |t| {
                    crate::gocompat::parse_uint(t, 64).map_err(|_| format!("{t:?} is not a whole number of GPUs"))
                });
            }
            "attributes" => {
                if !d.is_null(value.id) {
                    gpu.attributes = gpu_attributes(d, value, &path.key("attributes"));
                    has_attributes = !gpu.attributes.is_empty();
                }
            }
            other => d.sink.error(
                value.pos,
                path.key(other),
                format!("unsupported field {other:?} for GPU resource: use `units` and `attributes`"),
            ),
        }
    }
    if gpu.units > 0 && !has_attributes {
        d.sink.error(
            gpu.pos,
            path,
            "GPU attributes must be present if units > 0: add attributes: {vendor: {nvidia: [{model: h100}]}} (or `nvidia:` with no models for any model)",
        );
    }
    Some(gpu)
}

/// `attributes: {vendor: {nvidia: [{model, ram, interface}]}}` → one attribute per model,
/// `vendor/nvidia/model/<model>[/ram/<N>Gi][/interface/<pcie|sxm>]`; no model means any (`*`).
fn gpu_attributes(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Vec<Attribute> {
    let content = d.content(slot.id);
    let mut vendor = None;
    for pair in content.chunks(2) {
        let key = d.node_text(pair[0]);
        if key == "vendor" {
            if let Some(&v) = pair.get(1) {
                vendor = Some(Slot { id: v, pos: d.pos(pair[0]) });
            }
        } else {
            d.sink.error(
                d.pos(pair[0]),
                path.key(key),
                format!("unsupported attribute {key:?} for GPU resource: only `vendor` is allowed"),
            );
        }
    }
    let vendor_path = path.key("vendor");
    let vendor_fields = vendor.filter(|v| !d.is_null(v.id)).and_then(|v| d.fields(v, &vendor_path, &["nvidia"]));
    let Some(vendor_fields) = vendor_fields else {
        d.sink.error(
            slot.pos,
            path,
            "invalid GPU attributes: at least one vendor must be set, e.g. vendor: {nvidia: }",
        );
        return Vec::new();
    };
    let mut attrs = Vec::new();
    if let Some(nvidia) = vendor_fields.get("nvidia") {
        let nvidia_path = vendor_path.key("nvidia");
        for (i, item) in d.seq(nvidia, &nvidia_path).unwrap_or_default().iter().copied().enumerate() {
            if d.is_null(item) {
                continue;
            }
            let item_path = nvidia_path.index(i);
            let Some(f) = d.fields(d.slot(item), &item_path, &["model", "ram", "interface"]) else { continue };
            let mut key = format!(
                "vendor/nvidia/model/{}",
                f.get("model").and_then(|s| d.string(s, &item_path.key("model"))).unwrap_or_default()
            );
            if let Some(ram) = f.get("ram").filter(|s| !d.is_null(s.id)) {
                let bytes = quantity(d, ram, &item_path.key("ram"), parse_gpu_memory);
                key.push_str(&format!("/ram/{}", gpu_memory_key(bytes)));
            }
            if let Some(iface) = f.get("interface").filter(|s| !d.is_null(s.id)) {
                let text = d.raw_text(iface).unwrap_or_default();
                if text != "pcie" && text != "sxm" {
                    d.sink.error(
                        iface.pos,
                        item_path.key("interface"),
                        format!("invalid GPU interface {text:?}: expected \"pcie\" or \"sxm\""),
                    );
                }
                key.push_str(&format!("/interface/{text}"));
            }
            attrs.push(Attribute::new(key, "true"));
        }
    }
    if attrs.is_empty() {
        attrs.push(Attribute::new("vendor/nvidia/model/*", "true"));
    }
    attrs.sort_by(|a, b| a.key.cmp(&b.key));
    match validate_attributes(&attrs) {
        Ok(()) => {}
        Err(AttributeError::InvalidKey(k)) => d.sink.error(
            slot.pos,
            path,
            format!("invalid GPU attributes: {k:?} is not a valid attribute key; model names use letters, digits, '.', '_' and '-' (e.g. rtx4090)"),
        ),
        Err(AttributeError::DuplicateKey(k)) => {
            d.sink.error(slot.pos, path, format!("invalid GPU attributes: {k:?} is listed twice"));
        }
    }
    attrs
}
