// Checks done in the page itself, with ethers (served from the npm package, no CDN):
// the EIP-712 SignedScore signature and the journal's ABI decoding.
import * as ethers from "/explorer/ethers.js";

// The contract's domain and struct (contracts/src SignedScores; coprocessor/onchain/eip712.py)
const DOMAIN_NAME = "coproc SignedScores";
const DOMAIN_VERSION = "1";
const TYPES = {
  SignedScore: [
    { name: "sourceChainId", type: "uint64" },
    { name: "blockNumber", type: "uint64" },
    { name: "subject", type: "address" },
    { name: "modelHash", type: "bytes32" },
    { name: "featureSpecHash", type: "bytes32" },
    { name: "score", type: "uint32" },
  ],
};

// Rebuild the SignedScore from the result's own fields and recover the signer.
export function verifySigned(result) {
  if (!result.signature) return { valid: false, reason: "no signature (mode proven)" };
  const domain = { name: DOMAIN_NAME, version: DOMAIN_VERSION, chainId: result.signing_chain_id,
    verifyingContract: result.signed_scores };
  const message = { sourceChainId: result.chain_id, blockNumber: result.block, subject: result.subject,
    modelHash: result.model_hash, featureSpecHash: result.feature_spec_hash, score: result.score };
  try {
    const sig = ethers.Signature.from(result.signature);
    const recovered = ethers.verifyTypedData(domain, TYPES, message, sig);
    const valid = recovered.toLowerCase() === String(result.signer).toLowerCase();
    return { valid, recovered, digest: ethers.TypedDataEncoder.hash(domain, TYPES, message),
      reason: valid ? "recovered signer = stated signer" : "recovered signer differs from the stated signer" };
  } catch (err) {
    return { valid: false, reason: `signature does not verify: ${err.shortMessage || err.message}` };
  }
}

let journalSpec = null;

// Decode a journal with the field list of spec/journal_v1.json (abi.encode of static fields).
export async function decodeJournal(hex) {
  if (!journalSpec) journalSpec = await (await fetch("/explorer/journal_v1.json")).json();
  const types = journalSpec.fields.map((f) => f.type);
  const values = ethers.AbiCoder.defaultAbiCoder().decode(types, hex);
  const out = {};
  journalSpec.fields.forEach((f, i) => {
    const v = values[i];
    out[f.name] = typeof v === "bigint" ? Number(v) : typeof v === "string" ? v.toLowerCase() : v;
  });
  return out;
}

// RISC0 dev mode: the seal is 0xFFFFFFFF ‖ claim digest (no proof at all).
export function isDevSeal(seal) {
  return typeof seal === "string" && seal.toLowerCase().startsWith("0xffffffff");
}

// A batch result: its leaf (BatchJournalV1.Leaf) hashed as the contract does
// (keccak256(keccak256(abi.encode(leaf)))) and folded with its proof (sorted pairs)
// up to the batch journal's results root.
const LEAF_TYPES = ["uint64", "address", "bytes32", "bytes32", "uint32", "bytes32"];

export function verifyLeaf(batch) {
  const l = batch.leaf;
  const encoded = ethers.AbiCoder.defaultAbiCoder().encode(LEAF_TYPES,
    [l.blockNumber, l.subject, l.modelHash, l.featureSpecHash, l.score, l.requestId]);
  const leafHash = ethers.keccak256(ethers.keccak256(encoded));
  let node = leafHash;
  for (const sibling of batch.proof) {
    node = BigInt(node) < BigInt(sibling) ? ethers.keccak256(ethers.concat([node, sibling]))
      : ethers.keccak256(ethers.concat([sibling, node]));
  }
  return { leafHash, root: node, leafOk: leafHash === batch.leaf_hash.toLowerCase(),
    rootOk: node === batch.results_root.toLowerCase() };
}
