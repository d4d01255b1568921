//! Journal v1 (formats.md §4): `abi.encode` of ten static fields, 320 bytes. The field
//! list is defined in `spec/journal_v1.json`; a test checks [`FIELDS`] against it.

/// (name, ABI type) of each field, in order: must equal spec/journal_v1.json.
pub const FIELDS: [(&str, &str); 10] = [
    ("version", "uint8"),
    ("chainId", "uint64"),
    ("anchorNumber", "uint64"),
    ("anchorHash", "bytes32"),
    ("blockNumber", "uint64"),
    ("subject", "address"),
    ("modelHash", "bytes32"),
    ("featureSpecHash", "bytes32"),
    ("score", "uint32"),
    ("requestId", "bytes32"),
];

/// Length of the encoding.
pub const LEN: usize = 32 * FIELDS.len();

/// The journal's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    /// Always 1.
    pub version: u8,
    /// Chain id from the bundle.
    pub chain_id: u64,
    /// Anchor block number (`headers[-1]`).
    pub anchor_number: u64,
    /// Anchor block hash.
    pub anchor_hash: [u8; 32],
    /// Request block `B`.
    pub block_number: u64,
    /// The scored address.
    pub subject: [u8; 20],
    /// keccak256 of the canonical model bytes.
    pub model_hash: [u8; 32],
    /// keccak256 of the canonical feature spec.
    pub feature_spec_hash: [u8; 32],
    /// Score in basis points.
    pub score: u32,
    /// Requester-chosen id.
    pub request_id: [u8; 32],
}

fn uint_word(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

impl Journal {
    /// `abi.encode(...)` of the fields in order.
    pub fn encode(&self) -> [u8; LEN] {
        let mut addr = [0u8; 32];
        addr[12..].copy_from_slice(&self.subject);
        let words: [[u8; 32]; 10] = [
            uint_word(u64::from(self.version)),
            uint_word(self.chain_id),
            uint_word(self.anchor_number),
            self.anchor_hash,
            uint_word(self.block_number),
            addr,
            self.model_hash,
            self.feature_spec_hash,
            uint_word(u64::from(self.score)),
            self.request_id,
        ];
        let mut out = [0u8; LEN];
        for (i, w) in words.iter().enumerate() {
            out[32 * i..32 * (i + 1)].copy_from_slice(w);
        }
        out
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn fields_match_spec_file() {
        let text = include_str!("../../../spec/journal_v1.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["version"], 1);
        let fields = v["fields"].as_array().unwrap();
        let got: Vec<(String, String)> = fields
            .iter()
            .map(|f| (f["name"].as_str().unwrap().to_owned(), f["type"].as_str().unwrap().to_owned()))
            .collect();
        let want: Vec<(String, String)> = FIELDS.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn encoding_layout() {
        let j = Journal {
            version: 1,
            chain_id: 0x0102,
            anchor_number: 7,
            anchor_hash: [0xaa; 32],
            block_number: 6,
            subject: [0x11; 20],
            model_hash: [0xbb; 32],
            feature_spec_hash: [0xcc; 32],
            score: 10_000,
            request_id: [0xdd; 32],
        };
        let e = j.encode();
        assert_eq!(e.len(), 320);
        assert_eq!(e[31], 1);
        assert_eq!(&e[62..64], &[1, 2]);
        assert_eq!(&e[160..172], &[0u8; 12]);
        assert_eq!(&e[172..192], &[0x11; 20]);
        assert_eq!(&e[286..288], &10_000u16.to_be_bytes());
    }
}
