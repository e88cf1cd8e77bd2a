//! The evidence pack reader and verifier (`evidence`): whatever bytes
//! arrive as a pack, reading returns a pack or an error naming the part,
//! and verifying names the first failing part; never a panic. A pack that
//! reads writes again and reads back to the same body (the seal's bytes).
//! Seeds: the documented vector pack and mutations of it.

#![no_main]

use evidence::pack::Pack;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = evidence::verify::verify_bytes(data, None);
    let Ok(pack) = Pack::read(data) else {
        return;
    };
    let again = pack.to_bytes().expect("a read pack writes");
    let back = Pack::read(&again).expect("a written pack reads");
    assert_eq!(back.canonical_body, pack.canonical_body);
    assert_eq!(back.seal, pack.seal);
});
