//! The API's OpenAPI 3.1 description, served at `/openapi.json`. Written by hand next to the
//! routes; a test keeps the two in step.

pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        let routed: BTreeSet<(String, String)> =
            crate::api::routes().into_iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
        assert_eq!(documented, routed);
    }

    #[test]
    fn documented_event_kinds_are_the_ledgers() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        let params = doc["paths"]["/events"]["get"]["parameters"].as_array().unwrap();
        let kinds = params.iter().find(|p| p["name"] == "kinds").unwrap();
        let documented: Vec<&str> =
            kinds["schema"]["items"]["enum"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
        assert_eq!(documented, stratus_types::event::Event::KINDS);
    }

    #[test]
    fn references_resolve() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        let text = super::DOCUMENT;
        for part in text.split("\"$ref\": \"#/").skip(1) {
            let target = &part[..part.find('"').unwrap()];
            let mut node = &doc;
            for seg in target.split('/') {
                node = &node[seg];
            }
            assert!(!node.is_null(), "unresolved $ref #/{target}");
        }
    }
}
