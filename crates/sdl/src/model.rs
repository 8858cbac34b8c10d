//! The SDL as written, decoded from YAML with Akash's field names and rules (`v2.go`).
//!
//! Maps are `BTreeMap`s: Akash iterates Go maps in sorted key order wherever order reaches the
//! output, and byte order of `String` is Go's `sort.Strings` order.

use std::collections::BTreeMap;

use stratus_types::attributes::Attribute;
use stratus_types::group::SignedBy;

use crate::decode::{Decoder, Fields, Slot};
use crate::diag::{Path, Pos, suggest};
use crate::gocompat::{SemVer, parse_duration, request_uri_host_error};
use crate::resources::{ComputeResources, decode_resources};
use crate::yaml::Doc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdlVersion {
    V2_0,
    /// "2.1" and any later version (Akash parses "3.0" as 2.1).
    V2_1,
}

#[derive(Debug, Default)]
pub(crate) struct Model {
    pub services: BTreeMap<String, Service>,
    pub compute: BTreeMap<String, Compute>,
    pub placement: BTreeMap<String, Placement>,
    /// service → placement → (compute profile, count)
    pub deployment: BTreeMap<String, BTreeMap<String, ServiceDeployment>>,
    pub endpoints: BTreeMap<String, EndpointDecl>,
    pub reclamation: Option<Reclamation>,
}

#[derive(Debug, Default)]
pub(crate) struct Service {
    pub pos: Pos,
    pub image: String,
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub env_pos: Pos,
    pub expose: Vec<Expose>,
    pub params: Option<Params>,
    pub credentials: Option<Credentials>,
}

#[derive(Debug, Default)]
pub(crate) struct Expose {
    pub pos: Pos,
    pub port: u32,
    pub external_port: u32,
    pub proto: String,
    pub proto_pos: Pos,
    pub to: Vec<ExposeTo>,
    pub accept: Option<Vec<String>>,
    pub accept_pos: Pos,
    pub http_options: HttpOptions,
}

#[derive(Debug, Default)]
pub(crate) struct ExposeTo {
    pub pos: Pos,
    pub service: String,
    pub global: bool,
    pub ip: String,
}

#[derive(Debug, Default)]
pub(crate) struct HttpOptions {
    pub pos: Pos,
    pub max_body_size: u32,
    pub proxy_buffer_size: u32,
    pub read_timeout: u32,
    pub send_timeout: u32,
    pub next_tries: u32,
    pub next_timeout: u32,
    pub next_cases: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Params {
    pub storage: BTreeMap<String, StorageParams>,
    /// `Some(vec![])` for `permissions: {}` (present but empty), as in Go.
    pub permissions: Option<Vec<String>>,
    pub tee: String,
    pub tee_pos: Pos,
}

#[derive(Debug, Default)]
pub(crate) struct StorageParams {
    pub pos: Pos,
    pub mount: String,
    pub read_only: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Credentials {
    pub pos: Pos,
    pub host: String,
    pub email: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Default)]
pub(crate) struct Compute {
    pub pos: Pos,
    pub resources: Option<ComputeResources>,
}

#[derive(Debug, Default)]
pub(crate) struct Placement {
    pub attributes: Vec<Attribute>,
    pub signed_by: SignedBy,
    /// compute profile → price per block; `None` when the entry is null.
    pub pricing: BTreeMap<String, (Pos, Option<Price>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Price {
    pub denom: String,
    pub amount: stratus_types::dec::Dec,
}

#[derive(Debug, Default)]
pub(crate) struct ServiceDeployment {
    pub pos: Pos,
    pub profile: String,
    pub count: u32,
}

#[derive(Debug, Default)]
pub(crate) struct EndpointDecl {
    pub pos: Pos,
    pub kind: String,
}

#[derive(Debug, Default)]
pub(crate) struct Reclamation {
    pub pos: Pos,
    pub min_window: String,
}

const TOP_LEVEL: &[&str] = &["version", "include", "services", "profiles", "deployment", "endpoints", "reclamation"];

/// Decodes the document into the model; errors and warnings go to `d.sink`.
pub(crate) fn decode_document(doc: &Doc, d: &mut Decoder<'_, '_>) -> Option<(SdlVersion, Model)> {
    let Some(root) = doc.root else {
        d.sink.error(
            Pos::new(1, 1),
            "",
            "the file holds no YAML document; an SDL needs version, services, profiles and deployment",
        );
        return None;
    };
    let root_slot = d.slot(root);
    let version = detect_version(d, root_slot)?;
    let pairs = top_level_pairs(d, root_slot)?;
    let mut model = Model::default();
    let mut seen: Vec<&str> = Vec::new();
    let root = Path::Root;
    for entry in pairs {
        if entry.key == "version" {
            continue;
        }
        let path = root.key(entry.key);
        if !TOP_LEVEL.contains(&entry.key) {
            let hint = suggest(entry.key, TOP_LEVEL).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
            d.sink.error(
                entry.key_pos,
                path,
                format!("unexpected top-level field (allowed: {}){hint}", TOP_LEVEL.join(", ")),
            );
            continue;
        }
        if seen.contains(&entry.key) {
            d.sink.warn(entry.key_pos, path, "defined twice at the top level; Akash merges both, later entries win");
        }
        seen.push(entry.key);
        let slot = entry.slot();
        match entry.key {
            "include" => {
                // Parsed and unused by Akash; still type-checked like Akash does.
                d.string_seq(slot, &path);
            }
            "services" => decode_map_into(d, slot, &path, &mut model.services, decode_service),
            "profiles" => decode_profiles(d, slot, &path, &mut model),
            "deployment" => decode_map_into(d, slot, &path, &mut model.deployment, decode_service_deployments),
            "endpoints" => decode_map_into(d, slot, &path, &mut model.endpoints, decode_endpoint),
            "reclamation" => {
                let mut r = Reclamation { pos: slot.pos, ..Reclamation::default() };
                if let Some(f) = d.fields(slot, &path, &["min_window"])
                    && let Some(s) = f.get("min_window")
                {
                    r.pos = s.pos;
                    r.min_window = d.string(s, &path.key("min_window")).unwrap_or_default();
                }
                model.reclamation = Some(r);
            }
            _ => {}
        }
    }
    Some((version, model))
}

/// Akash scans the top-level node for a `version` key before anything else.
fn detect_version(d: &mut Decoder<'_, '_>, root: Slot) -> Option<SdlVersion> {
    let content = d.content(root.id);
    let mut found = None;
    let mut i = 0;
    while i < content.len() {
        if d.node_text(content[i]) == "version" {
            found = Some((content[i], content.get(i + 1).copied()));
            break;
        }
        // Keys are at even positions of a mapping; Go also looks at values, which only matters
        // for files that are rejected anyway.
        i += 1;
    }
    let Some((key, value)) = found else {
        d.sink.error(root.pos, "version", "no version found: start the file with version: \"2.0\"");
        return None;
    };
    let key_pos = d.pos(key);
    let text = value.and_then(|v| d.raw_text(d.slot(v))).unwrap_or_default();
    match SemVer::parse_tolerant(text) {
        Ok(v) if v.is(2, 0) => Some(SdlVersion::V2_0),
        Ok(v) if v.at_least(2, 1) => Some(SdlVersion::V2_1),
        Ok(_) => {
            d.sink.error(key_pos, "version", format!("unsupported version {text:?}: use \"2.0\" or \"2.1\""));
            None
        }
        Err(e) => {
            d.sink.error(key_pos, "version", format!("{e}: use \"2.0\" or \"2.1\""));
            None
        }
    }
}

fn top_level_pairs<'d>(d: &mut Decoder<'d, '_>, root: Slot) -> Option<Vec<crate::decode::Entry<'d>>> {
    if !d.is_map(root.id) {
        d.sink.error(root.pos, "", "an SDL must be a mapping of version, services, profiles and deployment");
        return None;
    }
    d.raw_pairs(root, &Path::Root)
}

/// Decodes a `map[string]T` into `into`, replacing existing keys (Go decodes into the same map
/// when a key repeats at the top level). A null value yields `T::default()` at that position.
fn decode_map_into<T: Default>(
    d: &mut Decoder<'_, '_>,
    slot: Slot,
    path: &Path<'_>,
    into: &mut BTreeMap<String, T>,
    decode: fn(&mut Decoder<'_, '_>, Slot, &Path<'_>) -> T,
) {
    let Some(entries) = d.entries(slot, path) else { return };
    for entry in entries {
        let item_path = path.key(entry.key);
        let value = decode(d, entry.slot(), &item_path);
        into.insert(entry.key.to_string(), value);
    }
}

const SERVICE_KEYS: &[&str] = &["image", "command", "args", "env", "expose", "dependencies", "params", "credentials"];

fn decode_service(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Service {
    let mut svc = Service { pos: slot.pos, env_pos: slot.pos, ..Service::default() };
    let Some(f) = d.fields(slot, path, SERVICE_KEYS) else { return svc };
    if let Some(s) = f.get("image") {
        svc.image = d.string(s, &path.key("image")).unwrap_or_default();
    }
    svc.command = f.get("command").and_then(|s| d.string_seq(s, &path.key("command")));
    svc.args = f.get("args").and_then(|s| d.string_seq(s, &path.key("args")));
    if let Some(s) = f.get("env") {
        svc.env_pos = s.pos;
        svc.env = d.string_seq(s, &path.key("env"));
    }
    if let Some(s) = f.get("expose") {
        let expose_path = path.key("expose");
        for (i, item) in d.seq(s, &expose_path).unwrap_or_default().iter().copied().enumerate() {
            if d.is_null(item) {
                continue;
            }
            let slot = d.slot(item);
            svc.expose.push(decode_expose(d, slot, &expose_path.index(i)));
        }
    }
    if let Some(s) = f.get("dependencies") {
        let dep_path = path.key("dependencies");
        for (i, item) in d.seq(s, &dep_path).unwrap_or_default().iter().copied().enumerate() {
            let item_path = dep_path.index(i);
            if let Some(f) = d.fields(d.slot(item), &item_path, &["service"])
                && let Some(s) = f.get("service")
            {
                d.string(s, &item_path.key("service"));
            }
        }
    }
    if let Some(s) = f.get("params") {
        svc.params = decode_params(d, s, &path.key("params"));
    }
    if let Some(s) = f.get("credentials") {
        let cred_path = path.key("credentials");
        if let Some(f) = d.fields(s, &cred_path, &["host", "email", "username", "password"]) {
            let mut get = |key: &str| f.get(key).and_then(|s| d.string(s, &cred_path.key(key))).unwrap_or_default();
            svc.credentials = Some(Credentials {
                pos: s.pos,
                host: get("host"),
                email: get("email"),
                username: get("username"),
                password: get("password"),
            });
        }
    }
    svc
}

fn uint32(d: &mut Decoder<'_, '_>, f: &Fields, key: &str, path: &Path<'_>) -> u32 {
    f.get(key).and_then(|s| d.uint(s, &path.key(key), 32)).map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX))
}

fn decode_expose(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Expose {
    let mut e = Expose { pos: slot.pos, proto_pos: slot.pos, accept_pos: slot.pos, ..Expose::default() };
    let Some(f) = d.fields(slot, path, &["port", "as", "proto", "to", "accept", "http_options"]) else {
        return e;
    };
    if let Some(s) = f.get("port") {
        e.pos = s.pos;
    }
    e.port = uint32(d, &f, "port", path);
    e.external_port = uint32(d, &f, "as", path);
    if let Some(s) = f.get("proto") {
        e.proto_pos = s.pos;
        e.proto = d.string(s, &path.key("proto")).unwrap_or_default();
    }
    if let Some(s) = f.get("to") {
        let to_path = path.key("to");
        for (i, item) in d.seq(s, &to_path).unwrap_or_default().iter().copied().enumerate() {
            if d.is_null(item) {
                continue;
            }
            let item_path = to_path.index(i);
            let item_slot = d.slot(item);
            let mut to = ExposeTo { pos: item_slot.pos, ..ExposeTo::default() };
            if let Some(f) = d.fields(item_slot, &item_path, &["service", "global", "http_options", "ip"]) {
                if let Some(s) = f.get("service") {
                    to.service = d.string(s, &item_path.key("service")).unwrap_or_default();
                }
                if let Some(s) = f.get("global") {
                    to.global = d.boolean(s, &item_path.key("global")).unwrap_or_default();
                }
                if let Some(s) = f.get("ip") {
                    to.ip = d.string(s, &item_path.key("ip")).unwrap_or_default();
                }
                if let Some(s) = f.get("http_options") {
                    // Accepted and type-checked by Akash, but only the expose-level options count.
                    decode_http_options(d, s, &item_path.key("http_options"));
                }
            }
            e.to.push(to);
        }
    }
    if let Some(s) = f.get("accept") {
        e.accept_pos = s.pos;
        let accept_path = path.key("accept");
        e.accept = d.string_seq(s, &accept_path);
        for (i, host) in e.accept.iter().flatten().enumerate() {
            if let Some(problem) = request_uri_host_error(host) {
                d.sink.error(s.pos, accept_path.index(i), format!("{host:?} is not a valid host name: it {problem}"));
            }
        }
    }
    if let Some(s) = f.get("http_options") {
        e.http_options = decode_http_options(d, s, &path.key("http_options"));
    }
    e
}

const HTTP_OPTION_KEYS: &[&str] =
    &["max_body_size", "proxy_buffer_size", "read_timeout", "send_timeout", "next_tries", "next_timeout", "next_cases"];

fn decode_http_options(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> HttpOptions {
    let mut h = HttpOptions { pos: slot.pos, ..HttpOptions::default() };
    let Some(f) = d.fields(slot, path, HTTP_OPTION_KEYS) else { return h };
    h.max_body_size = uint32(d, &f, "max_body_size", path);
    h.proxy_buffer_size = uint32(d, &f, "proxy_buffer_size", path);
    h.read_timeout = uint32(d, &f, "read_timeout", path);
    h.send_timeout = uint32(d, &f, "send_timeout", path);
    h.next_tries = uint32(d, &f, "next_tries", path);
    h.next_timeout = uint32(d, &f, "next_timeout", path);
    if let Some(s) = f.get("next_cases") {
        h.next_cases = d.string_seq(s, &path.key("next_cases")).unwrap_or_default();
    }
    h
}

fn decode_params(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Option<Params> {
    let f = d.fields(slot, path, &["storage", "permissions", "tee"])?;
    let mut p = Params { tee_pos: slot.pos, ..Params::default() };
    if let Some(s) = f.get("storage") {
        let storage_path = path.key("storage");
        for entry in d.entries(s, &storage_path).unwrap_or_default() {
            let vol_path = storage_path.key(entry.key);
            let mut sp = StorageParams { pos: entry.key_pos, ..StorageParams::default() };
            if let Some(f) = d.fields(entry.slot(), &vol_path, &["mount", "readOnly"]) {
                if let Some(s) = f.get("mount") {
                    sp.mount = d.string(s, &vol_path.key("mount")).unwrap_or_default();
                }
                if let Some(s) = f.get("readOnly") {
                    sp.read_only = d.boolean(s, &vol_path.key("readOnly")).unwrap_or_default();
                }
            }
            p.storage.insert(entry.key.to_string(), sp);
        }
    }
    if let Some(s) = f.get("permissions") {
        let perm_path = path.key("permissions");
        if let Some(f) = d.fields(s, &perm_path, &["read"]) {
            let read = f.get("read").and_then(|s| d.string_seq(s, &perm_path.key("read")));
            p.permissions = Some(read.unwrap_or_default());
        }
    }
    if let Some(s) = f.get("tee") {
        p.tee_pos = s.pos;
        p.tee = d.string(s, &path.key("tee")).unwrap_or_default();
    }
    Some(p)
}

fn decode_profiles(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>, model: &mut Model) {
    let Some(f) = d.fields(slot, path, &["compute", "placement"]) else { return };
    if let Some(s) = f.get("compute") {
        decode_map_into(d, s, &path.key("compute"), &mut model.compute, |d, slot, path| {
            let mut c = Compute { pos: slot.pos, resources: None };
            if let Some(f) = d.fields(slot, path, &["resources"])
                && let Some(s) = f.get("resources")
            {
                c.resources = decode_resources(d, s, &path.key("resources"));
            }
            c
        });
    }
    if let Some(s) = f.get("placement") {
        decode_map_into(d, s, &path.key("placement"), &mut model.placement, decode_placement);
    }
}

fn decode_placement(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Placement {
    let mut p = Placement::default();
    let Some(f) = d.fields(slot, path, &["attributes", "signedBy", "pricing"]) else { return p };
    if let Some(s) = f.get("attributes") {
        p.attributes = string_map(d, s, &path.key("attributes"));
    }
    if let Some(s) = f.get("signedBy") {
        let sb_path = path.key("signedBy");
        if let Some(f) = d.fields(s, &sb_path, &["allOf", "anyOf"]) {
            p.signed_by.all_of = f.get("allOf").and_then(|s| d.string_seq(s, &sb_path.key("allOf")));
            p.signed_by.any_of = f.get("anyOf").and_then(|s| d.string_seq(s, &sb_path.key("anyOf")));
        }
    }
    if let Some(s) = f.get("pricing") {
        let pricing_path = path.key("pricing");
        for entry in d.entries(s, &pricing_path).unwrap_or_default() {
            let price = decode_price(d, entry.slot(), &pricing_path.key(entry.key));
            p.pricing.insert(entry.key.to_string(), (entry.key_pos, price));
        }
    }
    p
}

/// A `map[string]string` (placement attributes): values are the raw scalar text, sorted by key.
pub(crate) fn string_map(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Vec<Attribute> {
    let mut attrs = Vec::new();
    for entry in d.entries(slot, path).unwrap_or_default() {
        let value = d.string(entry.slot(), &path.key(entry.key)).unwrap_or_default();
        attrs.retain(|a: &Attribute| a.key != entry.key);
        attrs.push(Attribute::new(entry.key, value));
    }
    attrs.sort_by(|a, b| a.key.cmp(&b.key));
    attrs
}

fn decode_price(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> Option<Price> {
    let f = d.fields(slot, path, &["denom", "amount"])?;
    let denom = f.get("denom").and_then(|s| d.string(s, &path.key("denom"))).unwrap_or_default();
    let amount_slot = f.get("amount");
    let amount_text = amount_slot.and_then(|s| d.string(s, &path.key("amount"))).unwrap_or_default();
    let at = amount_slot.map_or(slot.pos, |s| s.pos);
    let amount_path = path.key("amount");
    let amount = match stratus_types::dec::Dec::parse_signed(&amount_text) {
        Ok(a) if a.magnitude.is_zero() => {
            d.sink.error(at, amount_path, "invalid coin amount: amount is zero; a price must be positive");
            return None;
        }
        Ok(a) if a.negative => {
            d.sink.error(at, amount_path, format!("amount {amount_text:?} is negative; a price must be positive"));
            return None;
        }
        Ok(a) => a.magnitude,
        Err(e) => {
            d.sink.error(at, amount_path, format!("{e}; write a decimal number like 1000 or 0.5"));
            return None;
        }
    };
    if !stratus_types::group::is_valid_denom(&denom) {
        let at = f.get("denom").map_or(slot.pos, |s| s.pos);
        d.sink.error(
            at,
            path.key("denom"),
            format!("{denom:?} is not a valid denomination (3-128 characters: a letter, then letters, digits, '/', ':', '.', '_' or '-'), e.g. uact"),
        );
        return None;
    }
    Some(Price { denom, amount })
}

fn decode_service_deployments(
    d: &mut Decoder<'_, '_>,
    slot: Slot,
    path: &Path<'_>,
) -> BTreeMap<String, ServiceDeployment> {
    let mut out = BTreeMap::new();
    for entry in d.entries(slot, path).unwrap_or_default() {
        let item_path = path.key(entry.key);
        let mut sd = ServiceDeployment { pos: entry.key_pos, ..ServiceDeployment::default() };
        if let Some(f) = d.fields(entry.slot(), &item_path, &["profile", "count"]) {
            if let Some(s) = f.get("profile") {
                sd.profile = d.string(s, &item_path.key("profile")).unwrap_or_default();
            }
            sd.count = uint32(d, &f, "count", &item_path);
        }
        out.insert(entry.key.to_string(), sd);
    }
    out
}

fn decode_endpoint(d: &mut Decoder<'_, '_>, slot: Slot, path: &Path<'_>) -> EndpointDecl {
    let mut e = EndpointDecl { pos: slot.pos, kind: String::new() };
    if let Some(f) = d.fields(slot, path, &["kind"])
        && let Some(s) = f.get("kind")
    {
        e.kind = d.string(s, &path.key("kind")).unwrap_or_default();
    }
    e
}

impl Reclamation {
    /// The minimum reclamation window in seconds, validated like Akash (`> 0`).
    pub fn window_seconds(&self) -> Result<u64, String> {
        let nanos = parse_duration(&self.min_window)?;
        if nanos <= 0 {
            return Err(format!("min_window {:?} must be greater than zero", self.min_window));
        }
        Ok(u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX))
    }
}
