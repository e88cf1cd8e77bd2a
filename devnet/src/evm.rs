//! The devnet's EVM: contract bytecode executed by revm, as a FISCO BCOS
//! 3.x node executes it, with real outputs, status, gas and event logs.
//!
//! On a national-standard chain ([`CryptoSuite::Sm`]) FISCO BCOS replaces
//! keccak256 with SM3 everywhere, and so does this EVM:
//! - the `KECCAK256` opcode computes SM3 (so do the storage slots of
//!   mappings, and anything a contract hashes);
//! - functions are selected, and events topped, by SM3 of their canonical
//!   signature. FISCO BCOS compiles contracts for such chains with its own
//!   build of solc that emits SM3 selectors and topics; the devnet compiles
//!   with the official solc and [`translate`]s the selectors and topics of
//!   the contract's ABI in the bytecode instead (each a `PUSH4` or `PUSH32`
//!   of the same length, so no jump moves);
//! - a deployed contract's address is the first 20 bytes of the chain's
//!   hash of `"{block number}_{transaction index}_0"`, as FISCO BCOS 3.x
//!   derives it for a transaction that is not a web3 one (bcos-executor's
//!   `newEVMAddress`).
//!
//! Gas is metered as the EVM meters it (revm's Cancun schedule, the
//! revision FISCO BCOS 3.x runs); no gas is paid for (a consortium chain
//! has no fees).

use std::collections::HashMap;

use chain::CryptoSuite;
use revm::context::result::{ExecResultAndState, ExecutionResult, Output};
use revm::context::{Context, TxEnv};
use revm::database::InMemoryDB;
use revm::handler::{MainBuilder, MainContext, MainnetContext};
use revm::interpreter::interpreter::EthInterpreter;

use revm::interpreter::{Instruction, InstructionContext, InstructionResult};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, TxKind, U256};
use revm::{DatabaseCommit, ExecuteEvm};

/// Gas a transaction may use at most.
pub const GAS_LIMIT: u64 = 30_000_000;

/// Why a transaction could not be executed at all (a revert is not this: it
/// is an outcome, with its status).
#[derive(Debug, thiserror::Error)]
pub enum EvmError {
    /// The transaction is invalid for the EVM (nonce, gas limit, ...).
    #[error("the EVM refused the transaction: {0}")]
    Invalid(String),
    /// A deploy's bytecode cannot be translated for the chain.
    #[error("{0}")]
    Translate(String),
}

/// What a transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// FISCO BCOS's status: 0 success, 16 reverted, 12 out of gas, 10
    /// another halt (`TransactionStatus` in bcos-framework).
    pub status: i32,
    /// The returned (or revert) data.
    pub output: Vec<u8>,
    /// Gas used.
    pub gas_used: u64,
    /// The logs, in order.
    pub logs: Vec<EvmLog>,
    /// A deploy's contract address.
    pub contract: Option<Address>,
}

/// An event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmLog {
    /// The contract that emitted it.
    pub address: Address,
    /// Its topics.
    pub topics: Vec<[u8; 32]>,
    /// Its data.
    pub data: Vec<u8>,
}

/// An EVM's world state. The EVM itself is built for each transaction
/// (revm's is not `Send`; the state is, and the devnet is shared between
/// threads).
pub struct Evm {
    suite: CryptoSuite,
    db: InMemoryDB,
}

impl std::fmt::Debug for Evm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evm")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl Evm {
    /// An empty world for a chain with `suite`'s hash.
    pub fn new(suite: CryptoSuite) -> Self {
        Self {
            suite,
            db: InMemoryDB::default(),
        }
    }

    /// Whether a contract lives at `address`.
    pub fn has_code(&self, address: Address) -> bool {
        use revm::DatabaseRef;
        self.db
            .basic_ref(address)
            .ok()
            .flatten()
            .is_some_and(|a| !a.is_empty_code_hash())
    }

    /// The runtime code of the contract at `address` (none where none
    /// lives).
    pub fn code(&self, address: Address) -> Option<Vec<u8>> {
        use revm::DatabaseRef;
        let info = self.db.basic_ref(address).ok().flatten()?;
        if info.is_empty_code_hash() {
            return None;
        }
        let code = match info.code {
            Some(c) => c,
            None => self.db.code_by_hash_ref(info.code_hash).ok()?,
        };
        Some(code.original_bytes().to_vec())
    }

    /// The address FISCO BCOS 3.x gives a contract deployed by the
    /// transaction at `index` of block `height`.
    pub fn contract_address(&self, height: i64, index: usize) -> Address {
        let h = self.suite.hash(format!("{height}_{index}_0").as_bytes());
        Address::from_slice(&h[..20])
    }

    /// Deploys `init_code` (creation bytecode, constructor arguments
    /// appended) from `from`, as transaction `index` of block `height`.
    pub fn deploy(
        &mut self,
        from: Address,
        init_code: &[u8],
        height: i64,
        index: usize,
    ) -> Result<Executed, EvmError> {
        let address = self.contract_address(height, index);
        let out = self.transact(tx(from, TxKind::Create, init_code)?, height)?;
        let created = match &out.result {
            ExecutionResult::Success {
                output: Output::Create(_, Some(a)),
                ..
            } => Some(*a),
            _ => None,
        };
        // revm places the contract where Ethereum would; it lives where
        // FISCO BCOS puts it.
        let mut state = out.state;
        if let Some(a) = created
            && let Some(account) = state.remove(&a)
        {
            state.insert(address, account);
        }
        self.db.commit(state);
        let mut executed = executed(out.result);
        if created.is_some() {
            executed.contract = Some(address);
            for log in &mut executed.logs {
                if Some(log.address) == created {
                    log.address = address;
                }
            }
        }
        Ok(executed)
    }

    /// Installs a contract at `address` before the first block, as a
    /// chain's genesis holds its system contracts: `init_code` (creation
    /// bytecode) runs its constructor from the zero address and the code it
    /// returns lives at `address`.
    pub fn install(&mut self, address: Address, init_code: &[u8]) -> Result<(), EvmError> {
        let out = self.transact(tx(Address::ZERO, TxKind::Create, init_code)?, 0)?;
        let created = match &out.result {
            ExecutionResult::Success {
                output: Output::Create(_, Some(a)),
                ..
            } => *a,
            other => {
                return Err(EvmError::Invalid(format!(
                    "the constructor did not create the contract: {other:?}"
                )));
            }
        };
        let mut state = out.state;
        if let Some(account) = state.remove(&created) {
            state.insert(address, account);
        }
        self.db.commit(state);
        Ok(())
    }

    /// Calls `to` with `input` from `from`, in block `height`.
    pub fn call(
        &mut self,
        from: Address,
        to: Address,
        input: &[u8],
        height: i64,
    ) -> Result<Executed, EvmError> {
        let out = self.transact(tx(from, TxKind::Call(to), input)?, height)?;
        self.db.commit(out.state);
        Ok(executed(out.result))
    }

    /// Runs `tx` in block `height` against the world state, without
    /// committing what it changed.
    fn transact(
        &mut self,
        tx: TxEnv,
        height: i64,
    ) -> Result<ExecResultAndState<ExecutionResult>, EvmError> {
        let ctx: MainnetContext<&mut InMemoryDB> = Context::mainnet()
            .with_db(&mut self.db)
            .modify_cfg_chained(|c| {
                c.set_spec_and_mainnet_gas_params(SpecId::CANCUN);
                c.disable_nonce_check = true;
                c.chain_id = 1;
            })
            .modify_block_chained(|b| b.number = U256::from(u64::try_from(height).unwrap_or(0)));
        let mut evm = ctx.build_mainnet();
        if self.suite == CryptoSuite::Sm {
            // KECCAK256's static gas (30) stays; the dynamic part is charged
            // by the instruction itself, as revm's does.
            evm.instruction.insert_instruction(
                0x20,
                Instruction::new(sm3_instruction::<MainnetContext<&mut InMemoryDB>>),
                30,
            );
        }
        evm.transact(tx)
            .map_err(|e| EvmError::Invalid(e.to_string()))
    }
}

fn tx(from: Address, kind: TxKind, data: &[u8]) -> Result<TxEnv, EvmError> {
    TxEnv::builder()
        .caller(from)
        .kind(kind)
        .data(Bytes::copy_from_slice(data))
        .gas_limit(GAS_LIMIT)
        .gas_price(0)
        .chain_id(Some(1))
        .build()
        .map_err(|e| EvmError::Invalid(format!("{e:?}")))
}

fn executed(result: ExecutionResult) -> Executed {
    let gas_used = result.tx_gas_used();
    let logs = result
        .logs()
        .iter()
        .map(|l| EvmLog {
            address: l.address,
            topics: l.data.topics().iter().map(|t| t.0).collect(),
            data: l.data.data.to_vec(),
        })
        .collect();
    let (status, output) = match &result {
        ExecutionResult::Success { output, .. } => (0, output.data().to_vec()),
        ExecutionResult::Revert { output, .. } => (16, output.to_vec()),
        ExecutionResult::Halt { reason, .. } => {
            let oog = format!("{reason:?}").contains("OutOfGas");
            (if oog { 12 } else { 10 }, Vec::new())
        }
    };
    Executed {
        status,
        output,
        gas_used,
        logs,
        contract: None,
    }
}

/// `KECCAK256` computing SM3: pops offset and length, charges the
/// instruction's dynamic gas and the memory it touches as revm's own does,
/// pushes the hash.
fn sm3_instruction<H: revm::context_interface::Host + ?Sized>(
    ctx: InstructionContext<'_, H, EthInterpreter>,
) -> Result<(), InstructionResult> {
    let interp = ctx.interpreter;
    let Some([offset, len]) = interp.stack.popn::<2>() else {
        return Err(InstructionResult::StackUnderflow);
    };
    let Ok(len) = usize::try_from(len) else {
        return Err(InstructionResult::InvalidOperandOOG);
    };
    let cost = revm::context_interface::Host::gas_params(ctx.host).keccak256_cost(len);
    if !interp.gas.record_regular_cost(cost) {
        return Err(InstructionResult::OutOfGas);
    }
    let hash = if len == 0 {
        CryptoSuite::Sm.hash(&[])
    } else {
        let Ok(from) = usize::try_from(offset) else {
            return Err(InstructionResult::InvalidOperandOOG);
        };
        revm::interpreter::interpreter::resize_memory(
            &mut interp.gas,
            &mut interp.memory,
            revm::context_interface::Host::gas_params(ctx.host),
            from,
            len,
        )?;
        CryptoSuite::Sm.hash(interp.memory.slice_len(from, len).as_ref())
    };
    if !interp.stack.push(U256::from_be_bytes(hash)) {
        return Err(InstructionResult::StackOverflow);
    }
    Ok(())
}

/// The bytecode `code` (creation or runtime) of a contract whose ABI is
/// `abi_json`, compiled with keccak256 selectors and topics, made for a
/// chain with `suite`'s hash: on [`CryptoSuite::Sm`] each `PUSH4` of a
/// function's keccak256 selector becomes its SM3 selector and each
/// `PUSH32` of an event's keccak256 topic its SM3 topic; on
/// [`CryptoSuite::Standard`] the code is returned as it is. A selector or
/// topic with a leading zero byte (which solc pushes shorter) is refused,
/// naming it: rename the function or event.
pub fn translate(code: &[u8], abi_json: &str, suite: CryptoSuite) -> Result<Vec<u8>, EvmError> {
    if suite == CryptoSuite::Standard {
        return Ok(code.to_vec());
    }
    let parse =
        |s| abi::Contract::parse(abi_json, s).map_err(|e| EvmError::Translate(e.to_string()));
    let (keccak, sm3) = (parse(CryptoSuite::Standard)?, parse(CryptoSuite::Sm)?);
    let mut map: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let pairs = keccak
        .selectors()
        .into_iter()
        .zip(sm3.selectors())
        .chain(keccak.topics().into_iter().zip(sm3.topics()));
    for ((sig, from), (sig2, to)) in pairs {
        debug_assert_eq!(sig, sig2, "both lists are sorted by signature");
        let (from, to) = (unhex(&from), unhex(&to));
        if from.first() == Some(&0) || to.first() == Some(&0) {
            return Err(EvmError::Translate(format!(
                "{sig}: its selector or topic starts with a zero byte, which solc pushes shorter; rename it"
            )));
        }
        map.insert(from, to);
    }
    let mut out = code.to_vec();
    let mut i = 0;
    while i < out.len() {
        let op = out[i];
        if (0x60..=0x7f).contains(&op) {
            let n = usize::from(op - 0x5f);
            let end = (i + 1 + n).min(out.len());
            if (n == 4 || n == 32)
                && let Some(to) = map.get(&out[i + 1..end])
            {
                out[i + 1..end].copy_from_slice(to);
            }
            i = end;
        } else {
            i += 1;
        }
    }
    Ok(out)
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).unwrap_or_default()
}
