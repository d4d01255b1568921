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
