//! One scoring request end to end, exactly as the guest runs it: verify the bundle,
//! load the model and the spec, compute features and score, build the journal.

use crate::bundle;
use crate::error::{Error, Result, Rule};
use crate::features;
use crate::input::GuestInput;
use crate::journal::Journal;
use crate::keccak::keccak256;
use crate::model::Model;
use crate::spec;
use alloc::format;
use alloc::vec::Vec;

/// The journal and the intermediate results (features) of a request.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What the guest commits.
    pub journal: Journal,
    /// The feature vector fed to the model.
    pub features: Vec<i32>,
}

/// Run a request; any inconsistency is an error and yields no journal.
pub fn run(input: &GuestInput) -> Result<Outcome> {
    let verified = bundle::verify(&input.bundle)?;
    score(input, &verified)
}

/// The request on a verified bundle (v1, or v2 through `input_v2`): features, score,
/// journal.
pub fn score(input: &GuestInput, verified: &bundle::Verified) -> Result<Outcome> {
    let model = Model::from_canonical(&input.model)?;
    let spec = spec::parse_canonical(&input.spec)?;
    let b = input.request_block;
    if b < verified.first_block() || b > verified.anchor().number {
        return Err(Error::Bundle(Rule::RequestBlock, format!(
            "request block {b} is outside the bundle's headers {}..={}",
            verified.first_block(),
            verified.anchor().number
        )));
    }
    let feats = features::compute(&spec, verified, &input.subject, b)?;
    if feats.len() != model.input_dim as usize {
        return Err(Error::Spec(Rule::FeatureCount, format!(
            "the spec yields {} features, the model takes {}",
            feats.len(),
            model.input_dim
        )));
    }
    let score = model.eval(&feats)?;
    let anchor = verified.anchor();
    Ok(Outcome {
        journal: Journal {
            version: 1,
            chain_id: verified.chain_id,
            anchor_number: anchor.number,
            anchor_hash: anchor.hash,
            block_number: b,
            subject: input.subject,
            model_hash: keccak256(&input.model),
            feature_spec_hash: keccak256(&input.spec),
            score,
            request_id: input.request_id,
        },
        features: feats,
    })
}
