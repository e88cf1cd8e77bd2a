//! The transaction and receipt Merkle trees of FISCO BCOS 3.x and their
//! proofs.
//!
//! The tree is binary: at each level consecutive pairs are hashed together,
//! `H(left ‖ right)`; a lone last node is hashed alone, `H(x)`. One leaf is its
//! own root; no leaves give 32 zero bytes. (`bcos-crypto/merkle/Merkle.h`.)

use super::crypto::CryptoSuite;
use super::hexbytes::Hash;

/// The root over `leaves` in order.
pub fn root(suite: CryptoSuite, leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => [0u8; 32],
        1 => leaves[0],
        _ => {
            let mut level: Vec<Hash> = leaves.to_vec();
            while level.len() > 1 {
                level = next_level(suite, &level);
            }
            level[0]
        }
    }
}

/// The level above `level`: pairs hashed together, a lone last node alone.
fn next_level(suite: CryptoSuite, level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => suite.hash_parts(&[l, r]),
            [x] => suite.hash(x),
            _ => unreachable!("chunks(2) yields one or two"),
        })
        .collect()
}

/// Why a proof does not fold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// An entry is not 32 bytes.
    #[error("proof entry {index} is {len} bytes, expected 32")]
    EntryLength {
        /// Position in the list.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// A level's count is not 1 or 2, runs past the end of the list, or its
    /// padding is not zero.
    #[error("proof level at entry {index}: bad count entry (declares {count} members)")]
    BadCount {
        /// Position of the count entry.
        index: usize,
        /// The count.
        count: u32,
    },
    /// The proof has no entries.
    #[error("the proof is empty")]
    Empty,
    /// The hash being proven is not among a level's members.
    #[error("proof level at entry {index} does not contain the hash being proven")]
    NotAMember {
        /// Position of the count entry.
        index: usize,
    },
}

/// Folds a 3.1+ proof for `leaf`: a flat list where each level starts with
/// an entry whose first 4 bytes are `BE32(count)`, followed by `count`
/// members; the current hash must be among them and the next is `H` of their
/// concatenation. Returns the root the proof leads to. A block with one
/// transaction has the one-entry proof `[leaf]`, whose root is the leaf.
///
/// Stricter than the node (`Merkle.h::verifyMerkleProof`): a level has one or
/// two members and the count entry's padding is zero, so a proof has exactly
/// one encoding.
pub fn fold_proof(suite: CryptoSuite, leaf: &Hash, proof: &[Vec<u8>]) -> Result<Hash, ProofError> {
    fold(suite, leaf, proof).map(|(root, _)| root)
}

/// The leaf's position in the block, read from the proof: at each level the
/// current hash is the left (0) or right (1) member of its pair. `None` when
/// a level's two members are equal (identical receipts are common), which
/// leaves the position undetermined.
pub fn proof_index(
    suite: CryptoSuite,
    leaf: &Hash,
    proof: &[Vec<u8>],
) -> Result<Option<u64>, ProofError> {
    fold(suite, leaf, proof).map(|(_, index)| index)
}

fn fold(
    suite: CryptoSuite,
    leaf: &Hash,
    proof: &[Vec<u8>],
) -> Result<(Hash, Option<u64>), ProofError> {
    if proof.is_empty() {
        return Err(ProofError::Empty);
    }
    if let [only] = proof {
        return if only[..] == leaf[..] {
            Ok((*leaf, Some(0)))
        } else {
            Err(ProofError::NotAMember { index: 0 })
        };
    }
    let mut current = *leaf;
    let mut index = Some(0u64);
    let mut level = 0u32;
    let mut i = 0;
    while i < proof.len() {
        let head = &proof[i];
        if head.len() != 32 {
            return Err(ProofError::EntryLength {
                index: i,
                len: head.len(),
            });
        }
        let count = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let n = count as usize;
        if !(1..=2).contains(&n) || n > proof.len() - i - 1 || head[4..].iter().any(|&b| b != 0) {
            return Err(ProofError::BadCount { index: i, count });
        }
        let members = &proof[i + 1..i + 1 + n];
        let mut parts: Vec<&[u8]> = Vec::with_capacity(n);
        for (k, m) in members.iter().enumerate() {
            if m.len() != 32 {
                return Err(ProofError::EntryLength {
                    index: i + 1 + k,
                    len: m.len(),
                });
            }
            parts.push(m);
        }
        let Some(position) = members.iter().position(|m| m[..] == current[..]) else {
            return Err(ProofError::NotAMember { index: i });
        };
        if level >= 63 {
            return Err(ProofError::BadCount { index: i, count });
        }
        let ambiguous = members.iter().filter(|m| m[..] == current[..]).count() > 1;
        index = index
            .filter(|_| !ambiguous)
            .map(|i| i | ((position as u64) << level));
        level += 1;
        current = suite.hash_parts(&parts);
        i += 1 + n;
    }
    Ok((current, index))
}

/// The proof for leaf `index` in the format nodes serve (see [`fold_proof`]):
/// per level a count entry and the aligned pair (or lone node) holding the
/// current hash, leaf level first, root level omitted; `[leaf]` for a
/// one-leaf tree. `None` if `index` is out of range.
pub fn proof(suite: CryptoSuite, leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    if leaves.len() == 1 {
        return Some(vec![leaves[0]]);
    }
    let mut out = Vec::new();
    let mut level: Vec<Hash> = leaves.to_vec();
    let mut i = index;
    while level.len() > 1 {
        let start = i - i % 2;
        let end = (start + 2).min(level.len());
        let mut count = [0u8; 32];
        count[..4].copy_from_slice(&((end - start) as u32).to_be_bytes());
        out.push(count);
        out.extend_from_slice(&level[start..end]);
        level = next_level(suite, &level);
        i /= 2;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| CryptoSuite::Sm.hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    proptest! {
        #[test]
        fn every_proof_folds_to_the_root_and_gives_its_index(n in 1usize..300, pick in 0usize..300, sm in any::<bool>()) {
            let suite = if sm { CryptoSuite::Sm } else { CryptoSuite::Standard };
            let ls = leaves(n);
            let i = pick % n;
            let p: Vec<Vec<u8>> = proof(suite, &ls, i).unwrap().iter().map(|h| h.to_vec()).collect();
            prop_assert_eq!(fold_proof(suite, &ls[i], &p).unwrap(), root(suite, &ls));
            prop_assert_eq!(proof_index(suite, &ls[i], &p).unwrap(), Some(i as u64));
            // Another leaf does not fold with this proof (unless it is a sibling).
            let other = suite.hash(b"not a leaf");
            prop_assert!(fold_proof(suite, &other, &p).is_err());
        }
    }

    #[test]
    fn small_trees() {
        let s = CryptoSuite::Sm;
        assert_eq!(root(s, &[]), [0; 32]);
        let l = leaves(3);
        let expected = s.hash_parts(&[&s.hash_parts(&[&l[0], &l[1]]), &s.hash(&l[2])]);
        assert_eq!(root(s, &l), expected);
        assert!(proof(s, &l, 3).is_none());
        assert_eq!(fold_proof(s, &l[0], &[]), Err(ProofError::Empty));
    }
}
