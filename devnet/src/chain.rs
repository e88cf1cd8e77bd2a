//! The chain a devnet builds: genesis, blocks sealed by a weighted quorum of
//! its sealers, receipts, and the indexes a JSON-RPC server needs.

use std::collections::HashMap;

use chain::CryptoSuite;
use chain::hashing::{header_hash, receipt_hash, transaction_hash_with_nonce};
use chain::hexbytes::Hash;
use chain::merkle;
use chain::model::{
    Block, BlockHeader, BlockTransactions, LogEntry, ParentInfo, Receipt, ReceiptTxFields,
    SealerSignature, Transaction,
};
use chain::verify::{Sealer, required_weight};

use revm::primitives::Address;

use crate::contracts;
use crate::evm::{Evm, translate};
use crate::signer::{NodeKey, SignerError};
use crate::workload::Scenario;

/// The block version the devnet writes: FISCO BCOS 3.6.0.
pub const BLOCK_VERSION: u32 = 0x0306_0000;

/// What kind of group to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainConfig {
    /// Crypto suite.
    pub suite: CryptoSuite,
    /// Chain id, e.g. `chain0`.
    pub chain_id: String,
    /// Group id, e.g. `group0`.
    pub group_id: String,
    /// Voting weight of each sealer, in order.
    pub weights: Vec<i64>,
}

impl ChainConfig {
    /// `n` sealers of weight 1 on `chain0`/`group0`.
    pub fn new(suite: CryptoSuite, n: usize) -> Self {
        Self {
            suite,
            chain_id: "chain0".into(),
            group_id: "group0".into(),
            weights: vec![1; n],
        }
    }
}

/// A built chain and its sealers.
#[derive(Debug)]
pub struct Devnet {
    config: ChainConfig,
    sealers: Vec<NodeKey>,
    blocks: Vec<Block>,
    receipts: Vec<Vec<Receipt>>,
    /// Transaction hash → (height, index).
    tx_index: HashMap<Hash, (usize, usize)>,
    by_hash: HashMap<Hash, usize>,
    /// The world state the transactions run against.
    evm: Evm,
    /// The ABI each deploy transaction carried, by contract address
    /// (lowercase hex, no `0x`), as FISCO BCOS keeps it for `getABI`.
    abis: HashMap<String, String>,
}

/// Why a devnet operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A key operation failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// The configuration is unusable.
    #[error("devnet config: {0}")]
    Config(String),
}

impl Devnet {
    /// A chain with a genesis block, sealed by `sealers` (one per weight).
    pub fn new(config: ChainConfig, sealers: Vec<NodeKey>) -> Result<Self, ChainError> {
        if sealers.is_empty() || sealers.len() != config.weights.len() {
            return Err(ChainError::Config(format!(
                "{} sealer keys for {} weights",
                sealers.len(),
                config.weights.len()
            )));
        }
        if sealers.iter().any(|k| k.suite() != config.suite) {
            return Err(ChainError::Config(
                "a sealer key is of the other crypto suite".into(),
            ));
        }
        if config.weights.iter().any(|w| *w <= 0) {
            return Err(ChainError::Config("sealer weights must be positive".into()));
        }
        // The business contracts, installed at their scenarios' addresses.
        let mut evm = Evm::new(config.suite);
        let mut abis = HashMap::new();
        let mut installed = Vec::new();
        for scenario in Scenario::ALL {
            let name = contracts::of_scenario(scenario);
            let a = contracts::artifact(name).map_err(|e| ChainError::Config(e.to_string()))?;
            let code = translate(&a.bytecode, &a.abi, config.suite)
                .map_err(|e| ChainError::Config(format!("{name}: {e}")))?;
            let at = scenario.contract_address().trim_start_matches("0x");
            let bytes = hex::decode(at).map_err(|e| ChainError::Config(e.to_string()))?;
            evm.install(Address::from_slice(&bytes), &code)
                .map_err(|e| ChainError::Config(format!("{name}: {e}")))?;
            abis.insert(at.to_string(), a.abi.clone());
            installed.push((name, format!("0x{at}")));
        }
        // The genesis configuration as FISCO BCOS 3.x writes it into block
        // 0's extraData (INI-like text; the sealers as `node.N:ID,WEIGHT`),
        // so that the genesis hash covers the first committee; the devnet's
        // contracts are listed in a section of their own.
        let mut genesis_config = format!(
            "[chain]\nsm_crypto:{}\nchainID: {}\ngroupID: {}\n[consensus]\nconsensus_type: pbft\n",
            u8::from(config.suite == CryptoSuite::Sm),
            config.chain_id,
            config.group_id,
        );
        for (i, (k, w)) in sealers.iter().zip(&config.weights).enumerate() {
            genesis_config.push_str(&format!("node.{i}:{},{w}\n", hex::encode(k.node_id())));
        }
        genesis_config.push_str("[devnet]\n");
        for (i, c) in installed.iter().enumerate() {
            genesis_config.push_str(&format!("contract.{i}:{},{}\n", c.0, c.1));
        }
        let mut header = BlockHeader {
            version: BLOCK_VERSION,
            parents: Vec::new(),
            txs_root: [0; 32],
            receipts_root: [0; 32],
            state_root: [0; 32],
            number: 0,
            gas_used: "0".into(),
            timestamp: 0,
            sealer: 0,
            sealer_list: Vec::new(),
            extra_data: genesis_config.into_bytes(),
            consensus_weights: Vec::new(),
            claimed_hash: [0; 32],
            signatures: Vec::new(),
        };
        header.claimed_hash = header_hash(config.suite, &header);
        let genesis = Block {
            header,
            transactions: BlockTransactions::Full(Vec::new()),
        };
        let mut by_hash = HashMap::new();
        by_hash.insert(genesis.header.claimed_hash, 0);
        Ok(Self {
            config,
            sealers,
            blocks: vec![genesis],
            receipts: vec![Vec::new()],
            tx_index: HashMap::new(),
            by_hash,
            evm,
            abis,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The crypto suite.
    pub fn suite(&self) -> CryptoSuite {
        self.config.suite
    }

    /// The sealer keys.
    pub fn sealer_keys(&self) -> &[NodeKey] {
        &self.sealers
    }

    /// The committee as the verifier sees it.
    pub fn committee(&self) -> Vec<Sealer> {
        self.sealers
            .iter()
            .zip(&self.config.weights)
            .map(|(k, w)| Sealer {
                node_id: k.node_id(),
                weight: *w,
            })
            .collect()
    }

    /// The current height.
    pub fn head(&self) -> i64 {
        self.blocks.len() as i64 - 1
    }

    /// Block `n`.
    pub fn block(&self, n: i64) -> Option<&Block> {
        usize::try_from(n).ok().and_then(|n| self.blocks.get(n))
    }

    /// The block with this hash.
    pub fn block_by_hash(&self, hash: &Hash) -> Option<&Block> {
        self.by_hash.get(hash).map(|&n| &self.blocks[n])
    }

    /// All blocks.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The receipts of block `n`.
    pub fn receipts_of(&self, n: i64) -> &[Receipt] {
        usize::try_from(n)
            .ok()
            .and_then(|n| self.receipts.get(n))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// A transaction with its height and index.
    pub fn transaction(&self, hash: &Hash) -> Option<(&Transaction, i64, usize)> {
        let &(h, i) = self.tx_index.get(hash)?;
        match &self.blocks[h].transactions {
            BlockTransactions::Full(ts) => ts.get(i).map(|t| (t, h as i64, i)),
            _ => None,
        }
    }

    /// A transaction's receipt.
    pub fn receipt(&self, hash: &Hash) -> Option<&Receipt> {
        let &(h, i) = self.tx_index.get(hash)?;
        self.receipts[h].get(i)
    }

    /// The Merkle proof of a transaction to its block's txsRoot.
    pub fn transaction_proof(&self, hash: &Hash) -> Option<Vec<Hash>> {
        let &(h, i) = self.tx_index.get(hash)?;
        let leaves: Vec<Hash> = match &self.blocks[h].transactions {
            BlockTransactions::Full(ts) => ts.iter().map(|t| t.claimed_hash).collect(),
            _ => return None,
        };
        merkle::proof(self.suite(), &leaves, i)
    }

    /// The Merkle proof of a receipt to its block's receiptsRoot.
    pub fn receipt_proof(&self, hash: &Hash) -> Option<Vec<Hash>> {
        let &(h, i) = self.tx_index.get(hash)?;
        let leaves: Vec<Hash> = self.receipts[h].iter().map(|r| r.claimed_hash).collect();
        merkle::proof(self.suite(), &leaves, i)
    }

    /// A signed transaction from `sender` calling `to` with `input`.
    pub fn make_transaction(
        &self,
        sender: &NodeKey,
        to: &str,
        input: Vec<u8>,
        nonce: String,
        import_time: i64,
    ) -> Result<Transaction, ChainError> {
        let mut t = Transaction {
            version: 0,
            chain_id: self.config.chain_id.clone(),
            group_id: self.config.group_id.clone(),
            block_limit: self.head() + 500,
            nonce_printed: nonce,
            nonce_is_raw: true,
            to: to.to_string(),
            input,
            abi: String::new(),
            value: String::new(),
            gas_price: String::new(),
            gas_limit: 0,
            max_fee_per_gas: String::new(),
            max_priority_fee_per_gas: String::new(),
            extension: Vec::new(),
            claimed_hash: [0; 32],
            signature: Vec::new(),
            claimed_from: Some(sender.address()),
            import_time,
            proof: None,
        };
        let hash = transaction_hash_with_nonce(self.suite(), &t, t.nonce_printed.as_bytes());
        t.claimed_hash = hash;
        t.signature = sender.sign_transaction(&hash)?;
        Ok(t)
    }

    /// Seals the next block holding `txs` at `timestamp_ms`, signed by
    /// sealers in turn from the proposer until their weight reaches the
    /// quorum (exactly what PBFT collects).
    pub fn seal_block(
        &mut self,
        txs: Vec<Transaction>,
        timestamp_ms: i64,
    ) -> Result<&Block, ChainError> {
        let suite = self.suite();
        let number = self.head() + 1;
        let receipts: Vec<Receipt> = txs
            .iter()
            .enumerate()
            .map(|(i, t)| self.receipt_for(t, number, i))
            .collect();
        let parent = &self.blocks[self.blocks.len() - 1].header;
        let tx_hashes: Vec<Hash> = txs.iter().map(|t| t.claimed_hash).collect();
        let receipt_hashes: Vec<Hash> = receipts.iter().map(|r| r.claimed_hash).collect();
        let txs_root = merkle::root(suite, &tx_hashes);
        let receipts_root = merkle::root(suite, &receipt_hashes);
        let state_root = suite.hash_parts(&[&parent.state_root, &txs_root, &receipts_root]);
        let gas: u64 = receipts
            .iter()
            .map(|r| r.gas_used.parse::<u64>().unwrap_or(0))
            .sum();
        let n = self.sealers.len();
        let proposer = (number as usize) % n;
        let mut header = BlockHeader {
            version: BLOCK_VERSION,
            parents: vec![ParentInfo {
                number: parent.number,
                hash: parent.claimed_hash,
            }],
            txs_root,
            receipts_root,
            state_root,
            number,
            gas_used: gas.to_string(),
            timestamp: timestamp_ms,
            sealer: proposer as i64,
            sealer_list: self.sealers.iter().map(NodeKey::node_id).collect(),
            extra_data: Vec::new(),
            consensus_weights: self.config.weights.clone(),
            claimed_hash: [0; 32],
            signatures: Vec::new(),
        };
        let hash = header_hash(suite, &header);
        header.claimed_hash = hash;
        let required = required_weight(&self.config.weights);
        let mut signed = 0;
        for k in 0..n {
            if signed >= required {
                break;
            }
            let i = (proposer + k) % n;
            header.signatures.push(SealerSignature {
                sealer_index: i as i64,
                signature: self.sealers[i].sign_header(&hash)?,
            });
            signed += self.config.weights[i];
        }
        header.signatures.sort_by_key(|s| s.sealer_index);
        let height = self.blocks.len();
        for (i, t) in txs.iter().enumerate() {
            self.tx_index.insert(t.claimed_hash, (height, i));
        }
        self.by_hash.insert(hash, height);
        self.blocks.push(Block {
            header,
            transactions: BlockTransactions::Full(txs),
        });
        self.receipts.push(receipts);
        Ok(&self.blocks[height])
    }

    /// Rebuilds a devnet from blocks it produced earlier (read back from
    /// disk): receipts are derived again and must match each header's
    /// receiptsRoot, and each block must follow its parent.
    pub fn restore(
        config: ChainConfig,
        sealers: Vec<NodeKey>,
        blocks: Vec<Block>,
    ) -> Result<Self, ChainError> {
        let mut d = Self::new(config, sealers)?;
        let mut blocks = blocks.into_iter();
        match blocks.next() {
            Some(g) if g.header.claimed_hash == d.blocks[0].header.claimed_hash => {}
            _ => {
                return Err(ChainError::Config(
                    "block 0 is not this devnet's genesis".into(),
                ));
            }
        }
        for b in blocks {
            let height = d.blocks.len();
            let parent = d.blocks[height - 1].header.claimed_hash;
            if b.header.number != height as i64
                || b.header.parents.first().map(|p| p.hash) != Some(parent)
            {
                return Err(ChainError::Config(format!(
                    "block {} does not follow block {}",
                    b.header.number,
                    height - 1
                )));
            }
            let BlockTransactions::Full(txs) = &b.transactions else {
                return Err(ChainError::Config(format!(
                    "block {height} is stored without its transactions"
                )));
            };
            // Cheap integrity checks (no signatures): the header hash and the
            // transaction root are what was sealed.
            if header_hash(d.suite(), &b.header) != b.header.claimed_hash {
                return Err(ChainError::Config(format!(
                    "block {height}: header hash does not match its fields"
                )));
            }
            let tx_hashes: Vec<Hash> = txs.iter().map(|t| t.claimed_hash).collect();
            if merkle::root(d.suite(), &tx_hashes) != b.header.txs_root {
                return Err(ChainError::Config(format!(
                    "block {height}: transactions do not match txsRoot"
                )));
            }
            let receipts: Vec<Receipt> = txs
                .iter()
                .enumerate()
                .map(|(i, t)| d.receipt_for(t, height as i64, i))
                .collect();
            let hashes: Vec<Hash> = receipts.iter().map(|r| r.claimed_hash).collect();
            if merkle::root(d.suite(), &hashes) != b.header.receipts_root {
                return Err(ChainError::Config(format!(
                    "block {height}: derived receipts do not match receiptsRoot"
                )));
            }
            for (i, t) in txs.iter().enumerate() {
                d.tx_index.insert(t.claimed_hash, (height, i));
            }
            d.by_hash.insert(b.header.claimed_hash, height);
            d.blocks.push(b);
            d.receipts.push(receipts);
        }
        Ok(d)
    }

    /// Runs transaction `index` of block `number` and returns its receipt.
    /// A deploy (no `to`) and a call to a contract the chain holds run in
    /// the EVM (outputs, status, gas and logs as executed); a call to an
    /// address without code (the workload's `submit(bytes)` convention) has
    /// no code to run, and gets a plain receipt with a `Submitted(bytes)`
    /// log naming the transaction.
    fn receipt_for(&mut self, t: &Transaction, number: i64, index: usize) -> Receipt {
        let suite = self.suite();
        let to = t.to.trim_start_matches("0x").to_ascii_lowercase();
        let from = Address::from(t.claimed_from.unwrap_or_default());
        let target = hex::decode(&to)
            .ok()
            .filter(|b| b.len() == 20)
            .map(|b| Address::from_slice(&b));
        let run = if to.is_empty() {
            Some(self.evm.deploy(from, &t.input, number, index))
        } else {
            target
                .filter(|a| self.evm.has_code(*a))
                .map(|a| self.evm.call(from, a, &t.input, number))
        };
        let mut r = Receipt {
            version: 0,
            gas_used: gas_of(t).to_string(),
            contract_address: String::new(),
            status: 0,
            output: Vec::new(),
            effective_gas_price: String::new(),
            logs: vec![LogEntry {
                address: to,
                topics: vec![suite.hash(b"Submitted(bytes)"), t.claimed_hash],
                data: Vec::new(),
            }],
            block_number: number,
            claimed_hash: [0; 32],
            transaction_hash: t.claimed_hash,
            proof: None,
            tx_proof: None,
            checksum_contract_address: None,
            tx_fields: ReceiptTxFields::default(),
        };
        match run {
            None => {}
            Some(Ok(x)) => {
                if let Some(a) = x.contract
                    && !t.abi.is_empty()
                {
                    self.abis.insert(hex::encode(a), t.abi.clone());
                }
                r.gas_used = x.gas_used.to_string();
                r.contract_address = x.contract.map(hex::encode).unwrap_or_default();
                r.status = x.status;
                r.output = x.output;
                r.logs = x
                    .logs
                    .into_iter()
                    .map(|l| LogEntry {
                        address: hex::encode(l.address),
                        topics: l.topics,
                        data: l.data,
                    })
                    .collect();
            }
            // The EVM refused the transaction itself: a failed receipt.
            Some(Err(_)) => {
                r.status = 10;
                r.logs = Vec::new();
            }
        }
        r.claimed_hash = receipt_hash(suite, &r);
        r
    }

    /// The ABI the deploy transaction of the contract at `address` carried
    /// (`getABI`).
    pub fn abi_of(&self, address: &str) -> Option<&str> {
        let key = address.trim_start_matches("0x").to_ascii_lowercase();
        self.abis.get(&key).map(String::as_str)
    }

    /// The runtime code of the contract at `address` (`getCode`).
    pub fn code_of(&self, address: &str) -> Option<Vec<u8>> {
        let bytes = hex::decode(address.trim_start_matches("0x")).ok()?;
        let a = <[u8; 20]>::try_from(bytes.as_slice()).ok()?;
        self.evm.code(Address::from(a))
    }

    /// A signed transaction from `sender` deploying `code` (creation
    /// bytecode), carrying the contract's JSON `abi` as FISCO BCOS deploy
    /// transactions do.
    pub fn make_deploy(
        &self,
        sender: &NodeKey,
        code: Vec<u8>,
        abi: &str,
        nonce: String,
        import_time: i64,
    ) -> Result<Transaction, ChainError> {
        let mut t = self.make_transaction(sender, "", code, nonce, import_time)?;
        t.abi = abi.to_string();
        let hash = transaction_hash_with_nonce(self.suite(), &t, t.nonce_printed.as_bytes());
        t.claimed_hash = hash;
        t.signature = sender.sign_transaction(&hash)?;
        Ok(t)
    }

    /// The chain's EVM and world state (for tests and tools that read
    /// contract state).
    pub fn evm(&mut self) -> &mut Evm {
        &mut self.evm
    }
}

/// A plausible gas figure: a base cost and 16 per input byte.
fn gas_of(t: &Transaction) -> u64 {
    21_000 + 16 * t.input.len() as u64
}
