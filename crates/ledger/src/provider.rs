//! Provider registration and auditor-signed attributes (Akash `x/provider`, `x/audit`).

use stratus_types::address::Address;
use stratus_types::attributes::{Attribute, validate_attributes, validate_provider_attributes};
use stratus_types::benchmark::{BenchmarkFigures, BenchmarkRecord};
use stratus_types::event::Event;
use stratus_types::market::{AuditedAttributes, Provider, ProviderInfo};

use crate::error::LedgerError;
use crate::exec::{Exec, Result};
use crate::keys;

/// `https://host[:port]` with nothing after the authority (Akash requires no path).
pub fn validate_host_uri(uri: &str) -> Result<()> {
    let bad = || LedgerError::BadHostUri(uri.to_string());
    let authority = uri.strip_prefix("https://").ok_or_else(bad)?;
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    if authority.is_empty() || authority.len() > 253 + 6 {
        return Err(bad());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (authority, None),
    };
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(bad());
    }
    let ok = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    if ok { Ok(()) } else { Err(bad()) }
}

impl Exec<'_> {
    fn provider_record(&mut self, owner: &Address) -> Result<Option<Provider>> {
        self.st.get(&keys::provider(owner))
    }

    pub fn create_provider(
        &mut self,
        owner: Address,
        host_uri: &str,
        attributes: &[Attribute],
        info: &ProviderInfo,
    ) -> Result<()> {
        if self.provider_record(&owner)?.is_some() {
            return Err(LedgerError::ProviderExists(owner));
        }
        self.put_provider(owner, host_uri, attributes, info)?;
        self.emit(Event::ProviderCreated { owner });
        Ok(())
    }

    pub fn update_provider(
        &mut self,
        owner: Address,
        host_uri: &str,
        attributes: &[Attribute],
        info: &ProviderInfo,
    ) -> Result<()> {
        if self.provider_record(&owner)?.is_none() {
            return Err(LedgerError::ProviderNotFound(owner));
        }
        self.put_provider(owner, host_uri, attributes, info)?;
        self.emit(Event::ProviderUpdated { owner });
        Ok(())
    }

    fn put_provider(
        &mut self,
        owner: Address,
        host_uri: &str,
        attributes: &[Attribute],
        info: &ProviderInfo,
    ) -> Result<()> {
        validate_host_uri(host_uri)?;
        validate_provider_attributes(attributes).map_err(|e| LedgerError::BadAttributes(e.to_string()))?;
        let mut attributes = attributes.to_vec();
        attributes.sort();
        let record = Provider { owner, host_uri: host_uri.to_string(), attributes, info: info.clone() };
        self.st.put(keys::provider(&owner), &record);
        Ok(())
    }

    /// An auditor vouches for attributes of a provider (adding to, or replacing, earlier ones).
    pub fn sign_attributes(&mut self, auditor: Address, provider: Address, attributes: &[Attribute]) -> Result<()> {
        if self.provider_record(&provider)?.is_none() {
            return Err(LedgerError::ProviderNotFound(provider));
        }
        validate_attributes(attributes).map_err(|e| LedgerError::BadAttributes(e.to_string()))?;
        let key = keys::audit(&provider, &auditor);
        let mut record: AuditedAttributes =
            self.st.get(&key)?.unwrap_or(AuditedAttributes { provider, auditor, attributes: Vec::new() });
        for a in attributes {
            record.attributes.retain(|x| x.key != a.key);
            record.attributes.push(a.clone());
        }
        record.attributes.sort();
        self.st.put(key, &record);
        self.emit(Event::AttributesSigned { provider, auditor });
        Ok(())
    }

    /// A registered provider publishes its figures for one GPU model (replacing its earlier
    /// record for that model). The signer is the provider: nobody publishes for another.
    pub fn publish_benchmark(&mut self, provider: Address, figures: &BenchmarkFigures) -> Result<()> {
        if self.provider_record(&provider)?.is_none() {
            return Err(LedgerError::ProviderNotFound(provider));
        }
        stratus_types::benchmark::validate(figures).map_err(LedgerError::BadBenchmark)?;
        let record = BenchmarkRecord { provider, figures: figures.clone(), height: self.height };
        self.st.put(keys::benchmark(&provider, &figures.gpu_model), &record);
        self.emit(Event::BenchmarkPublished { provider, gpu_model: figures.gpu_model.clone() });
        Ok(())
    }

    /// Withdraws an auditor's signature from the given keys (all keys when empty).
    pub fn delete_attributes(&mut self, auditor: Address, provider: Address, keys_to_delete: &[String]) -> Result<()> {
        let key = keys::audit(&provider, &auditor);
        let Some(mut record) = self.st.get::<AuditedAttributes>(&key)? else {
            return Err(LedgerError::BadAttributes(format!("auditor {auditor} has signed nothing for {provider}")));
        };
        if keys_to_delete.is_empty() {
            record.attributes.clear();
        } else {
            record.attributes.retain(|a| !keys_to_delete.contains(&a.key));
        }
        if record.attributes.is_empty() {
            self.st.delete(key);
        } else {
            self.st.put(key, &record);
        }
        self.emit(Event::AttributesDeleted { provider, auditor });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_uris() {
        for ok in ["https://provider.example.com", "https://127.0.0.1:8443", "https://p.example.com:443/"] {
            assert_eq!(validate_host_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://p.example.com",
            "https://",
            "https://p.example.com/path",
            "https://p:0",
            "https://p:x",
            "p.example.com",
        ] {
            assert!(validate_host_uri(bad).is_err(), "{bad}");
        }
    }
}
