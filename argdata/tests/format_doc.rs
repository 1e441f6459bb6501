//! Keeps `docs/argdata-format.md` honest: every row of its accepted/rejected table must be
//! a row of the reference vectors with the same verdict, and must show exactly what the
//! reader reports.
#![cfg(feature = "std")]

mod common;

use argdata::{Argdata, yaml};

#[test]
fn format_doc_table_matches_vectors_and_reader() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/argdata-format.md");
    let doc = std::fs::read_to_string(path).expect("docs/argdata-format.md");
    let rows = common::rows();
    let mut checked = 0;
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `hex` | accepted/rejected | detail |
        let [_, hex, verdict, detail, _] = cells[..] else {
            continue;
        };
        let Some(hex) = hex.strip_prefix('`').and_then(|h| h.strip_suffix('`')) else {
            continue;
        };
        let accepted = match verdict {
            "accepted" => true,
            "rejected" => false,
            _ => continue,
        };
        let vector = rows
            .iter()
            .find(|r| r.hex == hex)
            .unwrap_or_else(|| panic!("{hex} is not in the reference vectors"));
        assert_eq!(
            vector.valid, accepted,
            "{hex}: verdict differs from the vectors"
        );
        let ad = Argdata::new(&vector.bytes);
        if accepted {
            let node = detail.trim_matches('`');
            assert_eq!(
                yaml::to_string(ad).unwrap(),
                format!("{}{node}\n", yaml::HEADER),
                "{hex}"
            );
        } else {
            assert_eq!(ad.validate().unwrap_err().to_string(), detail, "{hex}");
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} table rows found");
}
