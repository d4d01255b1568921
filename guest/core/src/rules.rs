//! The rule codes of every format, generated at build time from `spec/rule_codes.json`
//! (the one definition, which Python reads too).

include!(concat!(env!("OUT_DIR"), "/rules.rs"));

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::Rule;

    #[test]
    fn every_rule_of_the_spec_in_order() {
        let text = include_str!("../../../spec/rule_codes.json");
        let spec: serde_json::Value = serde_json::from_str(text).expect("spec/rule_codes.json is JSON");
        let rules = spec["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), Rule::ALL.len());
        for (r, rule) in rules.iter().zip(Rule::ALL) {
            assert_eq!(r["code"], rule.code());
            assert_eq!(r["name"], rule.name());
        }
    }
}
