//! The distributed mode's block message (`stream::wire`): whatever arrives
//! on the log, compressed or as the JSON inside, decoding returns a message
//! or an error naming what is wrong, never panics; a message that decodes
//! encodes again and decodes to the same block, envelopes and receipts.
//! Seeds: messages of real FISCO BCOS blocks (`examples/seed.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use stream::wire;

fuzz_target!(|data: &[u8]| {
    let _ = wire::decode("sh", data);
    let Ok(m) = wire::decode_json("sh", data) else {
        return;
    };
    let again = wire::encode(
        &m.chain,
        &m.group,
        &m.observer,
        &m.block,
        &m.envelopes,
        m.receipts.as_deref(),
    )
    .expect("a decoded message encodes");
    let back = wire::decode("sh", &again).expect("an encoded message decodes");
    assert_eq!(back.block.header, m.block.header);
    assert_eq!(back.envelopes, m.envelopes);
    assert_eq!(back.receipts, m.receipts);
});
