// Compiles the devnet's contracts with the official Solidity compiler
// (npm's solc, the version pinned in package.json) and writes one artifact
// per contract to artifacts/: its ABI, creation and runtime bytecode, and
// the compiler and settings used. Rebuild with:
//
//   cd devnet/contracts && npm ci && node build.js
//
// The artifacts are committed: the devnet and the tests use them without
// Node.js. A test compiles the sources again and compares.
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const here = __dirname;
const sources = fs
  .readdirSync(here)
  .filter((f) => f.endsWith(".sol"))
  .sort();
// evmVersion paris: no PUSH0, as FISCO BCOS's EVM (and the devnet's) runs.
const settings = {
  evmVersion: "paris",
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};
const input = {
  language: "Solidity",
  sources: Object.fromEntries(
    sources.map((f) => [f, { content: fs.readFileSync(path.join(here, f), "utf8") }]),
  ),
  settings,
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const dir = process.argv[2] || path.join(here, "artifacts");
fs.mkdirSync(dir, { recursive: true });
for (const file of sources) {
  for (const [name, c] of Object.entries(out.contracts[file])) {
    const artifact = {
      contractName: name,
      source: file,
      compiler: `solc ${solc.version()}`,
      settings: { evmVersion: settings.evmVersion, optimizer: settings.optimizer },
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    };
    fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
  }
}
console.log(`compiled ${sources.join(", ")} with solc ${solc.version()} into ${dir}`);
