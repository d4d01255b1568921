//! Spec v2 series aggregates against the shared vectors (tests/vectors/features/series_v2.json),
//! whose expected values an oracle in exact fractions computed (tests/history/test_series.py).

use coproc_core::series::{aggregate, OPS};

#[test]
fn aggregates_match_the_oracle_vectors() {
    let text = include_str!("../../../tests/vectors/features/series_v2.json");
    let v: serde_json::Value = serde_json::from_str(text).expect("vectors are JSON");
    let cases = v["cases"].as_array().expect("cases");
    assert!(cases.len() > 40);
    let mut checked = 0;
    for case in cases {
        let xs: Vec<i32> = case["samples"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as i32).collect();
        let threshold = case["threshold"].as_i64().unwrap() as i32;
        for op in OPS {
            let expected = case["expected"][op].as_i64().expect("expected value") as i32;
            assert_eq!(aggregate(op, &xs, threshold).unwrap(), expected, "{op} {xs:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, cases.len() * OPS.len());
}

#[test]
fn spec_v2_vector_parses_to_its_canonical_bytes_and_hash() {
    // tests/vectors/features/spec_v2.json: a spec v2 with every series op (its canonical
    // bytes and hash are the Python reference's; its feature values are checked through
    // coproc-host by tests/history/test_spec_v2_guest.py).
    let text = include_str!("../../../tests/vectors/features/spec_v2.json");
    let v: serde_json::Value = serde_json::from_str(text).expect("vector is JSON");
    let spec_text = serde_json::to_string(&v["spec"]).unwrap();
    let spec = coproc_core::spec::parse(spec_text.as_bytes()).expect("spec v2 parses");
    assert_eq!(spec.version, 2);
    let canonical = v["canonical"].as_str().unwrap();
    assert_eq!(String::from_utf8(spec.canonical()).unwrap(), canonical);
    let hash = coproc_core::spec::parse_canonical(canonical.as_bytes()).expect("canonical").hash();
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(format!("0x{hex}"), v["spec_hash"].as_str().unwrap());
    // the same spec as version 1 breaks series_version
    let mut v1 = v["spec"].clone();
    v1["version"] = serde_json::json!(1);
    let err = coproc_core::spec::parse(serde_json::to_string(&v1).unwrap().as_bytes()).unwrap_err();
    assert!(format!("{err}").contains("S003"), "{err}");
}
